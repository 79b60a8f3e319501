"""Problem sets per curriculum stage: which operand pairs go to which split.

Splits are decided on *problems*, independent of how they are written, so every
variant of the format is tested on the same held-out problems.

* A held-out set H(op, shape) is drawn once per operation and unordered digit
  shape, from the data seed alone. Its problems are never trained on, in either
  order, by any stage (so the 2x1 stage and the 1-digit mix of the 2x2 stage
  cannot leak into each other).
* ``test`` is H in the stage's canonical order: the longer operand first, and
  a >= b when both have as many digits. ``commute`` is H swapped (a == b left
  out), so with ``commute`` off no training problem is ever in the order the
  commute split uses.
* ``train`` is drawn from the rest. ``commute`` on adds the swapped form of every
  training problem; ``mixed_lengths`` on adds problems with one operand a digit
  shorter (4x4 gains 4x3, 2x1 gains 1x1), ``mixed_share`` times as many.
* A stage with ``shapes: every`` trains every shape (i, j) with i <= digits[0] and j <= digits[1] (i >= j for
  subtraction) in one stage, as the length-generalisation anchors sample every pair of lengths: ``train_size``
  problems split evenly over the shapes, a shape with fewer distinct problems repeated so that batches still
  draw every shape equally often. An unequal shape's problems are split between its two orders (never both
  orders of one problem). ``test`` is H of every shape (an even share of ``test_size`` each, fewer where H is
  smaller) and ``commute`` its swap, so with
  ``commute`` off no *problem* is trained in the order the commute split uses, although both orders of the
  *shape* are trained. The unseen pool holds U of every shape that has one, in both orders.
* Two graduation pools. ``train_pool`` is a sample of the stage's main-shape
  training problems in canonical order: the windows that measure *steps to fit*
  draw from it. ``unseen_pool`` is a third set U(op, shape), drawn like H from the data seed
  alone and, like H, never trained on in either order by any stage and disjoint
  from H: the windows that measure *steps to generalise* draw from it, and with
  ``graduation.pool: unseen`` (the default) the graduation rule decides on it, so
  graduating means having generalised, as in the write-up, where 4x4
  multiplication is far too large a space for a sampled problem to have been
  trained on. U takes at most ``POOL_SHARE`` of a shape's problems; a shape whose
  share is under ``MIN_POOL`` problems (the 1-digit facts: 55 problems, which
  cannot be inferred from one another) has no U, keeps every problem but H for
  training, and graduates on its train pool. Both pools are drawn whatever
  ``graduation.pool`` says, so the two settings train on the same problems.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .formats import COMMUTATIVE, Factors, render

ENUMERATE_LIMIT = 200_000  # shapes with fewer problems are enumerated, larger ones sampled
MAX_HOLDOUT_SHARE = 0.25  # tiny shapes (1+1 digits: 55 problems) keep most problems for training
POOL_SHARE = 0.125  # the unseen pool takes at most an eighth of a shape's problems (2x1: 112 of 900)
MIN_POOL = 100  # fewer would be used up by one graduation run (4 windows x 25 problems); 1x1 shapes have 6

COLUMNS = ["stage", "split", "op", "a", "b", "shape", "prompt", "completion"]
SPLITS = ("train", "train_pool", "unseen_pool", "test", "commute")  # one Parquet file each per data format and stage


@dataclass(frozen=True)
class Stage:
    name: str
    op: str
    digits: tuple[int, int]
    shapes: str = "single"  # single: the one shape ``digits``; every: every shape up to it (module docstring)

    @classmethod
    def from_config(cls, d: dict) -> Stage:
        digits = (int(d["digits"][0]), int(d["digits"][1]))
        return cls(name=d["name"], op=d["op"], digits=digits, shapes=d.get("shapes", "single"))

    def trained_shapes(self) -> list[tuple[int, int]]:
        """The (digits of a, digits of b) this stage trains, in its order."""
        return stage_shapes(self.op, self.digits, self.shapes)


def stage_shapes(op: str, digits: tuple[int, int] | list[int], shapes: str = "single") -> list[tuple[int, int]]:
    """The ordered shapes of a stage on ``digits``: that one, or with ``every`` every (i, j) up to it (i >= j for
    subtraction, whose answers are never negative)."""
    da, db = int(digits[0]), int(digits[1])
    if shapes == "single":
        return [(da, db)]
    return [(i, j) for i in range(1, da + 1) for j in range(1, db + 1) if op != "sub" or i >= j]


@dataclass(frozen=True)
class DataSettings:
    seed: int
    train_size: int
    pool_size: int
    test_size: int
    mixed_share: float


def digit_range(n: int) -> tuple[int, int]:
    """Inclusive range of n-digit numbers (1 digit includes 0)."""
    return (0 if n == 1 else 10 ** (n - 1)), 10**n - 1


def _rng(seed: int, *key: object) -> np.random.Generator:
    # crc32 of the key, not hash(): stable across processes and Python versions
    return np.random.default_rng([seed, zlib.crc32(repr(key).encode())])


def _space_size(op: str, da: int, db: int) -> int:
    (la, ha), (lb, hb) = digit_range(da), digit_range(db)
    na, nb = ha - la + 1, hb - lb + 1
    if da == db:  # canonical a >= b
        return na * (na + 1) // 2
    return na * nb


def _canonical(op: str, da: int, db: int, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if da == db:
        return np.maximum(a, b), np.minimum(a, b)
    return a, b


def _all_pairs(op: str, da: int, db: int) -> np.ndarray:
    (la, ha), (lb, hb) = digit_range(da), digit_range(db)
    a, b = np.meshgrid(np.arange(la, ha + 1), np.arange(lb, hb + 1), indexing="ij")
    a, b = a.ravel(), b.ravel()
    keep = a >= b if da == db else np.ones_like(a, dtype=bool)
    return np.stack([a[keep], b[keep]], axis=1).astype(np.int64)


def _sample_pairs(rng: np.random.Generator, op: str, da: int, db: int, n: int, exclude: set) -> np.ndarray:
    """n distinct canonical pairs of the shape, none in ``exclude``, in a seeded order."""
    space = _space_size(op, da, db)
    if space <= ENUMERATE_LIMIT:
        pairs = _all_pairs(op, da, db)
        pairs = pairs[rng.permutation(len(pairs))]
        keep = [i for i, (x, y) in enumerate(pairs) if (int(x), int(y)) not in exclude]
        return pairs[keep[:n]]
    (la, ha), (lb, hb) = digit_range(da), digit_range(db)
    out: list[tuple[int, int]] = []
    seen = set(exclude)
    while len(out) < n:
        a = rng.integers(la, ha + 1, size=2 * n)
        b = rng.integers(lb, hb + 1, size=2 * n)
        a, b = _canonical(op, da, db, a, b)
        for x, y in zip(a.tolist(), b.tolist(), strict=True):
            if (x, y) not in seen:
                seen.add((x, y))
                out.append((x, y))
                if len(out) == n:
                    break
    return np.array(out, dtype=np.int64).reshape(-1, 2)


def holdout(op: str, digits: tuple[int, int], data: DataSettings) -> np.ndarray:
    """Canonical pairs held out for this operation and unordered shape (never trained on): the test set."""
    da, db = sorted(digits, reverse=True)
    n = min(data.test_size, int(_space_size(op, da, db) * MAX_HOLDOUT_SHARE))
    return _sample_pairs(_rng(data.seed, "holdout", op, da, db), op, da, db, n, set())


def has_unseen_pool(op: str, digits: tuple[int, int]) -> bool:
    """Can this shape spare an unseen graduation pool (at least MIN_POOL problems in its POOL_SHARE)?"""
    da, db = sorted(digits, reverse=True)
    return int(_space_size(op, da, db) * POOL_SHARE) >= MIN_POOL


def unseen_pool(op: str, digits: tuple[int, int], data: DataSettings) -> np.ndarray:
    """Canonical pairs of this operation and unordered shape that generalisation windows sample: never trained on
    and disjoint from the test set; empty where the shape cannot spare them (``has_unseen_pool``)."""
    da, db = sorted(digits, reverse=True)
    if not has_unseen_pool(op, digits):
        return np.zeros((0, 2), dtype=np.int64)
    n = min(data.pool_size, int(_space_size(op, da, db) * POOL_SHARE))
    return _sample_pairs(_rng(data.seed, "unseen", op, da, db), op, da, db, n, _pairs(holdout(op, digits, data)))


def mixed_shape(digits: tuple[int, int]) -> tuple[int, int] | None:
    """The one-digit-shorter shape mixed in under ``mixed_lengths`` (None for 1x1)."""
    da, db = digits
    if db > 1:
        return da, db - 1
    if da > 1:
        return da - 1, db
    return None


def _pairs(arr: np.ndarray) -> set[tuple[int, int]]:
    return {(int(x), int(y)) for x, y in arr}


def _excluded(op: str, digits: tuple[int, int], data: DataSettings) -> set[tuple[int, int]]:
    """What no training set of this shape may hold: the test set and the unseen pool."""
    return _pairs(holdout(op, digits, data)) | _pairs(unseen_pool(op, digits, data))


def stage_problems(stage: Stage, factors: Factors, data: DataSettings) -> dict[str, np.ndarray]:
    """Operand pairs per split, as arrays of shape (n, 2)."""
    if stage.shapes == "every":
        return _every_shape_problems(stage, factors, data)
    op, digits = stage.op, stage.digits
    test = holdout(op, digits, data)
    train = _sample_pairs(
        _rng(data.seed, "train", stage.name, op, digits), op, *digits, data.train_size, _excluded(op, digits, data)
    )
    seen = train[: data.pool_size]  # the train pool: steps to fit
    parts = [train]
    if factors.mixed_lengths and (shape := mixed_shape(digits)) is not None:
        n_mixed = round(data.train_size * data.mixed_share)
        parts.append(
            _sample_pairs(
                _rng(data.seed, "mixed", stage.name, op, shape), op, *shape, n_mixed, _excluded(op, shape, data)
            )
        )
    pools = {"train_pool": seen, "unseen_pool": unseen_pool(op, digits, data)}
    return _splits(op, factors, np.concatenate(parts), pools, test)


def _splits(op: str, factors: Factors, train: np.ndarray, pools: dict, test: np.ndarray) -> dict[str, np.ndarray]:
    """The splits of a stage from its drawn problems: ``commute`` on trains each problem's swap too, and the commute
    split is every held-out problem swapped (a == b left out)."""
    commutative = op in COMMUTATIVE
    if factors.commute and commutative:
        train = np.concatenate([train, train[train[:, 0] != train[:, 1]][:, ::-1]])
    commute = test[test[:, 0] != test[:, 1]][:, ::-1] if commutative else np.zeros((0, 2), dtype=np.int64)
    return {"train": train, **pools, "test": test, "commute": np.ascontiguousarray(commute)}


def _unordered(stage: Stage) -> list[tuple[int, int]]:
    return sorted({(max(s), min(s)) for s in stage.trained_shapes()})


def _both_orders(pairs: np.ndarray, orders: int) -> list[np.ndarray]:
    """Canonical pairs of an unordered shape split between its ``orders`` written orders: the first part as drawn,
    the second swapped (shorter operand first), so no problem appears in both."""
    if orders == 1:
        return [pairs]
    first, second = np.array_split(pairs, 2)
    return [first, np.ascontiguousarray(second[:, ::-1])]


def _every_shape_problems(stage: Stage, factors: Factors, data: DataSettings) -> dict[str, np.ndarray]:
    """``stage_problems`` for ``shapes: every``: each ordered shape gets an even share of ``train_size`` (a shape
    with fewer distinct problems repeated up to it) and of the train pool, each unordered shape an even share of
    the test set (at most its held-out set) and of the unseen pool (among the shapes that have one), in its trained
    orders."""
    if factors.mixed_lengths:  # config relation every_shape_without_mixed_lengths
        raise ValueError(f"stage {stage.name} trains every shape: mixed_lengths has no shorter shape to add")
    op, ordered, unordered = stage.op, stage.trained_shapes(), _unordered(stage)
    per_shape = -(-data.train_size // len(ordered))
    with_pool = sum(has_unseen_pool(op, shape) for shape in unordered)
    per_pool, per_unseen = -(-data.pool_size // len(ordered)), -(-data.pool_size // max(with_pool, 1))
    train, train_pool, unseen, test = [], [], [], []
    for shape in unordered:
        orders = sum((max(s), min(s)) == shape for s in ordered)
        rng = _rng(data.seed, "train", stage.name, op, shape)
        drawn = _sample_pairs(rng, op, *shape, per_shape * orders, _excluded(op, shape, data))
        if len(drawn) < orders:
            raise ValueError(f"stage {stage.name}: shape {shape[0]}x{shape[1]} has no problem left to train on")
        for part in _both_orders(drawn, orders):
            train.append(np.resize(part, (per_shape, 2)))
            train_pool.append(part[:per_pool])
        test.append(holdout(op, shape, data)[: -(-data.test_size // len(unordered))])
        unseen.extend(_both_orders(unseen_pool(op, shape, data)[:per_unseen], orders))
    pools = {"train_pool": np.concatenate(train_pool), "unseen_pool": np.concatenate(unseen)}
    return _splits(op, factors, np.concatenate(train), pools, np.concatenate(test))


def longest_trained(stages: list[Stage], op: str) -> int:
    """The most digits any operand of ``op`` has in the curriculum (0: no stage of ``op``)."""
    return max((max(s.digits) for s in stages if s.op == op), default=0)


def length_cells(stages: list[Stage], op: str, max_digits: int) -> list[tuple[int, int, str]]:
    """The length split's cells of ``op``: every (digits of a, digits of b) up to ``max_digits`` (a >= b for
    subtraction), with its kind: *trained* (a stage's shape, in its order), *interpolation* (no longer than the
    curriculum's longest operand, but a shape or order no stage trains: 3x1, 1x3) or *extrapolation* (longer)."""
    trained = {shape for s in stages if s.op == op for shape in s.trained_shapes()}
    longest = longest_trained(stages, op)
    cells = []
    for da in range(1, max_digits + 1):
        for db in range(1, max_digits + 1):
            if op == "sub" and da < db:
                continue
            kind = "trained" if (da, db) in trained else "interpolation" if max(da, db) <= longest else "extrapolation"
            cells.append((da, db, kind))
    return cells


def length_problems(
    stages: list[Stage], length: dict, data: DataSettings
) -> dict[tuple[str, int, int, str], np.ndarray]:
    """The length split: per (op, digits of a, digits of b, kind), ``problems_per_cell`` pairs of the held-out set
    H(op, shape) written in the cell's order. H is never trained on in either order by any stage or variant (mixed
    lengths and commute included), and a trained cell's problems are its test set, so no problem here is ever
    trained on; they are the same problems in every format."""
    out = {}
    for op, max_digits in sorted(length["max_digits"].items()):
        for da, db, kind in length_cells(stages, op, max_digits):
            pairs = holdout(op, (da, db), data)[: length["problems_per_cell"]]
            out[(op, da, db, kind)] = np.ascontiguousarray(pairs if da >= db else pairs[:, ::-1])
    return out


def build_length(stages: list[Stage], length: dict, factors: Factors, data: DataSettings) -> pd.DataFrame:
    """The length split in one format: ``COLUMNS`` (stage = the op's ``length_<op>``, split = length) and ``kind``."""
    frames = []
    for (op, _, _, kind), pairs in length_problems(stages, length, data).items():
        df = render_split(Stage(f"length_{op}", op, (0, 0)), "length", pairs, factors)
        frames.append(df.assign(kind=kind))
    return pd.concat(frames, ignore_index=True)


def write_length(stages: list[dict], length: dict, factors: dict, data: dict, output: str) -> None:
    """Job entry point: the length split of the curriculum in one format (``build_length``)."""
    from ..core.io import provenance, stable_hash, write_parquet

    settings = {"stages": stages, "length": length, "factors": factors, "data": data}
    prov = provenance(variant="", seed=None, settings=settings, config_hash=stable_hash(settings))
    df = build_length([Stage.from_config(s) for s in stages], length, Factors(**factors), DataSettings(**data))
    write_parquet(df, output, prov)
    for (op, kind), g in df.groupby(["op", "kind"]):
        print(f"length split {op} [{kind}]: {g['shape'].nunique()} cells, {len(g)} problems")
    print(
        f"-> {output}; longest line: "
        f"{max((p + c for p, c in zip(df['prompt'], df['completion'], strict=True)), key=len)}"
    )


def render_split(stage: Stage, split: str, pairs: np.ndarray, factors: Factors) -> pd.DataFrame:
    rows = []
    for a, b in pairs.tolist():
        prompt, completion = render(a, stage.op, b, factors)
        rows.append((stage.name, split, stage.op, a, b, f"{len(str(a))}x{len(str(b))}", prompt, completion))
    return pd.DataFrame(rows, columns=COLUMNS).astype({"a": "int64", "b": "int64"})


def build_stage(stage: Stage, factors: Factors, data: DataSettings) -> dict[str, pd.DataFrame]:
    """Every split of one stage in one format, as DataFrames with ``COLUMNS``."""
    return {
        split: render_split(stage, split, pairs, factors)
        for split, pairs in stage_problems(stage, factors, data).items()
    }


def write_stage(stage: dict, factors: dict, data: dict, outputs: dict[str, str]) -> None:
    """Job entry point: build one stage in one format and write each split to ``outputs[split]``."""
    from ..core.io import provenance, stable_hash, write_parquet

    st = Stage.from_config(stage)
    f = Factors(**factors)
    settings = {"stage": stage, "factors": factors, "data": data}
    prov = provenance(variant="", seed=None, settings=settings, config_hash=stable_hash(settings))
    frames = build_stage(st, f, DataSettings(**data))
    for split, df in frames.items():
        write_parquet(df, outputs[split], prov)
        print(f"{st.name} [{split}]: {len(df)} problems -> {outputs[split]}")
    if len(frames["train"]):
        ex = frames["train"].iloc[0]
        print(f"example: {ex['prompt']}{ex['completion']}")
