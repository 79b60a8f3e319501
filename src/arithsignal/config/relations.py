"""The relations config.checks.check enforces beyond the JSON schema, as a registry: each relation is one checker,
registered with its name and its text (``@relation``), that yields a message naming the key for every place a
config breaks it. This module holds the registry and the relations of the experiment's own sections (stages,
variants, data, seeds, ablations, training, the length split); comparisons.py those over what the experiment
compares (ablations that train the same data, the sweeps, the scaling fit), hypotheses.py those of the primary family
and the maps, and checks.py ``check``, which runs them all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from ..data.formats import FACTORS, longest_line
from .experiment import NULLABLE_SETTINGS, ablated_value, all_variants, effective_settings, factors_of


@dataclass(frozen=True)
class Relation:
    """A relation checks.check enforces beyond the schema; ``check`` yields a message naming the key for every place
    a config breaks it ("key (value): what was expected")."""

    name: str  # in every problem it reports (ConfigError.relations) and in docs/CONFIG.md
    text: str  # what holds, as docs/CONFIG.md lists it
    check: Callable[..., Iterable[str]]  # (config), or (config, schema) where with_schema
    late: bool  # checked only where every relation that is not late holds (most resolve each variant's settings)
    with_schema: bool  # checked only when config.checks.check is given the schema, which its checker reads

    def problems(self, config: dict, schema: dict | None) -> list[tuple[str, str]]:
        """(relation, message) for every place ``config`` breaks the relation."""
        if not self.with_schema:
            return [(self.name, m) for m in self.check(config)]
        return [] if schema is None else [(self.name, m) for m in self.check(config, schema)]


REGISTRY: list[Relation] = []  # in the order registered (this module's, then checks.py's): docs/CONFIG.md's order


def relation(name: str, text: str, *, late: bool = False, with_schema: bool = False) -> Callable:
    """Register the decorated checker as the relation ``name`` (see Relation); a name is registered once."""

    def register(checker: Callable[..., Iterable[str]]) -> Callable[..., Iterable[str]]:
        if name in {r.name for r in REGISTRY}:
            raise ValueError(f"relation {name!r} is registered twice")
        REGISTRY.append(Relation(name, text, checker, late, with_schema))
        return checker

    return register


def duplicates(values: list) -> list:
    """The values listed more than once, sorted (empty: every value is unique)."""
    return sorted({v for v in values if values.count(v) > 1})


# ---------------------------------------------------------------- stages, variants, data, seeds


@relation("stage_digits_order", "a stage's `digits` give the longer operand first")
def _stage_digits_order(config: dict) -> Iterator[str]:
    for i, s in enumerate(config["stages"]):
        da, db = s["digits"]
        if da < db:
            where = f"stages[{i}] ({s['name']}).digits"
            yield f"{where}: expected the longer operand first, got {[da, db]} (write [{db}, {da}])"


@relation("stage_names_unique", "stage names are unique")
def _stage_names_unique(config: dict) -> Iterator[str]:
    if dup := duplicates([s["name"] for s in config["stages"]]):
        yield f"stages: duplicate stage names {dup}; each stage needs a unique name"


@relation("variant_names_unique", "variant names are unique")
def _variant_names_unique(config: dict) -> Iterator[str]:
    if dup := duplicates([v["name"] for v in config["variants"]]):
        yield f"variants: duplicate variant names {dup}; each variant needs a unique name"


@relation(
    "pool_within_train",
    "`data.pool_size` is at most `data.train_size` (the train pool samples the training problems)",
)
def _pool_within_train(config: dict) -> Iterator[str]:
    pool, train = config["data"]["pool_size"], config["data"]["train_size"]
    if pool > train:
        why = "the train pool is a sample of the training problems"
        yield f"data.pool_size ({pool}): must be at most data.train_size ({train}); {why}"


@relation("seeds_unique", "seeds are unique")
def _seeds_unique(config: dict) -> Iterator[str]:
    if duplicates(config["seeds"]):
        yield f"seeds: duplicate seeds in {config['seeds']}"


# ---------------------------------------------------------------- ablations


def _ablations(config: dict) -> Iterator[tuple[str, dict]]:
    """Each ablation with where it is in the config."""
    for i, ab in enumerate(config.get("ablations", [])):
        yield f"ablations[{i}] ({ab['name']})", ab


def _ablated(config: dict) -> Iterator[tuple[str, dict, object, object]]:
    """Each ablation whose two variants are of the config, with where it is and its factor's on and off values."""
    names = {v["name"] for v in config["variants"]}
    for where, ab in _ablations(config):
        if ab["on_variant"] in names and ab["off_variant"] in names:
            on, off = (ablated_value(config, ab[side], ab["factor"]) for side in ("on_variant", "off_variant"))
            yield where, ab, on, off


