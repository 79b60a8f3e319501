"""Snakemake adapter: results/metrics/scaling_{runs,fit,compare}.parquet and results/scaling.md."""

from arithsignal.io import log_to
from arithsignal.scaling import scaling_job

sm = snakemake  # noqa: F821 (injected by the script directive)
with log_to(sm.log[0]):
    p = sm.params
    scaling_job(sm.input.table, p.points, p.models, p.comparisons, p.stage_order, p.sweep, dict(sm.output.items()))
