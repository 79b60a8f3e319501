"""Snakemake adapter: the length split of the curriculum in one data format."""

from arithsignal.config import parse_format_key
from arithsignal.datasets import write_length
from arithsignal.io import log_to

sm = snakemake  # noqa: F821 (injected by the script directive)
with log_to(sm.log[0]):
    write_length(sm.params.stages, sm.params.length, parse_format_key(sm.wildcards.fmt), sm.params.data, sm.output[0])
