"""The config checks beyond the JSON schema: ``check`` runs every relation a schema cannot see (unique names,
references between sections, budgets against windows) and refuses the config naming the key and the relation of
each problem. The relations are checkers in a registry (relations.py, which holds those of the experiment's own
sections), then comparisons.py's (its ablations' data, the sweeps, the scaling fit) and hypotheses.py's (the primary
family and the maps), registered in that order when this module imports them. RELATIONS, the list docs/CONFIG.md
gives, is read off the registry.
"""

from __future__ import annotations

from . import comparisons, hypotheses  # noqa: F401  (registers their relations, in this order)
from .experiment import ConfigError
from .relations import REGISTRY


def check(config: dict, schema: dict | None = None) -> None:
    """Raise ConfigError naming the key and the relation for every problem the schema cannot see.

    With ``schema`` (the config's JSON schema), every value a sweep sets is also checked
    against the schema of its key, so a bad grid value is refused naming the sweep.
    """
    # the late relations resolve every variant (sweep points too), which only a config the others pass allows
    for late in (False, True):
        problems = [p for r in REGISTRY if r.late == late for p in r.problems(config, schema)]
        if problems:
            raise ConfigError(problems)


# name -> text of every relation check enforces, in the registry's order (docs/CONFIG.md lists them; each has a
# refusal case of its own in tests/test_config.py)
RELATIONS = {r.name: r.text for r in REGISTRY}
