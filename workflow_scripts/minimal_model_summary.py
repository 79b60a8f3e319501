"""Snakemake adapter: results/minimal_model_summary.md (the three predictions and what was measured)."""

from pathlib import Path

from arithsignal.core.io import log_to, read_parquet
from arithsignal.minimal.summary import minimal_summary_markdown

sm = snakemake  # noqa: F821 (injected by the script directive)
with log_to(sm.log[0]):
    frames = {Path(p).stem: read_parquet(p) for p in sm.input.data}
    text = minimal_summary_markdown(frames)
    Path(sm.output[0]).write_text(text)
    print(text)
