"""Snakemake adapter: one experiment of the minimal SNR model -> Parquet."""

from arithsignal import numerics

numerics.pin()  # before torch is imported: the numeric paths are fixed then (ARITHSIGNAL_NUMERICS)

from arithsignal.io import log_to  # noqa: E402
from arithsignal.minimal import minimal_job  # noqa: E402

sm = snakemake  # noqa: F821 (injected by the script directive)
with log_to(sm.log[0]):
    minimal_job(sm.wildcards.experiment, sm.params.settings, sm.output[0])
