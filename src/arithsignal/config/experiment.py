"""The experiment config: variants, their effective settings, and the slices rules depend on.

The JSON schema (``schemas/config.schema.yaml``) checks shapes and types, and
checks.py what a schema cannot (unique names, references between sections,
budgets against windows); this module resolves each variant to its *effective
settings*, the complete recipe of one training run. Variants whose effective
settings are equal are trained once (see :func:`canonical_variants`).
"""

from __future__ import annotations

import copy
import itertools
import re
from dataclasses import dataclass
from pathlib import Path

from ..core.io import stable_hash
from ..data.formats import FACTORS, OPTIONAL_FACTORS, Factors

# the minimal SNR model's branch
MINIMAL_EXPERIMENTS = ("dynamics", "batch_size", "weight_decay", "dimension", "per_class")
# sections a variant may override, and what its training run depends on
OVERRIDABLE = ("factors", "model", "optim", "curriculum", "graduation")
RUN_SECTIONS = ("factors", "model", "optim", "curriculum", "graduation", "train")
SWEEPABLE = ("model", "optim", "curriculum", "graduation")  # a sweep's grid keys are SECTION.KEY
NULLABLE_SETTINGS = ("optim.grad_clip",)  # setting ablations whose off side is null (off: never clip)
VARIANT_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")  # also the Snakefile's wildcard constraint


class ConfigError(ValueError):
    """A config refused before any job runs: every problem found, each naming the key and the relation it breaks."""

    def __init__(self, problems: list[tuple[str, str]] | str):
        self.problems = [("", problems)] if isinstance(problems, str) else list(problems)
        self.relations = {r for r, _ in self.problems if r}
        super().__init__("invalid config:\n  - " + "\n  - ".join(m for _, m in self.problems))


# what lives in results/ beside the presets' folders: the shared stores, and the default's own folders
SHARED_FOLDERS = ("runs", "data", "logs", "benchmarks", "tensorboard", "metrics", "minimal_model")
PRESET_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def preset_name(config: dict, configfiles: list[str | Path]) -> str:
    """The name of the preset being run: its ``preset:`` key, else the name of the last of ``configfiles`` (the
    ``--configfile`` files other than config.yaml) without .yaml, else ``default`` (config.yaml alone)."""
    name = config.get("preset") or (Path(configfiles[-1]).stem if configfiles else "default")
    if not PRESET_NAME.match(name) or name in SHARED_FOLDERS:
        raise ConfigError(f"preset: {name!r} cannot name a results folder (letters, digits, _ . -; not one of "
                          f"{list(SHARED_FOLDERS)}): set preset: in the --configfile")  # fmt: skip
    return name


def results_folder(preset: str) -> str:
    """Where a preset's tables, figures, summary and report go: the default's in results/, every other's in
    results/<preset>/; runs, data and logs of runs are shared (results/runs, results/data, results/logs)."""
    return "results" if preset == "default" else f"results/{preset}"


def merged(base: str | Path, presets: list[str | Path] = ()) -> dict:
    """The config a Snakemake run sees: ``base`` (the workflow's config.yaml) with every ``--configfile`` preset
    merged over it in order, by Snakemake's own functions (nested sections merge key by key, lists are replaced)."""
    from snakemake.common.configfile import load_configfile
    from snakemake.utils import update_config

    config = load_configfile(str(base))
    for preset in presets:
        update_config(config, load_configfile(str(preset)))
    return config


def ablated_value(config: dict, variant_name: str, factor: str) -> object:
    """The value an ablation's ``factor`` has in a variant: a format factor, or a SECTION.KEY setting."""
    settings = effective_settings(config, variant_name)
    if factor in FACTORS:
        return settings["factors"].get(factor, False)  # an optional factor a config leaves out is off
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
                continue  # refused by checks.py (sweep_base_known, sweep_key_known)
            for combo in itertools.product(*(sw["grid"][k] for k in keys)):
                var = copy.deepcopy(by_name[base])
                suffix = "".join(f"-{_key_text(k)}_{_value_text(v)}" for k, v in zip(keys, combo, strict=True))
                var["name"] = base + suffix
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


