"""Splits: deterministic, leak-free, and every generated example checks out arithmetically."""

import hashlib
import itertools
from collections import Counter

import numpy as np
import pytest
from conftest import ROOT, load_yaml

from arithsignal.config.experiment import effective_settings, factors_of, merged
from arithsignal.data.formats import Factors, check
from arithsignal.data.splits import (
    SPLITS,
    DataSettings,
    Stage,
    build_stage,
    has_unseen_pool,
    holdout,
    stage_problems,
    write_stage,
)

PRESETS = [ROOT / "config.yaml", ROOT / "tests/config/smoke.yaml"]
EVERY_PRESET = sorted([ROOT / "tests/config/smoke.yaml", *(ROOT / "presets").glob("*.yaml")])
SMALL = DataSettings(seed=3, train_size=400, pool_size=50, test_size=60, mixed_share=0.5)
SHAPES = [
    Stage("add_1x1", "add", (1, 1)),
    Stage("add_3x2", "add", (3, 2)),
    Stage("sub_2x2", "sub", (2, 2)),
    Stage("mul_2x1", "mul", (2, 1)),
    Stage("mul_2x2", "mul", (2, 2)),
    Stage("mul_4x4", "mul", (4, 4)),
]
ALL_FACTORS = [Factors(*bits) for bits in itertools.product([False, True], repeat=4)]


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.name)
def test_every_example_of_the_presets_checks_out(preset):
    cfg = load_yaml(preset)
    data = DataSettings(**cfg["data"])
    for v in cfg["variants"]:
        factors = factors_of(effective_settings(cfg, v["name"]))
        for s in cfg["stages"]:
            frames = build_stage(Stage.from_config(s), factors, data)
            for _split, df in frames.items():
                for line in df["prompt"] + df["completion"]:
                    check(line, factors)
            assert len(frames["train"]) and len(frames["test"]), s["name"]


@pytest.mark.parametrize("stage", SHAPES, ids=lambda s: s.name)
@pytest.mark.parametrize("factors", ALL_FACTORS, ids=str)
def test_splits_are_leak_free(stage, factors):
    sp = stage_problems(stage, factors, SMALL)

    def unordered(arr):
        return {frozenset(map(int, r)) if stage.op != "sub" else tuple(map(int, r)) for r in arr}

    train = {tuple(map(int, r)) for r in sp["train"]}
    assert not unordered(sp["test"]) & unordered(sp["train"]), "a test problem (in some order) is trained on"
    assert not unordered(sp["commute"]) & unordered(sp["train"])
    assert {tuple(map(int, r)) for r in sp["train_pool"]} <= train, "the train pool samples training problems"
    unseen = unordered(sp["unseen_pool"])
    assert (
        not unseen & unordered(sp["train"])
        and not unseen & unordered(sp["test"])
        and not unseen & unordered(sp["commute"])
    )
    assert bool(len(sp["unseen_pool"])) == has_unseen_pool(stage.op, stage.digits)
    if not factors.commute:
        assert not {tuple(map(int, r)) for r in sp["commute"]} & train
        # no b x a at all: every training problem has the longer (or larger) operand first
        assert all(len(str(a)) > len(str(b)) or (len(str(a)) == len(str(b)) and a >= b) for a, b in train)
    if stage.op == "sub":
        assert len(sp["commute"]) == 0
        assert (sp["train"][:, 0] >= sp["train"][:, 1]).all()


EVERY_SHAPE = [
    Stage("add_upto_3x3", "add", (3, 3), "every"),
    Stage("sub_upto_2x2", "sub", (2, 2), "every"),
    Stage("mul_upto_2x1", "mul", (2, 1), "every"),
]


def _shape(a: int, b: int) -> tuple[int, int]:
    return len(str(a)), len(str(b))


@pytest.mark.parametrize("stage", EVERY_SHAPE, ids=lambda s: s.name)
@pytest.mark.parametrize("factors", [Factors(), Factors(commute=True)], ids=str)
def test_a_stage_of_every_shape_trains_each_shape_equally_and_leaks_nothing(stage, factors):
    """shapes: every trains every (i, j) up to its digits (i >= j for sub), each shape equally often (1x1 addition
    has 42 problems left for 45 rows: they repeat), never a test, commute or unseen-pool problem in either order,
    and with commute off never both orders of one problem; its test set and its pools cover every shape."""
    sp = stage_problems(stage, factors, SMALL)
    shapes = set(stage.trained_shapes())
    grid = {(i, j) for i in range(1, stage.digits[0] + 1) for j in range(1, stage.digits[1] + 1)}
    assert shapes == ({(i, j) for i, j in grid if i >= j} if stage.op == "sub" else grid)
    counts = Counter(_shape(a, b) for a, b in sp["train"].tolist())
    swapped = {(j, i) for i, j in shapes} if factors.commute and stage.op != "sub" else set()
    assert set(counts) == shapes | swapped
    if factors == Factors():
        assert len(set(counts.values())) == 1, counts
        train = {tuple(r) for r in sp["train"].tolist()}
        assert not {(b, a) for a, b in train if a != b} & train, "a problem is trained in both orders"
    for split in ("test", "commute", "unseen_pool"):
        assert not _unordered(sp[split], stage.op) & _unordered(sp["train"], stage.op), split
    assert {_shape(a, b) for a, b in sp["train_pool"].tolist()} == shapes
    assert {tuple(sorted(_shape(a, b), reverse=True)) for a, b in sp["test"].tolist()} == {
        (max(s), min(s)) for s in shapes
    }
    assert {_shape(a, b) for a, b in sp["unseen_pool"].tolist()} == {s for s in shapes if has_unseen_pool(stage.op, s)}
    if stage.op == "sub":
        assert len(sp["commute"]) == 0 and (sp["train"][:, 0] >= sp["train"][:, 1]).all()
    for df in build_stage(stage, factors, SMALL).values():
        for line in df["prompt"] + df["completion"]:
            check(line, factors)


