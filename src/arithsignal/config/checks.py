"""The config checks beyond the JSON schema: every relation a schema cannot see (unique names, references
between sections, budgets against windows), each refused naming the key and the relation (RELATIONS).
"""

from __future__ import annotations

from ..core.io import stable_hash
from ..data.formats import FACTORS, Factors, longest_line
from .experiment import (
    NULLABLE_SETTINGS,
    SWEEPABLE,
    VARIANT_NAME,
    ConfigError,
    ablated_value,
    all_variants,
    effective_settings,
    factors_of,
    scaling_sweep,
    sweep_points,
)

# What config.check enforces beyond the schema, one entry per relation (docs/CONFIG.md lists them; every one has a
# refusal test of its own, tests/test_config.py)
RELATIONS = {
    "stage_digits_order": "a stage's `digits` give the longer operand first",
    "stage_names_unique": "stage names are unique",
    "variant_names_unique": "variant names are unique",
    "pool_within_train": "`data.pool_size` is at most `data.train_size` (the train pool samples the training problems)",
    "seeds_unique": "seeds are unique",
    "ablation_variant_known": "an ablation's `on_variant` and `off_variant` are variants of the config",
    "ablation_factor_direction": "a format-factor ablation's on variant has the factor true, its off variant false",
    "ablation_clip_direction": "an `optim.grad_clip` ablation's on variant clips at a norm, its off variant has null",
    "ablation_optimiser_direction": "an `optim.name` ablation's on variant is snr_gated, its off variant adamw",
    "ablation_vectors_differ": "an `optim.vectors` ablation's two variants set the vectors differently",
    "ablation_names_unique": "ablation names are unique",
    "progress_on_log_grid": "`train.progress_every` is a multiple of `train.log_every`",
    "minimal_snr_within_steps": "`minimal_model.snr_every` is at most `minimal_model.steps`",
    "budget_holds_a_graduation": "every variant's `curriculum.stage_budget` holds one graduation run (`windows` x `window_every`)",
    "microbatches_divide_batch": "every variant's `train.snr_microbatches` divides its `optim.batch_size`",
    "heads_divide_width": "every variant's `model.n_head` divides its `model.d_model`",
    "block_holds_longest_line": "every variant's `model.block_size` holds the longest line any stage renders in its format",
    "length_op_trained": "every operation of `length.max_digits` is an operation of the curriculum",
    "length_covers_trained": "`length.max_digits` of an operation is at least the most digits any stage of it trains",
    "block_holds_length_line": "every variant's `model.block_size` holds the longest line of the length split in its format",
    "ablations_differ": "no two ablations compare the same data on both sides (carry mask off is scratchpad off in addition alone)",
    "sweep_names_unique": "sweep names are unique",
    "sweep_base_known": "a sweep's `from` lists variants of the config",
    "sweep_key_known": "a sweep's grid keys are SECTION.KEY or SECTION.KEY.SUBKEY of model, optim, curriculum or graduation",
    "sweep_value_valid": "every value a sweep sets passes the schema of its key",
    "sweep_name_characters": "a sweep point's generated name has only the characters a variant name may have",
    "sweep_name_taken": "a sweep point's generated name is not already a different variant of the config",
    "sweep_points_agree": "two sweeps that generate the same name generate the same settings",
    "scaling_sweep_known": "`scaling.sweep` names a sweep",
    "scaling_sweep_model_keys": "the scaling sweep varies model keys only",
    "scaling_sweep_two_sizes": "the scaling sweep's points and the variants it starts from have at least two model sizes",
    "analysis_ablation_known": "a family entry's `ablation` is an ablation of the config",
    "analysis_ablation_once": "an ablation has at most one family entry",
    "analysis_stage_known": "a family entry's stages are stages of the curriculum",
    "analysis_stage_differs": "at every stage a family entry is judged on, its two sides train on different data",
    "analysis_stage_once": "a family entry lists each stage once",
    "analysis_sizes_known": "a family entry's `sizes` names a sweep",
    "analysis_sizes_sweep": "that sweep varies model keys only and starts from both of the ablation's variants",
}


