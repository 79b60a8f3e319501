"""Snakemake adapter: results/scaling.pdf."""

from arithsignal.core.io import log_to
from arithsignal.report.figures.scaling import plot_scaling

sm = snakemake  # noqa: F821 (injected by the script directive)
with log_to(sm.log[0]):
    plot_scaling(sm.input.runs, sm.input.fit, sm.params.stage_order, sm.output[0])
