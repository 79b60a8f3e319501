"""Snakemake adapter: one experiment of the minimal SNR model -> Parquet."""

from arithsignal.core import numerics

numerics.pin()  # before torch is imported: the numeric paths are fixed then (ARITHSIGNAL_NUMERICS)

from arithsignal.core.io import log_to  # noqa: E402
from arithsignal.minimal.experiments import minimal_job  # noqa: E402

sm = snakemake  # noqa: F821 (injected by the script directive)
with log_to(sm.log[0]):
    minimal_job(sm.wildcards.experiment, sm.params.settings, sm.output[0])
