"""The relations over what the experiment compares, registered in relations.py's registry after the experiment's own
sections': ablations that would train the same data, the sweeps (names, keys, values, points), and the scaling fit.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from ..core.io import stable_hash
from ..data.formats import Factors, render
from .experiment import (
    SWEEPABLE,
    VARIANT_NAME,
    SweepPoint,
    effective_settings,
    factors_of,
    scaling_sweep,
    sweep_points,
)
from .relations import duplicates, relation

# ---------------------------------------------------------------- ablations that train the same data (late)


@relation(
    "ablations_differ",
    "no two ablations compare the same data on both sides (carry mask off is scratchpad off in addition alone)",
    late=True,
)
def _ablations_differ(config: dict) -> Iterator[str]:
    # two such ablations are one comparison counted twice (in the length family, in summary.md's tables)
    ablations = config.get("ablations", [])
    for i, first in enumerate(ablations):
        for second in ablations[i + 1 :]:
            if all(_same_data(config, first[side], second[side]) for side in ("on_variant", "off_variant")):
                pairs = [f"{ab['on_variant']!r} against {ab['off_variant']!r}" for ab in (first, second)]
                same = f"{pairs[0]} and {pairs[1]} train on the same data at every stage of this curriculum"
                yield f"ablations ({first['name']}, {second['name']}): {same}: one comparison counted twice; drop one"


def _same_data(config: dict, first: str, second: str) -> bool:
    """Would two variants train the same run: settings equal but for format factors that write every stage of the
    curriculum the same way (in an addition-only curriculum the scratchpad holds nothing but the carry mask, so
    scratchpad off and carry mask off write the same bytes)?"""
    a, b = effective_settings(config, first), effective_settings(config, second)
    if {k: v for k, v in a.items() if k != "factors"} != {k: v for k, v in b.items() if k != "factors"}:
        return False
    fa, fb = factors_of(a), factors_of(b)
    if (fa.commute, fa.mixed_lengths) != (fb.commute, fb.mixed_lengths):  # these change which problems, not how
        return False
    return fa == fb or not any(renders_differ(st, fa, fb) for st in config["stages"])


def renders_differ(stage: dict, first: Factors, second: Factors) -> bool:
    """Do two formats write a stage's problems differently? Read on the stage's extreme problems and a seeded sample
    of its others."""
    da, db = stage["digits"]
    rng = random.Random(0)
    lo = [0 if d == 1 else 10 ** (d - 1) for d in (da, db)]
    hi = [10**d - 1 for d in (da, db)]
    sample = [(rng.randint(lo[0], hi[0]), rng.randint(lo[1], hi[1])) for _ in range(200)]
    pairs = [(a, b) for a, b in [(hi[0], hi[1]), (lo[0], lo[1]), *sample] if stage["op"] != "sub" or a >= b]
    return any(render(a, stage["op"], b, first) != render(a, stage["op"], b, second) for a, b in pairs)


# ---------------------------------------------------------------- sweeps


def _sweeps(config: dict) -> Iterator[tuple[str, dict]]:
    """Each sweep with where it is in the config."""
    for i, sw in enumerate(config.get("sweeps", [])):
        yield f"sweeps[{i}] ({sw['name']})", sw


@relation("sweep_names_unique", "sweep names are unique")
def _sweep_names_unique(config: dict) -> Iterator[str]:
    names = [sw["name"] for sw in config.get("sweeps", [])]
    if duplicates(names):
        yield f"sweeps: duplicate sweep names in {names}"


@relation("sweep_base_known", "a sweep's `from` lists variants of the config")
def _sweep_base_known(config: dict) -> Iterator[str]:
    names = {v["name"] for v in config["variants"]}
    for where, sw in _sweeps(config):
        for base in sw["from"]:
            if base not in names:
                yield f"{where}.from: unknown variant {base!r}; expected one of {sorted(names)}"


def _sweepable(config: dict, key: str) -> bool:
    """Is a grid key SECTION.KEY or SECTION.KEY.SUBKEY of a sweepable section, and does the config have that key (its
    value may be null)?"""
    section, *path = key.split(".")
    if section not in SWEEPABLE or not 1 <= len(path) <= 2:
        return False
    node = config.get(section)
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


@relation(
    "sweep_key_known",
    "a sweep's grid keys are SECTION.KEY or SECTION.KEY.SUBKEY of model, optim, curriculum or graduation",
)
def _sweep_key_known(config: dict) -> Iterator[str]:
    known = [f"{s}.{k}" for s in SWEEPABLE for k in config.get(s, {})]
    for where, sw in _sweeps(config):
        for key in sw["grid"]:
            if not _sweepable(config, key):
                yield f"{where}.grid: unknown key {key!r}; expected SECTION.KEY or SECTION.KEY.SUBKEY, one of {known}"


@relation("sweep_value_valid", "every value a sweep sets passes the schema of its key", with_schema=True)
def _sweep_value_valid(config: dict, schema: dict) -> Iterator[str]:
    import jsonschema  # the Snakemake host's alone (tests/test_envs.py: HOST_ONLY)

    for where, sw in _sweeps(config):
        for key, values in sw["grid"].items():
            if not _sweepable(config, key):
                continue  # sweep_key_known's
            section, *path = key.split(".")
            key_schema = schema["$defs"][section]
            for part in path:
                key_schema = key_schema["properties"][part]
            for v in values:
                try:
                    jsonschema.validate(v, key_schema)
                except jsonschema.ValidationError as e:
                    yield f"{where}.grid[{key!r}]: value {v!r} is invalid: {e.message}"


def _taken(config: dict, point: SweepPoint) -> bool:
    """Is a sweep point's name already a variant of the config with other settings?"""
    same_name = [v for v in config["variants"] if v["name"] == point.name]
    return bool(same_name) and same_name[0] != point.variant


