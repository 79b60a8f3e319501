"""The graduation rule, censoring, and a real training run that graduates."""

import copy

import pandas as pd
import pytest
import torch

from arithsignal.datasets import DataSettings, Stage, build_stage
from arithsignal.formats import Factors
from arithsignal.train import GraduationTracker, Trainer, make_batch, tensorise

SETTINGS = {
    "model": {"n_layer": 1, "n_head": 2, "d_model": 48, "block_size": 40, "dropout": 0.0},
    "optim": {"lr": 0.003, "weight_decay": 0.1, "beta1": 0.9, "beta2": 0.99, "grad_clip": 1.0, "warmup_steps": 20, "batch_size": 32},
    "curriculum": {"replay_share": 0.25, "stage_budget": 1500},
    "graduation": {"problems_per_window": 10, "windows": 3, "window_every": 50},
    "train": {"log_every": 25, "checkpoint_every": 100},
}
DATA = DataSettings(seed=1, train_size=400, valid_size=50, test_size=20, mixed_share=0.5)


def stages(*specs):
    out = []
    for s in specs:
        fr = build_stage(s, Factors(), DATA)
        out.append(tensorise(s.name, fr["train"], fr["valid"]))
    return out


def test_a_failed_window_resets_the_count():
    t = GraduationTracker(windows=3)
    assert [t.update(p) for p in [True, True, False, True, True]] == [False] * 5
    assert t.streak == 2
    assert t.update(True) is True


def test_graduation_needs_consecutive_windows():
    t = GraduationTracker(windows=1)
    assert t.update(False) is False
    assert t.update(True) is True


def test_smallest_stage_graduates_for_real_under_the_rule():
    tr = Trainer(SETTINGS, seed=0, stages=stages(Stage("add_1x1", "add", (1, 1))), device=torch.device("cpu"), log=lambda m: None)
    tr.run(checkpoint=None, log_every=25)
    g = tr.frames()["graduations"]
    w = tr.frames()["windows"]
    assert bool(g["graduated"].iat[0]), g
    steps = int(g["steps"].iat[0])
    assert steps < SETTINGS["curriculum"]["stage_budget"]
    # graduation happened exactly at the 3rd consecutive perfect window, 50 steps apart
    last = w.tail(3)
    assert last["passed"].all() and list(last["stage_step"]) == [steps - 100, steps - 50, steps]
    assert steps % 50 == 0


def test_stage_not_graduating_is_censored_at_its_budget():
    s = copy.deepcopy(SETTINGS)
    s["curriculum"]["stage_budget"] = 60
    s["graduation"].update(windows=2, window_every=30)
    st = stages(Stage("mul_2x2", "mul", (2, 2)), Stage("mul_2x1", "mul", (2, 1)))
    tr = Trainer(s, seed=0, stages=st, device=torch.device("cpu"), log=lambda m: None)
    tr.run(checkpoint=None, log_every=10)
    g = tr.frames()["graduations"]
    assert list(g["stage"]) == ["mul_2x2", "mul_2x1"]  # censored stages are recorded, and training moves on
    assert g["censored"].all() and not g["graduated"].any()
    assert list(g["steps"]) == [60, 60] and list(g["end_step"]) == [60, 120]
    assert len(tr.frames()["windows"]) == 4  # windows at stage steps 30 and 60 of each stage


def test_replay_share_of_the_batch_comes_from_earlier_stages():
    st = stages(Stage("add_1x1", "add", (1, 1)), Stage("mul_2x2", "mul", (2, 2)))
    gen = torch.Generator().manual_seed(0)
    x, y, is_answer = make_batch(st, current=1, batch_size=40, replay_share=0.25, gen=gen)
    prompts = ["".join("#0123456789+-*=;,CPSA$"[i] for i in row) for row in x.tolist()]
    assert sum("+" in p for p in prompts) == 10
    # loss only on completion tokens: nothing before '=' is a target
    for row, tgt in zip(x.tolist(), y.tolist(), strict=True):
        eq = row.index(14)  # '='
        assert all(t == -100 for t in tgt[:eq])
        assert tgt[eq] != -100
    # answer tokens: targets from the answer marker "A" (id 20) on; target i is the token at position i + 1
    for row, tgt, ans in zip(x.tolist(), y.tolist(), is_answer.tolist(), strict=True):
        a_pos = len(row) - 1 - row[::-1].index(20)
        assert [i for i, f in enumerate(ans) if f] == [i for i in range(a_pos - 1, len(tgt)) if tgt[i] != -100]


def test_windows_record_what_the_rule_needs():
    tr = Trainer(SETTINGS, seed=0, stages=stages(Stage("add_1x1", "add", (1, 1))), device=torch.device("cpu"), log=lambda m: None)
    tr.run(checkpoint=None)
    w = tr.frames()["windows"]
    assert {"step", "stage", "exact_match", "digit_accuracy", "passed", "streak"} <= set(w.columns)
    assert ((w["exact_match"] == 1.0) == w["passed"]).all()
    assert isinstance(tr.frames()["train_log"], pd.DataFrame)


@pytest.mark.parametrize("use_cache", [True, False])
def test_greedy_decode_paths_agree(use_cache):
    from arithsignal.decoding import greedy_decode

    torch.manual_seed(0)
    tr = Trainer(SETTINGS, seed=0, stages=stages(Stage("add_1x1", "add", (1, 1))), device=torch.device("cpu"), log=lambda m: None)
    prompts = ["1+2=", "12+34=", "9*9=", "5+5="]
    fast, ti, tv = greedy_decode(tr.model, prompts, 20, top_k=3, use_cache=True)
    slow, si, sv = greedy_decode(tr.model, prompts, 20, top_k=3, use_cache=use_cache)
    assert fast == slow
    for a, b in zip(tv, sv, strict=True):
        assert torch.allclose(torch.tensor(a), torch.tensor(b), atol=1e-5)


def test_same_settings_give_identical_metrics_and_weights_on_cpu():
    def run():
        s = copy.deepcopy(SETTINGS)
        s["curriculum"]["stage_budget"] = 150
        tr = Trainer(s, seed=3, stages=stages(Stage("add_2x2", "add", (2, 2))), device=torch.device("cpu"), log=lambda m: None)
        tr.run(checkpoint=None, log_every=25)
        return tr

    a, b = run(), run()
    for name, df in a.frames().items():
        pd.testing.assert_frame_equal(
            df.drop(columns=["wall_time_s"], errors="ignore"), b.frames()[name].drop(columns=["wall_time_s"], errors="ignore")
        )
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