def test_a_stage_of_every_shape_refuses_mixed_lengths():
    """It trains every shorter shape already (config relation every_shape_without_mixed_lengths refuses it first)."""
    with pytest.raises(ValueError, match="mixed_lengths"):
        stage_problems(EVERY_SHAPE[0], Factors(mixed_lengths=True), SMALL)


def test_the_length_split_counts_every_shape_of_an_every_stage_as_trained():
    from arithsignal.data.splits import length_cells

    cells = length_cells([Stage("add_upto_3x3", "add", (3, 3), "every")], "add", 5)
    assert {(da, db) for da, db, kind in cells if kind == "trained"} == {(i, j) for i in (1, 2, 3) for j in (1, 2, 3)}
    assert {kind for da, db, kind in cells if max(da, db) > 3} == {"extrapolation"}


def test_commute_adds_the_swapped_problems():
    stage = Stage("mul_2x2", "mul", (2, 2))
    off = stage_problems(stage, Factors(commute=False), SMALL)["train"]
    on = stage_problems(stage, Factors(commute=True), SMALL)["train"]
    expected = {tuple(r) for r in off.tolist()} | {(b, a) for a, b in off.tolist()}
    assert {tuple(r) for r in on.tolist()} == expected


def test_mixed_lengths_adds_shorter_problems_only_to_training():
    stage = Stage("mul_2x2", "mul", (2, 2))
    sp = stage_problems(stage, Factors(mixed_lengths=True), SMALL)
    shapes = {(len(str(a)), len(str(b))) for a, b in sp["train"].tolist()}
    assert shapes == {(2, 2), (2, 1)}
    assert {(len(str(a)), len(str(b))) for a, b in sp["test"].tolist()} == {(2, 2)}


def test_test_problems_do_not_depend_on_the_format():
    stage = Stage("add_3x2", "add", (3, 2))
    tests = [stage_problems(stage, f, SMALL)["test"] for f in ALL_FACTORS]
    assert all(np.array_equal(tests[0], t) for t in tests)


def test_same_config_gives_byte_identical_files(tmp_path):
    def digest(out_dir):
        outputs = {s: str(out_dir / f"{s}.parquet") for s in SPLITS}
        write_stage(
            {"name": "mul_2x2", "op": "mul", "digits": [2, 2]}, Factors(commas=True).__dict__, SMALL.__dict__, outputs
        )
        return [hashlib.sha256(open(p, "rb").read()).hexdigest() for p in outputs.values()]

    assert digest(tmp_path / "a") == digest(tmp_path / "b")


def _unordered(pairs: np.ndarray, op: str) -> set:
    return {frozenset(map(int, r)) if op != "sub" else tuple(map(int, r)) for r in pairs}


@pytest.mark.parametrize("preset", [ROOT / "config.yaml", *EVERY_PRESET], ids=lambda p: p.name)
def test_every_preset_graduates_on_problems_never_trained_on(preset):
    """Every stage of every preset, in every format its variants train on: the unseen pool is disjoint from the
    training set and from the test and commute splits as unordered pairs (so commute on cannot leak into it, nor
    mixed lengths), it exists exactly where the shape can spare it, and the test split is the held-out set drawn
    before it: the same whatever the pool's size, and the same under graduation.pool: train, whose data are these."""
    cfg = merged(ROOT / "config.yaml", [preset])
    data = DataSettings(**cfg["data"])
    no_pool = DataSettings(**{**cfg["data"], "pool_size": 1})
    formats = {
        (f.commute, f.mixed_lengths) for v in cfg["variants"] for f in [factors_of(effective_settings(cfg, v["name"]))]
    }
    for s in map(Stage.from_config, cfg["stages"]):
        for commute, mixed in sorted(formats):
            factors = Factors(commute=commute, mixed_lengths=mixed)
            sp = stage_problems(s, factors, data)
            unseen = _unordered(sp["unseen_pool"], s.op)
            assert len(unseen) == len(sp["unseen_pool"]) and bool(unseen) == has_unseen_pool(s.op, s.digits), s
            for split in ("train", "test", "commute"):
                assert not unseen & _unordered(sp[split], s.op), (preset.name, s.name, split)
            if s.shapes == "single":
                assert np.array_equal(sp["test"], holdout(s.op, s.digits, data))
            assert np.array_equal(sp["test"], stage_problems(s, factors, no_pool)["test"])