@relation("sweep_name_characters", "a sweep point's generated name has only the characters a variant name may have")
def _sweep_name_characters(config: dict) -> Iterator[str]:
    for p in sweep_points(config):
        if not VARIANT_NAME.match(p.name):
            yield f"sweeps ({p.sweep}): generated variant name {p.name!r} has characters outside [A-Za-z0-9_.-]"


@relation("sweep_name_taken", "a sweep point's generated name is not already a different variant of the config")
def _sweep_name_taken(config: dict) -> Iterator[str]:
    for p in sweep_points(config):
        if VARIANT_NAME.match(p.name) and _taken(config, p):
            yield f"sweeps ({p.sweep}): generated variant name {p.name!r} is already a variant of the config"


@relation("sweep_points_agree", "two sweeps that generate the same name generate the same settings")
def _sweep_points_agree(config: dict) -> Iterator[str]:
    generated: dict[str, dict] = {}  # name -> the first point's variant
    for p in sweep_points(config):
        if not VARIANT_NAME.match(p.name) or _taken(config, p):
            continue  # sweep_name_characters' or sweep_name_taken's
        if generated.setdefault(p.name, p.variant) != p.variant:
            yield f"sweeps ({p.sweep}): two sweeps generate {p.name!r} with different settings"


# ---------------------------------------------------------------- the scaling fit


def sizes_only(sweep: dict) -> bool:
    """Does a sweep vary model keys only (the sizes)?"""
    return all(k.startswith("model.") for k in sweep["grid"])


@relation("scaling_sweep_known", "`scaling.sweep` names a sweep")
def _scaling_sweep_known(config: dict) -> Iterator[str]:
    name = config.get("scaling", {}).get("sweep")
    if name is not None and scaling_sweep(config) is None:
        sweeps = [sw["name"] for sw in config.get("sweeps", [])]
        yield f"scaling.sweep: unknown sweep {name!r}; expected one of {sweeps}"


@relation("scaling_sweep_model_keys", "the scaling sweep varies model keys only")
def _scaling_sweep_model_keys(config: dict) -> Iterator[str]:
    sweep = scaling_sweep(config)
    if sweep is not None and not sizes_only(sweep):
        keys = sorted(sweep["grid"])
        yield f"scaling.sweep ({sweep['name']}): its grid keys must all be model keys (the sizes), got {keys}"


@relation(
    "scaling_sweep_two_sizes",
    "the scaling sweep's points and the variants it starts from have at least two model sizes",
)
def _scaling_sweep_two_sizes(config: dict) -> Iterator[str]:
    sweep = scaling_sweep(config)
    if sweep is None or not sizes_only(sweep) or not set(sweep["from"]) <= {v["name"] for v in config["variants"]}:
        return  # scaling_sweep_known's, scaling_sweep_model_keys' or sweep_base_known's
    names = list(sweep["from"]) + [p.name for p in sweep_points(config) if p.sweep == sweep["name"]]
    if len({stable_hash(effective_settings(config, n)["model"]) for n in names}) < 2:
        one = "its points and the variants it starts from have one"
        yield f"scaling.sweep ({sweep['name']}): a fit needs at least two model sizes; {one}"
