"""Snakemake adapter: results/failures.pdf."""

from arithsignal.core.io import log_to
from arithsignal.report.figures.failures import plot_failures

sm = snakemake  # noqa: F821 (injected by the script directive)
with log_to(sm.log[0]):
    plot_failures(list(sm.input.eval), sm.output[0])
