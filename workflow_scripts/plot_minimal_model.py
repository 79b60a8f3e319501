"""Snakemake adapter: results/minimal_model_<experiment>.pdf."""

from arithsignal.core.io import log_to
from arithsignal.report.figures.minimal import plot_minimal

sm = snakemake  # noqa: F821 (injected by the script directive)
with log_to(sm.log[0]):
    plot_minimal(sm.wildcards.experiment, sm.input.data, sm.output[0])
