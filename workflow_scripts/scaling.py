"""Snakemake adapter: results/metrics/scaling_{runs,fit}.parquet and results/scaling.md."""

from arithsignal.analysis.scaling import scaling_job
from arithsignal.core.io import log_to

sm = snakemake  # noqa: F821 (injected by the script directive)
with log_to(sm.log[0]):
    p = sm.params
    data = {"on": list(sm.input.on_data), "off": list(sm.input.off_data)}
    scaling_job(
        sm.input.table,
        list(sm.input.base_graduations),
        data,
        p.points,
        p.bases,
        p.models,
        p.comparisons,
        p.stage_order,
        p.sweep,
        dict(sm.output.items()),
    )
