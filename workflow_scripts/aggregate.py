"""Snakemake adapter: per-run tables -> results/metrics/*.parquet."""

from arithsignal.analysis.outcomes import aggregate_job
from arithsignal.core.io import log_to

sm = snakemake  # noqa: F821 (injected by the script directive)
with log_to(sm.log[0]):
    aggregate_job({k: list(v) for k, v in sm.input.items() if k != "code"}, dict(sm.output.items()))
