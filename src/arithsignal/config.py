"""The experiment config: checks beyond the JSON schema, variants, and the slices rules depend on.

The JSON schema (``schemas/config.schema.yaml``) checks shapes and types; this
module checks what a schema cannot (unique names, references between sections,
budgets against windows) and resolves each variant to its *effective settings*,
the complete recipe of one training run. Variants whose effective settings are
equal are trained once (see :func:`canonical_variants`).
"""

from __future__ import annotations

import copy
import itertools
import math
import re
from dataclasses import dataclass
from pathlib import Path

from .formats import FACTOR_KEYS, FACTORS, Factors, longest_line
from .io import stable_hash

MINIMAL_EXPERIMENTS = ("dynamics", "batch_size", "weight_decay", "dimension", "per_class")  # the minimal SNR model's branch
FORMAT_KEY_PATTERN = "-".join(f"{key}[01]" for key in FACTOR_KEYS.values())  # the Snakefile's {fmt}
# sections a variant may override, and what its training run depends on
OVERRIDABLE = ("factors", "model", "optim", "curriculum", "graduation")
RUN_SECTIONS = ("factors", "model", "optim", "curriculum", "graduation", "train")
SWEEPABLE = ("model", "optim", "curriculum", "graduation")  # a sweep's grid keys are SECTION.KEY
NULLABLE_SETTINGS = ("optim.grad_clip",)  # setting ablations whose off side is null (off: never clip)
VARIANT_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")  # also the Snakefile's wildcard constraint


class ConfigError(ValueError):
    pass


def merged(base: str | Path, presets: list[str | Path] = ()) -> dict:
    """The config a Snakemake run sees: ``base`` (the workflow's config.yaml) with every ``--configfile`` preset
    merged over it in order, by Snakemake's own functions (nested sections merge key by key, lists are replaced)."""
    from snakemake.common.configfile import load_configfile
    from snakemake.utils import update_config

    config = load_configfile(str(base))
    for preset in presets:
        update_config(config, load_configfile(str(preset)))
    return config


