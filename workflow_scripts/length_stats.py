"""Snakemake adapter: results/metrics/length*.parquet (the length split over every run)."""

from arithsignal.analysis.length import length_stats_job
from arithsignal.core.io import log_to

sm = snakemake  # noqa: F821 (injected by the script directive)
with log_to(sm.log[0]):
    length_stats_job(
        list(sm.input.scores),
        sm.params.ablations,
        sm.params.canonical,
        sm.params.solved_at,
        sm.params.alpha,
        dict(sm.output.items()),
    )
