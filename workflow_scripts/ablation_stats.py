"""Snakemake adapter: results/metrics/ablation_<name>.parquet (ratio of steps to graduation per stage)."""

from arithsignal.analysis.outcomes import ablation_stats_job
from arithsignal.core.io import log_to

sm = snakemake  # noqa: F821 (injected by the script directive)
with log_to(sm.log[0]):
    inputs = {k: list(sm.input[k]) for k in ("graduations", "windows", "eval", "on_data", "off_data")}
    ablation_stats_job(inputs, sm.params.ablation, sm.params.canonical, sm.params.stage_order, sm.output[0])
