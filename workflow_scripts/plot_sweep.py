"""Snakemake adapter: results/sweep_<name>.pdf."""

from arithsignal.core.io import log_to
from arithsignal.report.figures.sweep import plot_sweep

sm = snakemake  # noqa: F821 (injected by the script directive)
with log_to(sm.log[0]):
    plot_sweep(sm.input.table, sm.params.stage_order, sm.wildcards.sweep, sm.output[0])