def entry_name(entry: dict) -> str:
    """A family entry's key: its ablation, or a threshold entry's own name."""
    return entry["name"] if "threshold" in entry else entry["ablation"]


def analysis_runs(config: dict, entry: dict) -> list[dict]:
    """The runs a family entry is judged on: each side's variant and, with ``sizes``, every point of that sweep that
    starts from it; one row per distinct run: {variant, run (its canonical name), side, model}. A threshold entry
    is judged on its variant's runs alone (side '')."""
    canonical = canonical_variants(config)
    if "threshold" in entry:
        v = entry["variant"]
        return [{"variant": v, "run": canonical[v], "side": "", "model": effective_settings(config, v)["model"]}]
    ablation = next(a for a in config["ablations"] if a["name"] == entry["ablation"])
    out, seen = [], set()
    for side in ("on", "off"):
        base = ablation[f"{side}_variant"]
        names = [base] + [p.name for p in sweep_points(config) if p.sweep == entry.get("sizes") and p.base == base]
        for name in names:
            if canonical[name] not in seen:
                seen.add(canonical[name])
                model = effective_settings(config, name)["model"]
                out.append({"variant": name, "run": canonical[name], "side": side, "model": model})
    return out


def scaling_sweep(config: dict) -> dict | None:
    """The sweep named by ``scaling.sweep`` (None without one, or when no sweep has that name)."""
    if config.get("scaling", {}).get("sweep") is None:
        return None
    return next((sw for sw in config.get("sweeps", []) if sw["name"] == config["scaling"]["sweep"]), None)


def scaling_comparisons(config: dict) -> list[dict]:
    """The ablations whose two variants the scaling sweep starts from: their scaling curves are compared."""
    sweep = scaling_sweep(config)
    if sweep is None:
        return []
    both = [a for a in config["ablations"] if a["on_variant"] in sweep["from"] and a["off_variant"] in sweep["from"]]
    return [{"name": a["name"], "factor": a["factor"], "on": a["on_variant"], "off": a["off_variant"]} for a in both]


def effective_settings(config: dict, name: str) -> dict:
    """The complete recipe of a variant's training run (everything but the seed)."""
    base = {k: config[k] for k in RUN_SECTIONS if k != "factors"}
    base["factors"] = config["factors"]
    base = _merge(base, {k: v for k, v in variant(config, name).items() if k in OVERRIDABLE})
    # an optional factor that is off is left out, as where a config never names it: one run, one hash
    base["factors"] = {k: v for k, v in base["factors"].items() if v or k not in OPTIONAL_FACTORS}
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


def key(obj: object) -> str:
    """The short hash that names a folder or file of the shared stores after what it is made from."""
    return stable_hash(obj, 8)


def run_keys(config: dict) -> dict[str, str]:
    """Every variant's folder under results/runs: its canonical variant's name and a hash of its run's settings, so
    that presets share equal runs and never overwrite each other's. (What is read from a run, the evaluation and the
    length split, is keyed by its own settings in the file's name: rules/common.smk.)"""
    return {v: f"{c}-{key(effective_settings(config, c))}" for v, c in canonical_variants(config).items()}


def data_key(config: dict) -> str:
    """The folder of a config's datasets under results/data: a hash of what they are made from (the data settings and
    the stages), so that presets with other data never overwrite the default's."""
    return key({"data": config["data"], "stages": config["stages"]})


def factors_of(settings_or_factors: dict) -> Factors:
    f = settings_or_factors.get("factors", settings_or_factors)
    return Factors(**{k: bool(f[k]) for k in FACTORS if k in f or k not in OPTIONAL_FACTORS})  # left out: off
