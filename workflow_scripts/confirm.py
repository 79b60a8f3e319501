"""Snakemake adapter: results/metrics/confirmatory.parquet (the primary family, decided)."""

from arithsignal.analysis.confirm import confirm_job
from arithsignal.core.io import log_to

sm = snakemake  # noqa: F821 (injected by the script directive)
with log_to(sm.log[0]):
    confirm_job(
        list(sm.input.graduations),
        sm.params.analysis,
        sm.params.runs,
        sm.output[0],
        list(sm.input.evals),
        sm.params.seeds,
    )