def check(config: dict, schema: dict | None = None) -> None:
    """Raise ConfigError naming the key for every problem the schema cannot see.

    With ``schema`` (the config's JSON schema), every value a sweep sets is also checked
    against the schema of its key, so a bad grid value is refused naming the sweep.
    """
    errors: list[tuple[str, str]] = []  # (relation, message)
    stage_names = [s["name"] for s in config["stages"]]
    for i, s in enumerate(config["stages"]):
        da, db = s["digits"]
        if da < db:
            errors.append(
                (
                    "stage_digits_order",
                    f"stages[{i}] ({s['name']}).digits: expected the longer operand first, got {[da, db]} (write [{db}, {da}])",
                )
            )
    dup = {n for n in stage_names if stage_names.count(n) > 1}
    if dup:
        errors.append(("stage_names_unique", f"stages: duplicate stage names {sorted(dup)}; each stage needs a unique name"))
    names = [v["name"] for v in config["variants"]]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        errors.append(("variant_names_unique", f"variants: duplicate variant names {sorted(dup)}; each variant needs a unique name"))
    data = config["data"]
    if data["pool_size"] > data["train_size"]:
        errors.append(
            (
                "pool_within_train",
                f"data.pool_size ({data['pool_size']}): must be at most data.train_size ({data['train_size']}); the seen pool is a "
                "sample of the training problems",
            )
        )
    seeds = config["seeds"]
    if len(set(seeds)) != len(seeds):
        errors.append(("seeds_unique", f"seeds: duplicate seeds in {seeds}"))
    for i, ab in enumerate(config.get("ablations", [])):
        for side in ("on_variant", "off_variant"):
            if ab[side] not in names:
                errors.append(
                    (
                        "ablation_variant_known",
                        f"ablations[{i}] ({ab['name']}).{side}: unknown variant {ab[side]!r}; expected one of {names}",
                    )
                )
        if ab["on_variant"] in names and ab["off_variant"] in names:
            on, off = (ablated_value(config, ab[s], ab["factor"]) for s in ("on_variant", "off_variant"))
            if ab["factor"] in FACTORS and (on is not True or off is not False):
                errors.append(
                    (
                        "ablation_factor_direction",
                        f"ablations[{i}] ({ab['name']}): variant {ab['on_variant']!r} must have {ab['factor']}=true and "
                        f"{ab['off_variant']!r} {ab['factor']}=false (they have {on} and {off})",
                    )
                )
            if ab["factor"] in NULLABLE_SETTINGS and (on in (None, False) or off is not None):
                errors.append(
                    (
                        "ablation_clip_direction",
                        f"ablations[{i}] ({ab['name']}): variant {ab['on_variant']!r} must set {ab['factor']} and "
                        f"{ab['off_variant']!r} must have {ab['factor']}=null (they have {on} and {off})",
                    )
                )
            if ab["factor"] == "optim.name" and (on, off) != ("snr_gated", "adamw"):
                errors.append(
                    (
                        "ablation_optimiser_direction",
                        f"ablations[{i}] ({ab['name']}): variant {ab['on_variant']!r} must have optim.name=snr_gated and "
                        f"{ab['off_variant']!r} optim.name=adamw (they have {on} and {off})",
                    )
                )
            if ab["factor"] == "optim.vectors" and on == off:
                errors.append(
                    (
                        "ablation_vectors_differ",
                        f"ablations[{i}] ({ab['name']}): variants {ab['on_variant']!r} and {ab['off_variant']!r} have the "
                        f"same optim.vectors ({on}); the on variant must give vectors their own settings",
                    )
                )
    ab_names = [a["name"] for a in config.get("ablations", [])]
    if len(set(ab_names)) != len(ab_names):
        errors.append(("ablation_names_unique", f"ablations: duplicate ablation names in {ab_names}"))
    errors += _sweep_errors(config, schema)
    errors += _scaling_errors(config)
    errors += _analysis_errors(config)
    if errors:  # the checks below resolve every variant, sweeps included
        raise ConfigError(errors)
    t = config["train"]
    if t["progress_every"] % t["log_every"]:
        errors.append(
            (
                "progress_on_log_grid",
                f"train.progress_every ({t['progress_every']}): must be a multiple of train.log_every ({t['log_every']})",
            )
        )
    mm = config["minimal_model"]
    if mm["snr_every"] > mm["steps"]:
        errors.append(
            (
                "minimal_snr_within_steps",
                f"minimal_model.snr_every ({mm['snr_every']}): must be at most minimal_model.steps ({mm['steps']})",
            )
        )
    for v in all_variants(config):
        cur = effective_settings(config, v["name"])
        g, budget = cur["graduation"], cur["curriculum"]["stage_budget"]
        if budget < g["window_every"] * g["windows"]:
            errors.append(
                (
                    "budget_holds_a_graduation",
                    f"curriculum.stage_budget ({budget}, variant {v['name']!r}): smaller than one graduation run of "
                    f"graduation.windows x graduation.window_every = {g['windows'] * g['window_every']} steps",
                )
            )
        t, bs = cur["train"], cur["optim"]["batch_size"]
        if bs % t["snr_microbatches"]:
            errors.append(
                (
                    "microbatches_divide_batch",
                    f"train.snr_microbatches ({t['snr_microbatches']}, variant {v['name']!r}): must divide optim.batch_size ({bs})",
                )
            )
        m = cur["model"]
        if m["d_model"] % m["n_head"]:
            errors.append(
                (
                    "heads_divide_width",
                    f"model.d_model ({m['d_model']}, variant {v['name']!r}): must be divisible by model.n_head ({m['n_head']})",
                )
            )
        longest = {s["name"]: longest_line(s["op"], tuple(s["digits"]), factors_of(cur)) for s in config["stages"]}
        stage, line = max(longest.items(), key=lambda kv: len(kv[1]))
        if len(line) > m["block_size"]:  # the longest stage is named; training would otherwise fail inside its job
            errors.append(
                (
                    "block_holds_longest_line",
                    f"model.block_size ({m['block_size']}, variant {v['name']!r}): stage {stage!r} renders lines of up to "
                    f"{len(line)} tokens in this variant's format ({line!r}); raise block_size to at least {len(line)}",
                )
            )
    errors += _length_errors(config)
    errors += _duplicate_ablation_errors(config)
    if errors:
        raise ConfigError(errors)


