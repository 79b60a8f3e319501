"""Snakemake adapter: results/<preset>/config.yaml, the merged config of the preset whose folder it is."""

from pathlib import Path

import yaml

from arithsignal.core.io import log_to

sm = snakemake  # noqa: F821 (injected by the script directive)
with log_to(sm.log[0]):
    head = f"# the merged config of preset {sm.params.preset!r} (config.yaml and its --configfile)\n"
    Path(sm.output[0]).write_text(head + yaml.safe_dump(sm.params.config, sort_keys=False))