def check(config: dict, schema: dict | None = None) -> None:
    """Raise ConfigError naming the key for every problem the schema cannot see.

    With ``schema`` (the config's JSON schema), every value a sweep sets is also checked
    against the schema of its key, so a bad grid value is refused naming the sweep.
    """
    errors: list[str] = []
    stage_names = [s["name"] for s in config["stages"]]
    for i, s in enumerate(config["stages"]):
        da, db = s["digits"]
        if da < db:
            errors.append(f"stages[{i}] ({s['name']}).digits: expected the longer operand first, got {[da, db]} (write [{db}, {da}])")
    dup = {n for n in stage_names if stage_names.count(n) > 1}
    if dup:
        errors.append(f"stages: duplicate stage names {sorted(dup)}; each stage needs a unique name")
    names = [v["name"] for v in config["variants"]]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        errors.append(f"variants: duplicate variant names {sorted(dup)}; each variant needs a unique name")
    data = config["data"]
    if data["pool_size"] > data["train_size"]:
        errors.append(
            f"data.pool_size ({data['pool_size']}): must be at most data.train_size ({data['train_size']}); the seen pool is a "
            "sample of the training problems"
        )
    seeds = config["seeds"]
    if len(set(seeds)) != len(seeds):
        errors.append(f"seeds: duplicate seeds in {seeds}")
    for i, ab in enumerate(config.get("ablations", [])):
        for side in ("on_variant", "off_variant"):
            if ab[side] not in names:
                errors.append(f"ablations[{i}] ({ab['name']}).{side}: unknown variant {ab[side]!r}; expected one of {names}")
        if ab["on_variant"] in names and ab["off_variant"] in names:
            on, off = (ablated_value(config, ab[s], ab["factor"]) for s in ("on_variant", "off_variant"))
            if ab["factor"] in FACTORS and (on is not True or off is not False):
                errors.append(
                    f"ablations[{i}] ({ab['name']}): variant {ab['on_variant']!r} must have {ab['factor']}=true and "
                    f"{ab['off_variant']!r} {ab['factor']}=false (they have {on} and {off})"
                )
            if ab["factor"] in NULLABLE_SETTINGS and (on in (None, False) or off is not None):
                errors.append(
                    f"ablations[{i}] ({ab['name']}): variant {ab['on_variant']!r} must set {ab['factor']} and "
                    f"{ab['off_variant']!r} must have {ab['factor']}=null (they have {on} and {off})"
                )
            if ab["factor"] == "optim.name" and (on, off) != ("snr_gated", "adamw"):
                errors.append(
                    f"ablations[{i}] ({ab['name']}): variant {ab['on_variant']!r} must have optim.name=snr_gated and "
                    f"{ab['off_variant']!r} optim.name=adamw (they have {on} and {off})"
                )
            if ab["factor"] == "optim.vectors" and on == off:
                errors.append(
                    f"ablations[{i}] ({ab['name']}): variants {ab['on_variant']!r} and {ab['off_variant']!r} have the "
                    f"same optim.vectors ({on}); the on variant must give vectors their own settings"
                )
    ab_names = [a["name"] for a in config.get("ablations", [])]
    if len(set(ab_names)) != len(ab_names):
        errors.append(f"ablations: duplicate ablation names in {ab_names}")
    errors += _sweep_errors(config, schema)
    errors += _scaling_errors(config)
    if errors:  # the checks below resolve every variant, sweeps included
        raise ConfigError("invalid config:\n  - " + "\n  - ".join(errors))
    t = config["train"]
    if t["progress_every"] % t["log_every"]:
        errors.append(f"train.progress_every ({t['progress_every']}): must be a multiple of train.log_every ({t['log_every']})")
    mm = config["minimal_model"]
    if mm["snr_every"] > mm["steps"]:
        errors.append(f"minimal_model.snr_every ({mm['snr_every']}): must be at most minimal_model.steps ({mm['steps']})")
    for v in all_variants(config):
        cur = effective_settings(config, v["name"])
        g, budget = cur["graduation"], cur["curriculum"]["stage_budget"]
        if budget < g["window_every"] * g["windows"]:
            errors.append(
                f"curriculum.stage_budget ({budget}, variant {v['name']!r}): smaller than one graduation run of "
                f"graduation.windows x graduation.window_every = {g['windows'] * g['window_every']} steps"
            )
        t, bs = cur["train"], cur["optim"]["batch_size"]
        if bs % t["snr_microbatches"]:
            errors.append(f"train.snr_microbatches ({t['snr_microbatches']}, variant {v['name']!r}): must divide optim.batch_size ({bs})")
        m = cur["model"]
        if m["d_model"] % m["n_head"]:
            errors.append(f"model.d_model ({m['d_model']}, variant {v['name']!r}): must be divisible by model.n_head ({m['n_head']})")
        longest = {s["name"]: longest_line(s["op"], tuple(s["digits"]), factors_of(cur)) for s in config["stages"]}
        stage, line = max(longest.items(), key=lambda kv: len(kv[1]))
        if len(line) > m["block_size"]:  # the longest stage is named; training would otherwise fail inside its job
            errors.append(
                f"model.block_size ({m['block_size']}, variant {v['name']!r}): stage {stage!r} renders lines of up to "
                f"{len(line)} tokens in this variant's format ({line!r}); raise block_size to at least {len(line)}"
            )
    if errors:
        raise ConfigError("invalid config:\n  - " + "\n  - ".join(errors))


def ablated_value(config: dict, variant_name: str, factor: str) -> object:
    """The value an ablation's ``factor`` has in a variant: a format factor, or a SECTION.KEY setting."""
    settings = effective_settings(config, variant_name)
    if factor in FACTORS:
        return settings["factors"][factor]
    section, key = factor.split(".")
    return settings[section][key]