def _length_errors(config: dict) -> list[tuple[str, str]]:
    """The length split's relations: its operations are trained, it reaches the trained lengths, and its longest
    line fits every variant's block (checked here, before any job, not in the evaluation job)."""
    length = config.get("length")
    if not length:
        return []
    errors = []
    ops = {s["op"] for s in config["stages"]}
    for op, n in sorted(length["max_digits"].items()):
        if op not in ops:
            errors.append(
                ("length_op_trained", f"length.max_digits.{op}: no stage of the curriculum is {op}; expected one of {sorted(ops)}")
            )
            continue
        longest = max(max(s["digits"]) for s in config["stages"] if s["op"] == op)
        if n < longest:
            errors.append(
                (
                    "length_covers_trained",
                    f"length.max_digits.{op} ({n}): must be at least {longest}, the most digits a stage of {op} trains",
                )
            )
    shapes = [(op, (n, n)) for op, n in length["max_digits"].items() if op in ops]
    for v in all_variants(config):
        block = effective_settings(config, v["name"])["model"]["block_size"]
        lines = [longest_line(op, digits, factors_of(effective_settings(config, v["name"]))) for op, digits in shapes]
        line = max(lines, key=len, default="")
        if len(line) > block:
            errors.append(
                (
                    "block_holds_length_line",
                    f"model.block_size ({block}, variant {v['name']!r}): the length split renders lines of up to {len(line)} "
                    f"tokens in this variant's format ({line!r}); raise block_size to at least {len(line)} or lower length.max_digits",
                )
            )
    return errors


