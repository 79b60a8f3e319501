"""Snakemake adapter: results/summary.md and results/metrics/ablation_stats.parquet."""

from arithsignal.core.io import log_to
from arithsignal.report.summary import summary_job

sm = snakemake  # noqa: F821 (injected by the script directive)
with log_to(sm.log[0]):
    inputs = {k: list(sm.input[k]) for k in ("stats", "eval", "graduations", "train_log", "windows")}
    has_length = "length_runs" in sm.input.keys()
    length = {t: sm.input[f"length_{t}"] for t in ("scores", "runs", "ablations")} if has_length else None
    summary_job(
        inputs,
        sm.params.meta,
        dict(sm.output.items()),
        sm.input.get("scaling"),
        sm.input.get("confirmatory"),
        length,
        sm.input.get("attempts"),
        list(sm.input.get("maps", [])),
    )
