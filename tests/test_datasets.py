"""Splits: deterministic, leak-free, and every generated example checks out arithmetically."""

import hashlib
import itertools

import numpy as np
import pytest
from conftest import ROOT, load_yaml

from arithsignal.config import effective_settings, factors_of
from arithsignal.datasets import DataSettings, Stage, build_stage, stage_problems, write_stage
from arithsignal.formats import Factors, check

PRESETS = [ROOT / "config.yaml", ROOT / "tests/config/smoke.yaml"]
SMALL = DataSettings(seed=3, train_size=400, valid_size=50, test_size=60, mixed_share=0.5)
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
    assert {tuple(map(int, r)) for r in sp["valid"]} <= train, "windows sample training problems"
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
        outputs = {s: str(out_dir / f"{s}.parquet") for s in ("train", "valid", "test", "commute")}
        write_stage({"name": "mul_2x2", "op": "mul", "digits": [2, 2]}, Factors(commas=True).__dict__, SMALL.__dict__, outputs)
        return [hashlib.sha256(open(p, "rb").read()).hexdigest() for p in outputs.values()]

    assert digest(tmp_path / "a") == digest(tmp_path / "b")
