"""Snakemake adapter: results/ablation_<name>.pdf."""

from arithsignal.core.io import log_to
from arithsignal.report.figures.ablation import plot_ablation

sm = snakemake  # noqa: F821 (injected by the script directive)
with log_to(sm.log[0]):
    inputs = {"stats": sm.input.stats, **{k: list(sm.input[k]) for k in ("graduations", "windows", "eval")}}
    plot_ablation(inputs, sm.params.ablation, sm.params.canonical, sm.params.stage_order, sm.output[0])
