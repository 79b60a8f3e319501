"""Snakemake adapter: results/metrics/map_<ablation>.parquet."""

from arithsignal.analysis.maps import map_job
from arithsignal.core.io import log_to

sm = snakemake  # noqa: F821 (injected by the script directive)
with log_to(sm.log[0]):
    p = sm.params
    map_job(
        list(sm.input.graduations),
        list(sm.input.evals),
        p.entry,
        p.runs,
        p.stages,
        list(sm.input.on_data),
        list(sm.input.off_data),
        p.seeds,
        sm.output[0],
    )