@relation("ablation_variant_known", "an ablation's `on_variant` and `off_variant` are variants of the config")
def _ablation_variant_known(config: dict) -> Iterator[str]:
    names = [v["name"] for v in config["variants"]]
    for where, ab in _ablations(config):
        for side in ("on_variant", "off_variant"):
            if ab[side] not in names:
                yield f"{where}.{side}: unknown variant {ab[side]!r}; expected one of {names}"


@relation(
    "ablation_factor_direction",
    "a format-factor ablation's on variant has the factor true, its off variant false",
)
def _ablation_factor_direction(config: dict) -> Iterator[str]:
    for where, ab, on, off in _ablated(config):
        if ab["factor"] in FACTORS and (on is not True or off is not False):
            want = f"{ab['on_variant']!r} must have {ab['factor']}=true and {ab['off_variant']!r} {ab['factor']}=false"
            yield f"{where}: variant {want} (they have {on} and {off})"


@relation(
    "ablation_clip_direction",
    "an `optim.grad_clip` ablation's on variant clips at a norm, its off variant has null",
)
def _ablation_clip_direction(config: dict) -> Iterator[str]:
    for where, ab, on, off in _ablated(config):
        if ab["factor"] in NULLABLE_SETTINGS and (on in (None, False) or off is not None):
            null = f"{ab['off_variant']!r} must have {ab['factor']}=null"
            yield f"{where}: variant {ab['on_variant']!r} must set {ab['factor']} and {null} (they have {on} and {off})"


@relation("ablation_optimiser_direction", "an `optim.name` ablation's on variant is snr_gated, its off variant adamw")
def _ablation_optimiser_direction(config: dict) -> Iterator[str]:
    for where, ab, on, off in _ablated(config):
        if ab["factor"] == "optim.name" and (on, off) != ("snr_gated", "adamw"):
            want = f"{ab['on_variant']!r} must have optim.name=snr_gated and {ab['off_variant']!r} optim.name=adamw"
            yield f"{where}: variant {want} (they have {on} and {off})"


@relation("ablation_vectors_differ", "an `optim.vectors` ablation's two variants set the vectors differently")
def _ablation_vectors_differ(config: dict) -> Iterator[str]:
    for where, ab, on, off in _ablated(config):
        if ab["factor"] == "optim.vectors" and on == off:
            pair = f"{ab['on_variant']!r} and {ab['off_variant']!r} have the same optim.vectors ({on})"
            yield f"{where}: variants {pair}; the on variant must give vectors their own settings"


@relation("ablation_names_unique", "ablation names are unique")
def _ablation_names_unique(config: dict) -> Iterator[str]:
    names = [a["name"] for a in config.get("ablations", [])]
    if duplicates(names):
        yield f"ablations: duplicate ablation names in {names}"


# ---------------------------------------------------------------- training, and each variant's settings (late)


@relation("progress_on_log_grid", "`train.progress_every` is a multiple of `train.log_every`", late=True)
def _progress_on_log_grid(config: dict) -> Iterator[str]:
    progress, log = config["train"]["progress_every"], config["train"]["log_every"]
    if progress % log:
        yield f"train.progress_every ({progress}): must be a multiple of train.log_every ({log})"