def _sweep_errors(config: dict, schema: dict | None) -> list[str]:
    errors = []
    names = {v["name"] for v in config["variants"]}
    sweep_names = [sw["name"] for sw in config.get("sweeps", [])]
    if len(set(sweep_names)) != len(sweep_names):
        errors.append(("sweep_names_unique", f"sweeps: duplicate sweep names in {sweep_names}"))
    for i, sw in enumerate(config.get("sweeps", [])):
        where = f"sweeps[{i}] ({sw['name']})"
        for base in sw["from"]:
            if base not in names:
                errors.append(("sweep_base_known", f"{where}.from: unknown variant {base!r}; expected one of {sorted(names)}"))
        for key, values in sw["grid"].items():
            section, *path = key.split(".")
            if section not in SWEEPABLE or not 1 <= len(path) <= 2 or not _has_key(config, section, path):
                known = [f"{s}.{k}" for s in SWEEPABLE for k in config.get(s, {})]
                errors.append(
                    ("sweep_key_known", f"{where}.grid: unknown key {key!r}; expected SECTION.KEY or SECTION.KEY.SUBKEY, one of {known}")
                )
                continue
            if schema is not None:
                key_schema = schema["$defs"][section]
                for part in path:
                    key_schema = key_schema["properties"][part]
                errors += [("sweep_value_valid", e) for e in _value_errors(f"{where}.grid[{key!r}]", values, key_schema)]
    generated: dict[str, dict] = {}
    for p in sweep_points(config):
        if not VARIANT_NAME.match(p.name):
            errors.append(
                ("sweep_name_characters", f"sweeps ({p.sweep}): generated variant name {p.name!r} has characters outside [A-Za-z0-9_.-]")
            )
        elif p.name in names and p.variant != next(v for v in config["variants"] if v["name"] == p.name):
            errors.append(("sweep_name_taken", f"sweeps ({p.sweep}): generated variant name {p.name!r} is already a variant of the config"))
        elif generated.setdefault(p.name, p.variant) != p.variant:
            errors.append(("sweep_points_agree", f"sweeps ({p.sweep}): two sweeps generate {p.name!r} with different settings"))
    return errors


def _scaling_errors(config: dict) -> list[str]:
    if config.get("scaling", {}).get("sweep") is None:
        return []
    name = config["scaling"]["sweep"]
    sweep = scaling_sweep(config)
    if sweep is None:
        return [
            (
                "scaling_sweep_known",
                f"scaling.sweep: unknown sweep {name!r}; expected one of {[sw['name'] for sw in config.get('sweeps', [])]}",
            )
        ]
    errors = []
    if not all(k.startswith("model.") for k in sweep["grid"]):
        errors.append(
            (
                "scaling_sweep_model_keys",
                f"scaling.sweep ({name}): its grid keys must all be model keys (the sizes), got {sorted(sweep['grid'])}",
            )
        )
    elif len(_sizes(config, sweep)) < 2 and all(base in {v["name"] for v in config["variants"]} for base in sweep["from"]):
        errors.append(("scaling_sweep_two_sizes", f"scaling.sweep ({name}): a fit needs at least two model sizes; its points and "
                       "the variants it starts from have one"))  # fmt: skip
    return errors


def _sizes(config: dict, sweep: dict) -> set[str]:
    """The distinct model settings of a size sweep: its points' and those of the variants it starts from."""
    names = list(sweep["from"]) + [p.name for p in sweep_points(config) if p.sweep == sweep["name"]]
    return {stable_hash(effective_settings(config, n)["model"]) for n in names}


def _analysis_errors(config: dict) -> list[str]:
    """The primary family: each entry names an ablation, stages of the curriculum where its two sides train on
    different data (a hypothesis about a factor is judged where the factor changes something), and optionally a
    sweep of model sizes that starts from both of its variants."""
    errors = []
    ablations = {a["name"]: a for a in config.get("ablations", [])}
    stages = {s["name"]: s for s in config["stages"]}
    sweeps = {sw["name"]: sw for sw in config.get("sweeps", [])}
    seen = set()
    for i, h in enumerate(config.get("analysis", {}).get("family", [])):
        where = f"analysis.family[{i}] ({h['ablation']})"
        if h["ablation"] in seen:
            errors.append(("analysis_ablation_once", f"{where}: the ablation is declared twice; one entry per ablation"))
        seen.add(h["ablation"])
        ab = ablations.get(h["ablation"])
        if ab is not None and not {ab["on_variant"], ab["off_variant"]} <= {v["name"] for v in config["variants"]}:
            continue  # its unknown variant is reported with the ablation
        if ab is None:
            errors.append(
                ("analysis_ablation_known", f"{where}.ablation: unknown ablation {h['ablation']!r}; expected one of {sorted(ablations)}")
            )
            continue
        for st in h["stages"]:
            if st not in stages:
                errors.append(("analysis_stage_known", f"{where}.stages: unknown stage {st!r}; expected one of {list(stages)}"))
            elif ab["factor"] in FACTORS and not _stage_data_differ(config, ab, stages[st]):
                why = f"the two sides train on the same data ({ab['factor']} changes nothing there)"
                errors.append(
                    ("analysis_stage_differs", f"{where}.stages: at stage {st!r} {why}: a hypothesis about it cannot be judged there")
                )
        if len(set(h["stages"])) != len(h["stages"]):
            errors.append(("analysis_stage_once", f"{where}.stages: a stage is listed twice"))
        if "sizes" in h:
            sw = sweeps.get(h["sizes"])
            if sw is None:
                errors.append(("analysis_sizes_known", f"{where}.sizes: unknown sweep {h['sizes']!r}; expected one of {sorted(sweeps)}"))
            elif not all(k.startswith("model.") for k in sw["grid"]) or not {ab["on_variant"], ab["off_variant"]} <= set(sw["from"]):
                errors.append(("analysis_sizes_sweep", f"{where}.sizes: sweep {h['sizes']!r} must vary model keys only and start from both "
                              f"{ab['on_variant']!r} and {ab['off_variant']!r}"))  # fmt: skip
    return errors


