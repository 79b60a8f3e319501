"""The relations of the declared hypotheses, registered in relations.py's registry last: the primary family (its
ablations, judged stages and sizes, its threshold hypotheses) and the maps of an effect over size and stage.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..data.formats import COMMUTATIVE, FACTORS
from ..data.splits import mixed_shape
from .comparisons import renders_differ, sizes_only
from .experiment import effective_settings, factors_of
from .relations import duplicates, relation

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
    if ablation["factor"] == "mixed_lengths":  # a stage of every shape trains every shorter one already
        return stage.get("shapes") != "every" and mixed_shape(tuple(stage["digits"])) is not None
    sides = [factors_of(effective_settings(config, ablation[s])) for s in ("on_variant", "off_variant")]
    return renders_differ(stage, *sides)


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
        if sw is not None and (not sizes_only(sw) or not {ab["on_variant"], ab["off_variant"]} <= set(sw["from"])):
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
        elif ab is not None and (not sizes_only(sw) or not {ab["on_variant"], ab["off_variant"]} <= set(sw["from"])):
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