def test_only_the_1_digit_facts_fall_back_to_their_training_problems():
    """The stages of the presets whose shapes cannot spare an unseen pool (docs/FORMAT.md lists them)."""
    shapes = {
        (s["op"], tuple(s["digits"]))
        for p in [ROOT / "config.yaml", *EVERY_PRESET]
        for s in merged(ROOT / "config.yaml", [p])["stages"]
    }
    assert {shape for shape in shapes if not has_unseen_pool(*shape)} == {(op, (1, 1)) for op, _ in shapes}


LENGTH_PRESETS = [p for p in EVERY_PRESET if "length" in load_yaml(p)]


@pytest.mark.parametrize("preset", LENGTH_PRESETS, ids=lambda p: p.stem)
def test_the_length_split_is_never_trained_in_either_order(preset):
    """No problem of the length split is in any training set of any stage, in either order, in any variant's format
    (mixed lengths and commute included), and the split has every cell up to the longest tested, with its kind."""
    from arithsignal.data.splits import build_length, length_cells, longest_trained

    cfg = merged(ROOT / "config.yaml", [preset])
    st = [Stage.from_config(s) for s in cfg["stages"]]
    data = DataSettings(**cfg["data"])
    trained = set()
    for s in st:
        # mixed lengths wherever the config allows it (never with a stage of every shape)
        for f in (Factors(commute=True, mixed_lengths=s.shapes != "every"), Factors()):
            for a, b in stage_problems(s, f, data)["train"].tolist():
                trained |= {(s.op, a, b), (s.op, b, a)}
    df = build_length(st, cfg["length"], Factors(), data)
    assert not {(o, a, b) for o, a, b in zip(df["op"], df["a"], df["b"], strict=True)} & trained
    for op, n in cfg["length"]["max_digits"].items():
        cells = {(da, db): kind for da, db, kind in length_cells(st, op, n)}
        got = df[df["op"] == op]
        assert set(got["shape"]) == {f"{da}x{db}" for da, db in cells}
        assert all(got.groupby("shape")["kind"].nunique() == 1)
        longest = longest_trained(st, op)
        for (da, db), kind in cells.items():
            assert kind == ("trained" if (da, db) in {d for s in st if s.op == op for d in s.trained_shapes()} else
                            "interpolation" if max(da, db) <= longest else "extrapolation")  # fmt: skip


def test_the_length_split_has_the_cells_and_arithmetic_it_says():
    from arithsignal.data.splits import build_length

    st = [Stage("add_1x1", "add", (1, 1)), Stage("add_2x2", "add", (2, 2)), Stage("sub_2x1", "sub", (2, 1))]
    spec = {"max_digits": {"add": 4, "sub": 3}, "problems_per_cell": 20, "solved_at": 0.9}
    data = DataSettings(seed=3, train_size=200, pool_size=20, test_size=50, mixed_share=0.5)
    for f in (Factors(), Factors(reverse=True, commas=True), Factors(scratchpad=False)):
        df = build_length(st, spec, f, data)
        for line in df["prompt"] + df["completion"]:
            check(line, f)  # the parser checks every line arithmetically
        assert all(len(str(a)) == int(s.split("x")[0]) and len(str(b)) == int(s.split("x")[1])
                   for a, b, s in zip(df["a"], df["b"], df["shape"], strict=True))  # fmt: skip
        add, sub = df[df["op"] == "add"], df[df["op"] == "sub"]
        assert add["shape"].nunique() == 16 and set(add.loc[add["kind"] == "trained", "shape"]) == {"1x1", "2x2"}
        assert set(add.loc[add["kind"] == "interpolation", "shape"]) == {"1x2", "2x1"}
        assert set(sub["shape"]) == {"1x1", "2x1", "2x2", "3x1", "3x2", "3x3"} and (sub["a"] >= sub["b"]).all()
        assert set(sub.loc[sub["kind"] == "trained", "shape"]) == {"2x1"}
        assert (add.groupby("shape").size().drop("1x1") == 20).all()
    # the same problems in every format, and a trained cell's problems are that stage's test set
    plain, other = (
        build_length(st, spec, Factors(), data),
        build_length(st, spec, Factors(reverse=True, commas=True), data),
    )
    assert plain[["op", "a", "b"]].equals(other[["op", "a", "b"]])
    test = stage_problems(st[1], Factors(), data)["test"][:20].tolist()
    assert plain[(plain["op"] == "add") & (plain["shape"] == "2x2")][["a", "b"]].to_numpy().tolist() == test
