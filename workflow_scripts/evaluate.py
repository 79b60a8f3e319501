"""Snakemake adapter: score a trained model on the test and commutation splits."""

from arithsignal.core import numerics

numerics.pin()  # before torch is imported: the numeric paths are fixed then (ARITHSIGNAL_NUMERICS)

from arithsignal.core.io import log_to  # noqa: E402
from arithsignal.evaluate.held_out import evaluate_job  # noqa: E402

sm = snakemake  # noqa: F821 (injected by the script directive)
with log_to(sm.log[0]):
    inputs = {
        "model": sm.input.model,
        "stage_models": sm.input.stage_models,
        **{k: list(sm.input[k]) for k in ("test", "commute")},
    }
    evaluate_job(
        sm.params.settings,
        sm.params.evaluation,
        sm.params.variant,
        int(sm.wildcards.seed),
        inputs,
        sm.output[0],
        sm.threads,
    )
