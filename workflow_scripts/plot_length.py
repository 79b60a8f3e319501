"""Snakemake adapter: results/length_<ablation>.pdf."""

from arithsignal.core.io import log_to
from arithsignal.report.figures.length import plot_length

sm = snakemake  # noqa: F821 (injected by the script directive)
with log_to(sm.log[0]):
    plot_length(list(sm.input.scores), sm.params.ablation, sm.params.canonical, sm.params.solved_at, sm.output[0])
