"""Snakemake adapter: results/metrics/sweep_<name>.parquet and results/sweep_<name>.md."""

from arithsignal.analysis.sweeps import sweep_stats_job
from arithsignal.core.io import log_to

sm = snakemake  # noqa: F821 (injected by the script directive)
with log_to(sm.log[0]):
    inputs = {k: list(sm.input[k]) for k in ("graduations", "windows", "train_log")}
    sweep_stats_job(inputs, sm.wildcards.sweep, sm.params.points, sm.params.stage_order, dict(sm.output.items()))
