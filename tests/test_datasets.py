"""Splits: deterministic, leak-free, and every generated example checks out arithmetically."""

import hashlib
import itertools

import numpy as np
import pytest
from conftest import ROOT, load_yaml

from arithsignal.config import effective_settings, factors_of, merged
from arithsignal.datasets import SPLITS, DataSettings, Stage, build_stage, has_unseen_pool, holdout, stage_problems, write_stage
from arithsignal.formats import Factors, check

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
    unordered = lambda arr: {frozenset(map(int, r)) if stage.op != "sub" else tuple(map(int, r)) for r in arr}  # noqa: E731
    train = {tuple(map(int, r)) for r in sp["train"]}
    assert not unordered(sp["test"]) & unordered(sp["train"]), "a test problem (in some order) is trained on"
    assert not unordered(sp["commute"]) & unordered(sp["train"])
    assert {tuple(map(int, r)) for r in sp["train_pool"]} <= train, "the train pool samples training problems"
    unseen = unordered(sp["unseen_pool"])
    assert not unseen & unordered(sp["train"]) and not unseen & unordered(sp["test"]) and not unseen & unordered(sp["commute"])
    assert bool(len(sp["unseen_pool"])) == has_unseen_pool(stage.op, stage.digits)
    if not factors.commute:
        assert not {tuple(map(int, r)) for r in sp["commute"]} & train
        # no b x a at all: every training problem has the longer (or larger) operand first
        assert all(len(str(a)) > len(str(b)) or (len(str(a)) == len(str(b)) and a >= b) for a, b in train)
    if stage.op == "sub":
        assert len(sp["commute"]) == 0
        assert (sp["train"][:, 0] >= sp["train"][:, 1]).all()


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
        write_stage({"name": "mul_2x2", "op": "mul", "digits": [2, 2]}, Factors(commas=True).__dict__, SMALL.__dict__, outputs)
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
    formats = {(f.commute, f.mixed_lengths) for v in cfg["variants"] for f in [factors_of(effective_settings(cfg, v["name"]))]}
    for s in map(Stage.from_config, cfg["stages"]):
        for commute, mixed in sorted(formats):
            factors = Factors(commute=commute, mixed_lengths=mixed)
            sp = stage_problems(s, factors, data)
            unseen = _unordered(sp["unseen_pool"], s.op)
            assert len(unseen) == len(sp["unseen_pool"]) and bool(unseen) == has_unseen_pool(s.op, s.digits), s
            for split in ("train", "test", "commute"):
                assert not unseen & _unordered(sp[split], s.op), (preset.name, s.name, split)
            assert np.array_equal(sp["test"], holdout(s.op, s.digits, data))
            assert np.array_equal(sp["test"], stage_problems(s, factors, no_pool)["test"])


def test_only_the_1_digit_facts_fall_back_to_their_training_problems():
    """The stages of the presets whose shapes cannot spare an unseen pool (docs/FORMAT.md lists them)."""
    shapes = {
        (s["op"], tuple(s["digits"])) for p in [ROOT / "config.yaml", *EVERY_PRESET] for s in merged(ROOT / "config.yaml", [p])["stages"]
    }
    assert {shape for shape in shapes if not has_unseen_pool(*shape)} == {(op, (1, 1)) for op, _ in shapes}
