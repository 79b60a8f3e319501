"""Snakemake adapter: results/progress_<variant>.pdf."""

from arithsignal.core.io import log_to
from arithsignal.report.plots import plot_progress

sm = snakemake  # noqa: F821 (injected by the script directive)
with log_to(sm.log[0]):
    plot_progress(list(sm.input.logs), list(sm.input.windows), list(sm.input.graduations), sm.wildcards.variant, sm.output[0])
