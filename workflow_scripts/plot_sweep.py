"""Snakemake adapter: results/sweep_<name>.pdf."""

from arithsignal.io import log_to
from arithsignal.plots import sweep_job

sm = snakemake  # noqa: F821 (injected by the script directive)
with log_to(sm.log[0]):
    sweep_job(sm.input.table, sm.params.stage_order, sm.wildcards.sweep, sm.output[0])