def _merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in override.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def variant(config: dict, name: str) -> dict:
    for v in all_variants(config):
        if v["name"] == name:
            return v
    raise ConfigError(f"unknown variant {name!r}; expected one of {[v['name'] for v in all_variants(config)]}")


# ---------------------------------------------------------------- sweeps


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep's grid: a generated variant, trained like any other."""

    sweep: str
    base: str  # the variant it starts from
    values: dict  # SECTION.KEY -> value
    variant: dict  # name + overrides, as a config variant

    @property
    def name(self) -> str:
        return self.variant["name"]

    @property
    def label(self) -> str:
        return ", ".join(f"{_key_text(k, '.')}={_value_text(v)}" for k, v in self.values.items())


def _key_text(key: str, sep: str = "_") -> str:
    """A grid key without its section: ``lr`` for optim.lr, ``vectors_lr_scale`` for optim.vectors.lr_scale."""
    return sep.join(key.split(".")[1:])


def _value_text(v: object) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool):
        return str(v).lower()
    return str(v)


def sweep_points(config: dict) -> list[SweepPoint]:
    """Every sweep's grid (the product of its keys' values) for every variant it starts from.

    A point is named ``<base>-<key>_<value>...`` (the key without its section: every sweepable
    key's name is unique across sections), e.g. ``baseline-lr_0.003-schedule_cosine``; a key inside
    a setting (optim.vectors.lr_scale) joins its parts with ``_``. Keys are taken in sorted order,
    so the order they are written in changes no name (it is not a change of settings).
    """
    points = []
    by_name = {v["name"]: v for v in config["variants"]}
    for sw in config.get("sweeps", []):
        keys = sorted(sw["grid"])
        for base in sw["from"]:
            if base not in by_name or not all(k.count(".") in (1, 2) and k.split(".")[0] in SWEEPABLE for k in keys):
                continue  # reported by _sweep_errors
            for combo in itertools.product(*(sw["grid"][k] for k in keys)):
                var = copy.deepcopy(by_name[base])
                var["name"] = base + "".join(f"-{_key_text(k)}_{_value_text(v)}" for k, v in zip(keys, combo, strict=True))
                for k, v in zip(keys, combo, strict=True):
                    *path, key = k.split(".")
                    node = var
                    for part in path:
                        node = node.setdefault(part, {})
                    node[key] = v
                points.append(SweepPoint(sw["name"], base, dict(zip(keys, combo, strict=True)), var))
    return points


def all_variants(config: dict) -> list[dict]:
    """The config's variants, then every sweep point not already named there (points shared by two sweeps once)."""
    out, seen = list(config["variants"]), {v["name"] for v in config["variants"]}
    for p in sweep_points(config):
        if p.name not in seen:
            seen.add(p.name)
            out.append(p.variant)
    return out


def _sweep_errors(config: dict, schema: dict | None) -> list[str]:
    errors = []
    names = {v["name"] for v in config["variants"]}
    sweep_names = [sw["name"] for sw in config.get("sweeps", [])]
    if len(set(sweep_names)) != len(sweep_names):
        errors.append(f"sweeps: duplicate sweep names in {sweep_names}")
    for i, sw in enumerate(config.get("sweeps", [])):
        where = f"sweeps[{i}] ({sw['name']})"
        for base in sw["from"]:
            if base not in names:
                errors.append(f"{where}.from: unknown variant {base!r}; expected one of {sorted(names)}")
        for key, values in sw["grid"].items():
            section, *path = key.split(".")
            if section not in SWEEPABLE or not 1 <= len(path) <= 2 or not _has_key(config, section, path):
                known = [f"{s}.{k}" for s in SWEEPABLE for k in config.get(s, {})]
                errors.append(f"{where}.grid: unknown key {key!r}; expected SECTION.KEY or SECTION.KEY.SUBKEY, one of {known}")
                continue
            if schema is not None:
                key_schema = schema["$defs"][section]
                for part in path:
                    key_schema = key_schema["properties"][part]
                errors += _value_errors(f"{where}.grid[{key!r}]", values, key_schema)
    generated: dict[str, dict] = {}
    for p in sweep_points(config):
        if not VARIANT_NAME.match(p.name):
            errors.append(f"sweeps ({p.sweep}): generated variant name {p.name!r} has characters outside [A-Za-z0-9_.-]")
        elif p.name in names and p.variant != next(v for v in config["variants"] if v["name"] == p.name):
            errors.append(f"sweeps ({p.sweep}): generated variant name {p.name!r} is already a variant of the config")
        elif generated.setdefault(p.name, p.variant) != p.variant:
            errors.append(f"sweeps ({p.sweep}): two sweeps generate {p.name!r} with different settings")
    return errors


