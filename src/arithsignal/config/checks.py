"""The config checks beyond the JSON schema: ``check`` runs every relation a schema cannot see (unique names,
references between sections, budgets against windows) and refuses the config naming the key and the relation of
each problem. The relations are checkers in a registry (relations.py, which holds those of the experiment's own
sections); those over what the experiment compares (its ablations' data, the sweeps, the scaling fit, the primary
family) are registered here. RELATIONS, the list docs/CONFIG.md gives, is read off the registry.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from ..core.io import stable_hash
from ..data.formats import COMMUTATIVE, FACTORS, Factors, render
from ..data.splits import mixed_shape
from .experiment import (
    SWEEPABLE,
    VARIANT_NAME,
    ConfigError,
    SweepPoint,
    effective_settings,
    factors_of,
    scaling_sweep,
    sweep_points,
)
from .relations import REGISTRY, duplicates, relation


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
    return fa == fb or not any(_renders_differ(st, fa, fb) for st in config["stages"])


def _renders_differ(stage: dict, first: Factors, second: Factors) -> bool:
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


def _sizes_only(sweep: dict) -> bool:
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
    if sweep is not None and not _sizes_only(sweep):
        keys = sorted(sweep["grid"])
        yield f"scaling.sweep ({sweep['name']}): its grid keys must all be model keys (the sizes), got {keys}"


@relation(
    "scaling_sweep_two_sizes",
    "the scaling sweep's points and the variants it starts from have at least two model sizes",
)
def _scaling_sweep_two_sizes(config: dict) -> Iterator[str]:
    sweep = scaling_sweep(config)
    if sweep is None or not _sizes_only(sweep) or not set(sweep["from"]) <= {v["name"] for v in config["variants"]}:
        return  # scaling_sweep_known's, scaling_sweep_model_keys' or sweep_base_known's
    names = list(sweep["from"]) + [p.name for p in sweep_points(config) if p.sweep == sweep["name"]]
    if len({stable_hash(effective_settings(config, n)["model"]) for n in names}) < 2:
        one = "its points and the variants it starts from have one"
        yield f"scaling.sweep ({sweep['name']}): a fit needs at least two model sizes; {one}"


# ---------------------------------------------------------------- the primary family


def _family(config: dict) -> Iterator[tuple[str, dict]]:
    """Each ablation entry of the family with where it is in the config."""
    for i, h in enumerate(config.get("analysis", {}).get("family", [])):
        if "threshold" not in h:
            yield f"analysis.family[{i}] ({h['ablation']})", h


def _thresholds(config: dict) -> Iterator[tuple[str, dict]]:
    """Each threshold entry of the family with where it is in the config."""
    for i, h in enumerate(config.get("analysis", {}).get("family", [])):
        if "threshold" in h:
            yield f"analysis.family[{i}] ({h['name']})", h


def _judged(config: dict) -> Iterator[tuple[str, dict, dict]]:
    """The family entries whose ablation is of the config and has both its variants (an unknown variant is reported
    with the ablation), each with where it is and its ablation."""
    ablations = {a["name"]: a for a in config.get("ablations", [])}
    names = {v["name"] for v in config["variants"]}
    for where, h in _family(config):
        ab = ablations.get(h["ablation"])
        if ab is not None and {ab["on_variant"], ab["off_variant"]} <= names:
            yield where, h, ab


@relation("analysis_ablation_known", "a family entry's `ablation` is an ablation of the config")
def _analysis_ablation_known(config: dict) -> Iterator[str]:
    ablations = sorted({a["name"] for a in config.get("ablations", [])})
    for where, h in _family(config):
        if h["ablation"] not in ablations:
            yield f"{where}.ablation: unknown ablation {h['ablation']!r}; expected one of {ablations}"


@relation("analysis_ablation_once", "an ablation has at most one family entry")
def _analysis_ablation_once(config: dict) -> Iterator[str]:
    listed = [h["ablation"] for _, h in _family(config)]
    for i, (where, h) in enumerate(_family(config)):
        if h["ablation"] in listed[:i]:
            yield f"{where}: the ablation is declared twice; one entry per ablation"


@relation("analysis_stage_known", "a family entry's stages are stages of the curriculum")
def _analysis_stage_known(config: dict) -> Iterator[str]:
    stages = list({s["name"]: s for s in config["stages"]})
    for where, h, _ in _judged(config):
        for st in h["stages"]:
            if st not in stages:
                yield f"{where}.stages: unknown stage {st!r}; expected one of {stages}"


@relation(
    "analysis_stage_differs",
    "at every stage a family entry is judged on, its two sides train on different data",
)
def _analysis_stage_differs(config: dict) -> Iterator[str]:
    stages = {s["name"]: s for s in config["stages"]}
    for where, h, ab in _judged(config):
        for st in h["stages"]:
            if st in stages and ab["factor"] in FACTORS and not _stage_data_differ(config, ab, stages[st]):
                why = f"the two sides train on the same data ({ab['factor']} changes nothing there)"
                yield f"{where}.stages: at stage {st!r} {why}: a hypothesis about it cannot be judged there"


def _stage_data_differ(config: dict, ablation: dict, stage: dict) -> bool:
    """Do the two sides of a format-factor ablation train on different data at a stage? commute adds the swapped
    problems (of a commutative operation), mixed_lengths problems of a shorter shape (there is none below 1x1); the
    other factors write the same problems differently: read on the stage's extreme problems and a seeded sample of
    its others (what the data job would write, without writing it)."""
    if ablation["factor"] == "commute":
        return stage["op"] in COMMUTATIVE
    if ablation["factor"] == "mixed_lengths":
        return mixed_shape(tuple(stage["digits"])) is not None
    sides = [factors_of(effective_settings(config, ablation[s])) for s in ("on_variant", "off_variant")]
    return _renders_differ(stage, *sides)


@relation("analysis_stage_once", "a family entry lists each stage once")
def _analysis_stage_once(config: dict) -> Iterator[str]:
    for where, h, _ in _judged(config):
        if duplicates(h["stages"]):
            yield f"{where}.stages: a stage is listed twice"


@relation("analysis_sizes_known", "a family entry's `sizes` names a sweep")
def _analysis_sizes_known(config: dict) -> Iterator[str]:
    sweeps = sorted({sw["name"] for sw in config.get("sweeps", [])})
    for where, h, _ in _judged(config):
        if "sizes" in h and h["sizes"] not in sweeps:
            yield f"{where}.sizes: unknown sweep {h['sizes']!r}; expected one of {sweeps}"


@relation("analysis_sizes_sweep", "that sweep varies model keys only and starts from both of the ablation's variants")
def _analysis_sizes_sweep(config: dict) -> Iterator[str]:
    sweeps = {sw["name"]: sw for sw in config.get("sweeps", [])}
    for where, h, ab in _judged(config):
        sw = sweeps.get(h.get("sizes"))
        if sw is not None and (not _sizes_only(sw) or not {ab["on_variant"], ab["off_variant"]} <= set(sw["from"])):
            both = f"{ab['on_variant']!r} and {ab['off_variant']!r}"
            yield f"{where}.sizes: sweep {h['sizes']!r} must vary model keys only and start from both {both}"


def _maps(config: dict) -> Iterator[tuple[str, dict]]:
    """Each map (config ``maps``) with where it is in the config."""
    for i, m in enumerate(config.get("maps", [])):
        yield f"maps[{i}] ({m['ablation']})", m


@relation("map_ablation_known", "a map's `ablation` is an ablation of the config, mapped once")
def _map_ablation_known(config: dict) -> Iterator[str]:
    ablations, seen = sorted({a["name"] for a in config.get("ablations", [])}), set()
    for where, m in _maps(config):
        if m["ablation"] not in ablations:
            yield f"{where}.ablation: unknown ablation {m['ablation']!r}; expected one of {ablations}"
        elif m["ablation"] in seen:
            yield f"{where}: the ablation is mapped twice; one map per ablation"
        seen.add(m["ablation"])


@relation("map_sizes_sweep", "a map's `sizes` names a sweep of model keys only that starts from both of its variants")
def _map_sizes_sweep(config: dict) -> Iterator[str]:
    sweeps = {sw["name"]: sw for sw in config.get("sweeps", [])}
    names = {v["name"] for v in config["variants"]}  # an ablation with an unknown variant is reported with it
    ablations = {a["name"]: a for a in config.get("ablations", []) if {a["on_variant"], a["off_variant"]} <= names}
    for where, m in _maps(config):
        sw, ab = sweeps.get(m["sizes"]), ablations.get(m["ablation"])
        if sw is None:
            yield f"{where}.sizes: unknown sweep {m['sizes']!r}; expected one of {sorted(sweeps)}"
        elif ab is not None and (not _sizes_only(sw) or not {ab["on_variant"], ab["off_variant"]} <= set(sw["from"])):
            both = f"{ab['on_variant']!r} and {ab['off_variant']!r}"
            yield f"{where}.sizes: sweep {m['sizes']!r} must vary model keys only and start from both {both}"


@relation("threshold_entry_alone", "a threshold entry has none of an ablation entry's keys")
def _threshold_entry_alone(config: dict) -> Iterator[str]:
    for where, h in _thresholds(config):
        for k in ("ablation", "smallest_effect", "claimed", "sizes"):
            if k in h:
                yield f"{where}.{k}: a threshold entry has no {k} (an ablation's hypothesis is an entry of its own)"


@relation("ablation_entry_alone", "an ablation entry has none of a threshold entry's keys")
def _ablation_entry_alone(config: dict) -> Iterator[str]:
    for where, h in _family(config):
        for k in ("name", "variant", "measure"):
            if k in h:
                yield f"{where}.{k}: an ablation entry has no {k} (a threshold hypothesis is an entry of its own)"


@relation("threshold_name_unique", "a threshold entry's name is no ablation's and no other entry's")
def _threshold_name_unique(config: dict) -> Iterator[str]:
    taken = [a["name"] for a in config.get("ablations", [])]
    for where, h in _thresholds(config):
        if h["name"] in taken:
            yield f"{where}.name: {h['name']!r} already names an ablation or another entry of the family"
        taken.append(h["name"])


@relation("threshold_variant_known", "a threshold entry's `variant` is a variant of the config")
def _threshold_variant_known(config: dict) -> Iterator[str]:
    names = [v["name"] for v in config["variants"]]
    for where, h in _thresholds(config):
        if h["variant"] not in names:
            yield f"{where}.variant: unknown variant {h['variant']!r}; expected one of {names}"


@relation("threshold_stage_known", "a threshold entry lists stages of the curriculum, each once")
def _threshold_stage_known(config: dict) -> Iterator[str]:
    stages = [s["name"] for s in config["stages"]]
    for where, h in _thresholds(config):
        for st in h["stages"]:
            if st not in stages:
                yield f"{where}.stages: unknown stage {st!r}; expected one of {stages}"
        if duplicates(h["stages"]):
            yield f"{where}.stages: a stage is listed twice"


@relation("threshold_held_out", "a threshold on b×a (commute_exact_match) reads held-out problems: the variant does "
          "not train on b×a, and each stage's operation is commutative")  # fmt: skip
def _threshold_held_out(config: dict) -> Iterator[str]:
    stages = {s["name"]: s for s in config["stages"]}
    variants = [v["name"] for v in config["variants"]]
    for where, h in _thresholds(config):
        if h["measure"] != "commute_exact_match" or h["variant"] not in variants:
            continue
        if factors_of(effective_settings(config, h["variant"])).commute:
            yield f"{where}.variant: {h['variant']!r} trains on b×a (commute on): its b×a problems are not held out"
        for st in h["stages"]:
            if st in stages and stages[st]["op"] not in COMMUTATIVE:
                yield (
                    f"{where}.stages: stage {st!r} ({stages[st]['op']}) has no b×a problems: its operation "
                    "is not commutative"
                )


# name -> text of every relation check enforces, in the registry's order (docs/CONFIG.md lists them; each has a
# refusal case of its own in tests/test_config.py)
RELATIONS = {r.name: r.text for r in REGISTRY}