@relation("minimal_snr_within_steps", "`minimal_model.snr_every` is at most `minimal_model.steps`", late=True)
def _minimal_snr_within_steps(config: dict) -> Iterator[str]:
    every, steps = config["minimal_model"]["snr_every"], config["minimal_model"]["steps"]
    if every > steps:
        yield f"minimal_model.snr_every ({every}): must be at most minimal_model.steps ({steps})"


def _resolved(config: dict) -> Iterator[tuple[str, dict]]:
    """Every variant (sweep points included) with its effective settings."""
    for v in all_variants(config):
        yield v["name"], effective_settings(config, v["name"])


@relation(
    "budget_holds_a_graduation",
    "every variant's `curriculum.stage_budget`, and every stage's own `stages[].budget`, holds one graduation run "
    "(`windows` x `window_every`)",
    late=True,
)
def _budget_holds_a_graduation(config: dict) -> Iterator[str]:
    for name, cur in _resolved(config):
        g = cur["graduation"]
        run = f"graduation.windows x graduation.window_every = {g['windows'] * g['window_every']} steps"
        budgets = {"curriculum.stage_budget": cur["curriculum"]["stage_budget"]}
        budgets |= {
            f"stages[{i}].budget ({s['name']})": s["budget"] for i, s in enumerate(cur["stages"]) if "budget" in s
        }
        for key, budget in budgets.items():
            if budget < g["window_every"] * g["windows"]:
                yield f"{key} ({budget}, variant {name!r}): smaller than one graduation run of {run}"


@relation(
    "microbatches_divide_batch",
    "every variant's `train.snr_microbatches` divides its `optim.batch_size`",
    late=True,
)
def _microbatches_divide_batch(config: dict) -> Iterator[str]:
    for name, cur in _resolved(config):
        micro, batch = cur["train"]["snr_microbatches"], cur["optim"]["batch_size"]
        if batch % micro:
            yield f"train.snr_microbatches ({micro}, variant {name!r}): must divide optim.batch_size ({batch})"


@relation("heads_divide_width", "every variant's `model.n_head` divides its `model.d_model`", late=True)
def _heads_divide_width(config: dict) -> Iterator[str]:
    for name, cur in _resolved(config):
        width, heads = cur["model"]["d_model"], cur["model"]["n_head"]
        if width % heads:
            yield f"model.d_model ({width}, variant {name!r}): must be divisible by model.n_head ({heads})"


@relation(
    "block_holds_longest_line",
    "every variant's `model.block_size` holds the longest line any stage renders in its format",
    late=True,
)
def _block_holds_longest_line(config: dict) -> Iterator[str]:
    for name, cur in _resolved(config):
        longest = {s["name"]: longest_line(s["op"], tuple(s["digits"]), factors_of(cur)) for s in config["stages"]}
        stage, line = max(longest.items(), key=lambda kv: len(kv[1]))
        block = cur["model"]["block_size"]
        if len(line) > block:  # the longest stage is named; training would otherwise fail inside its job
            renders = f"stage {stage!r} renders lines of up to {len(line)} tokens in this variant's format ({line!r})"
            yield f"model.block_size ({block}, variant {name!r}): {renders}; raise block_size to at least {len(line)}"


@relation(
    "coupled_needs_known_widths",
    "a variant with `model.positions: coupled` (or `coupled_relative`) writes its completion units digit first "
    "(`factors.reverse`) or pads every number to a width known in advance (`factors.pad`)",
    late=True,
)
def _coupled_needs_known_widths(config: dict) -> Iterator[str]:
    for name, cur in _resolved(config):
        f = factors_of(cur)
        scheme = cur["model"].get("positions")
        if scheme in ("coupled", "coupled_relative") and not (f.reverse or f.pad):
            yield (
                f"model.positions ({scheme}, variant {name!r}): needs factors.reverse or factors.pad; a number written "
                "most significant digit first cannot be counted from its units digit before its width is known"
            )


