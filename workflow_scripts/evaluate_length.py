"""Snakemake adapter: score a trained model on the length split."""

from arithsignal.evaluate import length_job
from arithsignal.io import log_to

sm = snakemake  # noqa: F821 (injected by the script directive)
with log_to(sm.log[0]):
    length_job(sm.params.settings, sm.params.evaluation, sm.wildcards.variant, int(sm.wildcards.seed), sm.input.model, sm.input.length,
               sm.output[0], sm.threads)  # fmt: skip
