"""The experiment config: checks beyond the JSON schema, variants, and the slices rules depend on.

The JSON schema (``schemas/config.schema.yaml``) checks shapes and types; this
module checks what a schema cannot (unique names, references between sections,
budgets against windows) and resolves each variant to its *effective settings*,
the complete recipe of one training run. Variants whose effective settings are
equal are trained once (see :func:`canonical_variants`).
"""

from __future__ import annotations

import copy
import hashlib
import json

from .formats import Factors

FACTORS = ("carry_mask", "commas", "commute", "mixed_lengths")
# sections a variant may override, and what its training run depends on
OVERRIDABLE = ("factors", "model", "optim", "curriculum", "graduation")
RUN_SECTIONS = ("factors", "model", "optim", "curriculum", "graduation", "train")


class ConfigError(ValueError):
    pass


def stable_hash(obj: object, n: int = 12) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:n]


def check(config: dict) -> None:
    """Raise ConfigError naming the key for every problem the schema cannot see."""
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
    seeds = config["seeds"]
    if len(set(seeds)) != len(seeds):
        errors.append(f"seeds: duplicate seeds in {seeds}")
    for i, ab in enumerate(config.get("ablations", [])):
        for side in ("on_variant", "off_variant"):
            if ab[side] not in names:
                errors.append(f"ablations[{i}] ({ab['name']}).{side}: unknown variant {ab[side]!r}; expected one of {names}")
        if ab["on_variant"] in names and ab["off_variant"] in names:
            on, off = (effective_settings(config, ab[s])["factors"][ab["factor"]] for s in ("on_variant", "off_variant"))
            if on is not True or off is not False:
                errors.append(
                    f"ablations[{i}] ({ab['name']}): variant {ab['on_variant']!r} must have {ab['factor']}=true and "
                    f"{ab['off_variant']!r} {ab['factor']}=false (they have {on} and {off})"
                )
    ab_names = [a["name"] for a in config.get("ablations", [])]
    if len(set(ab_names)) != len(ab_names):
        errors.append(f"ablations: duplicate ablation names in {ab_names}")
    t = config["train"]
    if t["progress_every"] % t["log_every"]:
        errors.append(f"train.progress_every ({t['progress_every']}): must be a multiple of train.log_every ({t['log_every']})")
    for v in config["variants"]:
        cur = effective_settings(config, v["name"]) if v["name"] in names else None
        if cur is None:
            continue
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
    if errors:
        raise ConfigError("invalid config:\n  - " + "\n  - ".join(errors))


def _merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in override.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def variant(config: dict, name: str) -> dict:
    for v in config["variants"]:
        if v["name"] == name:
            return v
    raise ConfigError(f"unknown variant {name!r}; expected one of {[v['name'] for v in config['variants']]}")


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
    for v in config["variants"]:
        key = stable_hash(effective_settings(config, v["name"]), 64)
        out[v["name"]] = first.setdefault(key, v["name"])
    return out


def factors_of(settings_or_factors: dict) -> Factors:
    f = settings_or_factors.get("factors", settings_or_factors)
    return Factors(**{k: bool(f[k]) for k in FACTORS})


def format_key(factors: dict) -> str:
    """The data-format directory name, e.g. ``carry1-commas0-commute0-mixed0``."""
    short = {"carry_mask": "carry", "commas": "commas", "commute": "commute", "mixed_lengths": "mixed"}
    return "-".join(f"{short[k]}{int(bool(factors[k]))}" for k in FACTORS)


def parse_format_key(key: str) -> dict:
    parts = key.split("-")
    if len(parts) != len(FACTORS):
        raise ConfigError(f"bad data format key {key!r}")
    return {k: p.endswith("1") for k, p in zip(FACTORS, parts, strict=True)}