@relation(
    "every_shape_without_mixed_lengths",
    "no variant turns `factors.mixed_lengths` on in a curriculum with a stage of every shape (`shapes: every`), "
    "which trains every shorter shape already",
    late=True,
)
def _every_shape_without_mixed_lengths(config: dict) -> Iterator[str]:
    every = [s["name"] for s in config["stages"] if s.get("shapes") == "every"]
    for name, cur in _resolved(config):
        if every and factors_of(cur).mixed_lengths:
            yield (
                f"factors.mixed_lengths (variant {name!r}): stage {every[0]} trains every shape up to its digits "
                "(shapes: every), so mixing in a shorter one would only weight one shape twice"
            )


# ---------------------------------------------------------------- the length split (late): checked before any job


def _length_digits(config: dict) -> dict[str, int]:
    """length.max_digits (empty without a length split)."""
    return (config.get("length") or {}).get("max_digits", {})


@relation("length_op_trained", "every operation of `length.max_digits` is an operation of the curriculum", late=True)
def _length_op_trained(config: dict) -> Iterator[str]:
    ops = {s["op"] for s in config["stages"]}
    for op in sorted(_length_digits(config)):
        if op not in ops:
            yield f"length.max_digits.{op}: no stage of the curriculum is {op}; expected one of {sorted(ops)}"


@relation(
    "length_covers_trained",
    "`length.max_digits` of an operation is at least the most digits any stage of it trains",
    late=True,
)
def _length_covers_trained(config: dict) -> Iterator[str]:
    for op, n in sorted(_length_digits(config).items()):
        trained = max((max(s["digits"]) for s in config["stages"] if s["op"] == op), default=None)
        if trained is not None and n < trained:  # an operation no stage trains is length_op_trained's
            yield f"length.max_digits.{op} ({n}): must be at least {trained}, the most digits a stage of {op} trains"


@relation(
    "block_holds_length_line",
    "every variant's `model.block_size` holds the longest line of the length split in its format",
    late=True,
)
def _block_holds_length_line(config: dict) -> Iterator[str]:
    ops = {s["op"] for s in config["stages"]}
    shapes = [(op, (n, n)) for op, n in _length_digits(config).items() if op in ops]
    for name, cur in _resolved(config):
        line = max((longest_line(op, digits, factors_of(cur)) for op, digits in shapes), key=len, default="")
        block = cur["model"]["block_size"]
        if len(line) > block:
            renders = f"the length split renders lines of up to {len(line)} tokens in this variant's format ({line!r})"
            raise_it = f"raise block_size to at least {len(line)} or lower length.max_digits"
            yield f"model.block_size ({block}, variant {name!r}): {renders}; {raise_it}"


def _longest_number(line: str) -> int:
    """The most digits of any number (or carry mask) in ``line``."""
    return max((len(run) for run in re.findall(r"\d+", line.replace(",", ""))), default=0)


@relation(
    "offset_covers_length",
    "with abacus or coupled positions and a length split, every variant's `model.abacus_max_offset` is at least the "
    "longest number the split tests minus the longest a stage trains, so every digit place it tests was trained",
    late=True,
)
def _offset_covers_length(config: dict) -> Iterator[str]:
    ops = {s["op"] for s in config["stages"]}
    shapes = [(op, (n, n)) for op, n in _length_digits(config).items() if op in ops]
    for name, cur in _resolved(config):
        if not shapes or cur["model"].get("positions") not in ("abacus", "coupled"):
            continue
        f = factors_of(cur)
        tested = max(_longest_number(longest_line(op, digits, f)) for op, digits in shapes)
        trained = max(_longest_number(longest_line(s["op"], tuple(s["digits"]), f)) for s in config["stages"])
        offset = cur["model"].get("abacus_max_offset", 0)
        if offset < tested - trained:
            yield (
                f"model.abacus_max_offset ({offset}, variant {name!r}): the length split tests numbers of {tested} "
                f"digits, the stages train at most {trained}; at least {tested - trained} trains every place it tests"
            )
