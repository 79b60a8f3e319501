"""Snakemake adapter: one experiment of the minimal SNR model -> Parquet."""

from arithsignal.io import log_to
from arithsignal.minimal import minimal_job

sm = snakemake  # noqa: F821 (injected by the script directive)
with log_to(sm.log[0]):
    minimal_job(sm.wildcards.experiment, sm.params.settings, sm.output[0])
