"""Snakemake adapter: results/map_<ablation>.pdf."""

from arithsignal.core.io import log_to
from arithsignal.report.figures.maps import plot_map

sm = snakemake  # noqa: F821 (injected by the script directive)
with log_to(sm.log[0]):
    plot_map(sm.input.table, sm.params.stage_order, sm.wildcards.ablation, sm.output[0])
