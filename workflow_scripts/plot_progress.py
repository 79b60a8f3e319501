"""Snakemake adapter: results/progress_<variant>.pdf."""

from arithsignal.core.io import log_to
from arithsignal.report.figures.progress import plot_progress

sm = snakemake  # noqa: F821 (injected by the script directive)
with log_to(sm.log[0]):
    paths = [list(sm.input[k]) for k in ("logs", "windows", "graduations")]
    plot_progress(*paths, sm.wildcards.variant, sm.output[0])
