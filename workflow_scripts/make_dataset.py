"""Snakemake adapter: one stage of one data format -> Parquet splits."""

from arithsignal.core.io import log_to
from arithsignal.data.splits import write_stage

with log_to(snakemake.log[0]):  # noqa: F821 (snakemake is injected by the script directive)
    p = snakemake.params  # noqa: F821
    write_stage(p.stage, p.factors, p.data, dict(snakemake.output.items()))  # noqa: F821