def _scaling_errors(config: dict) -> list[str]:
    if "scaling" not in config:
        return []
    name = config["scaling"]["sweep"]
    sweep = scaling_sweep(config)
    if sweep is None:
        return [f"scaling.sweep: unknown sweep {name!r}; expected one of {[sw['name'] for sw in config.get('sweeps', [])]}"]
    errors = []
    if not all(k.startswith("model.") for k in sweep["grid"]):
        errors.append(f"scaling.sweep ({name}): its grid keys must all be model keys (the sizes), got {sorted(sweep['grid'])}")
    if math.prod(len(v) for v in sweep["grid"].values()) < 2:
        errors.append(f"scaling.sweep ({name}): a fit needs at least two model sizes; the grid has one point")
    return errors


def scaling_sweep(config: dict) -> dict | None:
    """The sweep named by ``scaling.sweep`` (None without a scaling section or when no sweep has that name)."""
    if "scaling" not in config:
        return None
    return next((sw for sw in config.get("sweeps", []) if sw["name"] == config["scaling"]["sweep"]), None)


def scaling_comparisons(config: dict) -> list[dict]:
    """The ablations whose two variants the scaling sweep starts from: their scaling curves are compared."""
    sweep = scaling_sweep(config)
    if sweep is None:
        return []
    return [{"name": a["name"], "factor": a["factor"], "on": a["on_variant"], "off": a["off_variant"]} for a in config["ablations"]
            if a["on_variant"] in sweep["from"] and a["off_variant"] in sweep["from"]]  # fmt: skip


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


def effective_settings(config: dict, name: str) -> dict:
    """The complete recipe of a variant's training run (everything but the seed)."""
    base = {k: config[k] for k in RUN_SECTIONS if k != "factors"}
    base["factors"] = config["baseline"]
    base = _merge(base, {k: v for k, v in variant(config, name).items() if k in OVERRIDABLE})
    base["stages"] = config["stages"]
    base["data"] = config["data"]
    return base


def canonical_variants(config: dict) -> dict[str, str]:
    """Map every variant to the first variant (config order) with equal effective settings."""
    first: dict[str, str] = {}
    out = {}
    for v in all_variants(config):
        key = stable_hash(effective_settings(config, v["name"]), 64)
        out[v["name"]] = first.setdefault(key, v["name"])
    return out


def factors_of(settings_or_factors: dict) -> Factors:
    f = settings_or_factors.get("factors", settings_or_factors)
    return Factors(**{k: bool(f[k]) for k in FACTORS})


def format_key(factors: dict) -> str:
    """The data-format directory name, e.g. ``carry1-commas0-commute0-mixed0``."""
    return "-".join(f"{FACTOR_KEYS[k]}{int(bool(factors[k]))}" for k in FACTORS)


def parse_format_key(key: str) -> dict:
    parts = key.split("-")
    if len(parts) != len(FACTORS):
        raise ConfigError(f"bad data format key {key!r}")
    return {k: p.endswith("1") for k, p in zip(FACTORS, parts, strict=True)}
