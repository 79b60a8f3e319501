"""Snakemake adapter: the length split of the curriculum in one data format."""

from arithsignal.core.io import log_to
from arithsignal.data.formats import parse_format_key
from arithsignal.data.splits import write_length

sm = snakemake  # noqa: F821 (injected by the script directive)
with log_to(sm.log[0]):
    write_length(sm.params.stages, sm.params.length, parse_format_key(sm.wildcards.fmt), sm.params.data, sm.output[0])
