"""Snakemake adapter: train one (variant, seed) through the curriculum."""

from pathlib import Path

from arithsignal.core import numerics

numerics.pin()  # before torch is imported: the numeric paths are fixed then (ARITHSIGNAL_NUMERICS)

from arithsignal.core.io import log_to  # noqa: E402
from arithsignal.train.loop import train_job  # noqa: E402

sm = snakemake  # noqa: F821 (injected by the script directive)
with log_to(sm.log[0]):
    inputs = {split: list(sm.input[split]) for split in ("train", "train_pool", "unseen_pool")}
    outputs = dict(sm.output.items())
    every = int(sm.resources.checkpoint_every)  # an execution setting (config execution:, or a profile's set-resources)
    train_job(
        sm.params.settings,
        sm.params.variant,
        int(sm.wildcards.seed),
        inputs,
        outputs,
        sm.threads,
        every,
        Path(sm.params.tensorboard),
    )
