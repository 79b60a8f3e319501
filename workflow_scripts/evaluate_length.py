"""Snakemake adapter: score a trained model on the length split."""

from arithsignal.core import numerics

numerics.pin()  # before torch is imported: the numeric paths are fixed then (ARITHSIGNAL_NUMERICS)

from arithsignal.core.io import log_to  # noqa: E402
from arithsignal.evaluate.held_out import length_job  # noqa: E402

sm = snakemake  # noqa: F821 (injected by the script directive)
with log_to(sm.log[0]):
    length_job(sm.params.settings, sm.params.evaluation, sm.params.variant, int(sm.wildcards.seed), sm.input.model,
               sm.input.length, sm.output[0], sm.threads)  # fmt: skip
