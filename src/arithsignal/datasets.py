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
* ``valid`` is the pool graduation windows sample from: main-shape training
  problems in canonical order. As in the published rule, graduation is judged on
  the stage's own problem distribution (1-digit facts cannot be inferred from
  other facts, so a held-out pool would make small stages ungraduable);
  generalisation is measured on ``test`` and ``commute`` after training.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .formats import COMMUTATIVE, Factors, render

ENUMERATE_LIMIT = 200_000  # shapes with fewer problems are enumerated, larger ones sampled
MAX_HOLDOUT_SHARE = 0.25  # tiny shapes (1+1 digits: 55 problems) keep most problems for training

COLUMNS = ["stage", "split", "op", "a", "b", "shape", "prompt", "completion"]


@dataclass(frozen=True)
class Stage:
    name: str
    op: str
    digits: tuple[int, int]

    @classmethod
    def from_config(cls, d: dict) -> Stage:
        return cls(name=d["name"], op=d["op"], digits=(int(d["digits"][0]), int(d["digits"][1])))


@dataclass(frozen=True)
class DataSettings:
    seed: int
    train_size: int
    valid_size: int
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
    """Canonical pairs held out for this operation and unordered shape (never trained on)."""
    da, db = sorted(digits, reverse=True)
    n = min(data.test_size, int(_space_size(op, da, db) * MAX_HOLDOUT_SHARE))
    return _sample_pairs(_rng(data.seed, "holdout", op, da, db), op, da, db, n, set())


def mixed_shape(digits: tuple[int, int]) -> tuple[int, int] | None:
    """The one-digit-shorter shape mixed in under ``mixed_lengths`` (None for 1x1)."""
    da, db = digits
    if db > 1:
        return da, db - 1
    if da > 1:
        return da - 1, db
    return None


def _excluded(op: str, digits: tuple[int, int], data: DataSettings) -> set[tuple[int, int]]:
    return {(int(x), int(y)) for x, y in holdout(op, digits, data)}


def stage_problems(stage: Stage, factors: Factors, data: DataSettings) -> dict[str, np.ndarray]:
    """Operand pairs per split, as arrays of shape (n, 2)."""
    op, digits = stage.op, stage.digits
    test = holdout(op, digits, data)
    train = _sample_pairs(_rng(data.seed, "train", stage.name, op, digits), op, *digits, data.train_size, _excluded(op, digits, data))
    valid = train[: data.valid_size]
    parts = [train]
    if factors.mixed_lengths and (shape := mixed_shape(digits)) is not None:
        n_mixed = round(data.train_size * data.mixed_share)
        parts.append(_sample_pairs(_rng(data.seed, "mixed", stage.name, op, shape), op, *shape, n_mixed, _excluded(op, shape, data)))
    train = np.concatenate(parts)
    commutative = op in COMMUTATIVE
    if factors.commute and commutative:
        swapped = train[train[:, 0] != train[:, 1]][:, ::-1]
        train = np.concatenate([train, swapped])
    commute = test[test[:, 0] != test[:, 1]][:, ::-1] if commutative else np.zeros((0, 2), dtype=np.int64)
    return {"train": train, "valid": valid, "test": test, "commute": np.ascontiguousarray(commute)}


def render_split(stage: Stage, split: str, pairs: np.ndarray, factors: Factors) -> pd.DataFrame:
    rows = []
    for a, b in pairs.tolist():
        prompt, completion = render(a, stage.op, b, factors)
        rows.append((stage.name, split, stage.op, a, b, f"{len(str(a))}x{len(str(b))}", prompt, completion))
    return pd.DataFrame(rows, columns=COLUMNS).astype({"a": "int64", "b": "int64"})


def build_stage(stage: Stage, factors: Factors, data: DataSettings) -> dict[str, pd.DataFrame]:
    """Every split of one stage in one format, as DataFrames with ``COLUMNS``."""
    return {split: render_split(stage, split, pairs, factors) for split, pairs in stage_problems(stage, factors, data).items()}


def write_stage(stage: dict, factors: dict, data: dict, outputs: dict[str, str]) -> None:
    """Job entry point: build one stage in one format and write each split to ``outputs[split]``."""
    from .config import stable_hash
    from .io import provenance, write_parquet

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