def _stage_data_differ(config: dict, ablation: dict, stage: dict) -> bool:
    """Do the two sides of a format-factor ablation train on different data at a stage? commute adds the swapped
    problems (of a commutative operation), mixed_lengths problems of a shorter shape (there is none below 1x1); the
    other factors write the same problems differently: read on the stage's extreme problems and a seeded sample of
    its others (what the data job would write, without writing it)."""
    from ..data.formats import COMMUTATIVE
    from ..data.splits import mixed_shape

    if ablation["factor"] == "commute":
        return stage["op"] in COMMUTATIVE
    if ablation["factor"] == "mixed_lengths":
        return mixed_shape(tuple(stage["digits"])) is not None

    sides = [factors_of(effective_settings(config, ablation[s])) for s in ("on_variant", "off_variant")]
    return _renders_differ(stage, *sides)


def _renders_differ(stage: dict, first: Factors, second: Factors) -> bool:
    """Do two formats write a stage's problems differently? Read on the stage's extreme problems and a seeded sample
    of its others."""
    import random

    from ..data.formats import render

    da, db = stage["digits"]
    rng = random.Random(0)
    lo = [0 if d == 1 else 10 ** (d - 1) for d in (da, db)]
    hi = [10**d - 1 for d in (da, db)]
    pairs = [(hi[0], hi[1]), (lo[0], lo[1])] + [(rng.randint(lo[0], hi[0]), rng.randint(lo[1], hi[1])) for _ in range(200)]
    pairs = [(a, b) for a, b in pairs if stage["op"] != "sub" or a >= b]
    return any(render(a, stage["op"], b, first) != render(a, stage["op"], b, second) for a, b in pairs)


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


def _duplicate_ablation_errors(config: dict) -> list[tuple[str, str]]:
    """Two ablations whose on sides train the same run and whose off sides do are one comparison counted twice
    (in the length family, in summary.md's tables)."""
    errors = []
    ablations = config.get("ablations", [])
    for i, first in enumerate(ablations):
        for second in ablations[i + 1 :]:
            if all(_same_data(config, first[side], second[side]) for side in ("on_variant", "off_variant")):
                errors.append(
                    (
                        "ablations_differ",
                        f"ablations ({first['name']}, {second['name']}): {first['on_variant']!r} against {first['off_variant']!r} "
                        f"and {second['on_variant']!r} against {second['off_variant']!r} train on the same data at every stage "
                        "of this curriculum: one comparison counted twice; drop one",
                    )
                )
    return errors


def _has_key(config: dict, section: str, path: list[str]) -> bool:
    """Does config[section][path...] exist (its value may be null)?"""
    node = config.get(section)
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _value_errors(where: str, values: list, key_schema: dict) -> list[str]:
    import jsonschema

    out = []
    for v in values:
        try:
            jsonschema.validate(v, key_schema)
        except jsonschema.ValidationError as e:
            out.append(f"{where}: value {v!r} is invalid: {e.message}")
    return out
