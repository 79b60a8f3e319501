"""Snakemake adapter: train one (variant, seed) through the curriculum."""

from pathlib import Path

from arithsignal.io import log_to
from arithsignal.train import train_job

sm = snakemake  # noqa: F821 (injected by the script directive)
resuming = Path(sm.output.model).with_name("checkpoint.pt").exists()
with log_to(sm.log[0], append=resuming):  # a run that resumes continues the log of the attempt it resumes
    inputs = {split: list(sm.input[split]) for split in ("train", "valid", "test")}
    train_job(sm.params.settings, sm.wildcards.variant, int(sm.wildcards.seed), inputs, dict(sm.output.items()), sm.threads)
