"""The optimisers (optim.py): the SNR gate on toy problems whose answer is known, per-class settings,
and a training run with the SNR-gated update, per-class settings and a hold after the last stage."""

import copy
import json

import pandas as pd
import pytest
import torch
from test_training import SETTINGS, stages

from arithsignal.analysis.outcomes import hold_measures, stage_measures, stage_windows
from arithsignal.core.io import CLOCK_COLUMNS
from arithsignal.data.splits import Stage
from arithsignal.model.gpt import GPT, ModelConfig
from arithsignal.train.loop import Trainer
from arithsignal.train.optim import SNRGatedAdamW, build_optimizer, set_lr, snr_gates
from arithsignal.train.settings import OptimSettings


def _train(make_opt, grads_of, steps: int = 300, dim: int = 4) -> list[torch.Tensor]:
    """Positions of one parameter vector after each step, its gradient given by ``grads_of(step)``."""
    p = torch.nn.Parameter(torch.zeros(dim))
    opt = make_opt([p])
    path = []
    for t in range(steps):
        p.grad = grads_of(t).clone()
        opt.step()
        path.append(p.detach().clone())
    return path


def _toy_gradients(seed: int = 0, steps: int = 300):
    """Coordinate 0: a clean signal (always 1); 1: a strong signal in noise (2 + N(0, 0.5)); 2-3: pure noise N(0, 1)."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(steps, 4, generator=g)
    grads = torch.stack([torch.ones(steps), 2 + 0.5 * noise[:, 1], noise[:, 2], noise[:, 3]], dim=1)
    return lambda t: grads[t]


def test_threshold_zero_is_adamw_bit_for_bit():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.LayerNorm(8), torch.nn.Linear(8, 3))
    twin = copy.deepcopy(model)

    def groups(m):
        return [
            {"params": [m[0].weight, m[2].weight], "weight_decay": 0.1},
            {"params": [m[0].bias, m[1].weight], "weight_decay": 0.0},
        ]

    ref = torch.optim.AdamW(groups(model), lr=3e-3, betas=(0.9, 0.99), foreach=True)
    ours = SNRGatedAdamW(groups(twin), lr=3e-3, betas=(0.9, 0.99), snr_threshold=0.0)
    gen = torch.Generator().manual_seed(1)
    for _ in range(40):
        x, y = torch.randn(16, 6, generator=gen), torch.randn(16, 3, generator=gen)
        for m, opt in ((model, ref), (twin, ours)):
            opt.zero_grad()
            torch.nn.functional.mse_loss(m(x), y).backward()
            opt.step()
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), twin.state_dict().values(), strict=True))


def test_clean_signals_move_as_under_adamw_and_pure_noise_is_damped():
    grads = _toy_gradients()
    adamw = _train(lambda ps: torch.optim.AdamW(ps, lr=0.01, betas=(0.9, 0.99), weight_decay=0.0, foreach=True), grads)
    gated = _train(lambda ps: SNRGatedAdamW(ps, lr=0.01, betas=(0.9, 0.99), weight_decay=0.0, snr_threshold=1.0), grads)
    # the clean coordinate takes AdamW's steps; the strong signal in noise (SNR 16) nearly so
    torch.testing.assert_close(torch.stack(gated)[:, 0], torch.stack(adamw)[:, 0])
    assert abs(gated[-1][1] - adamw[-1][1]) < 0.05 * abs(adamw[-1][1])
    # the pure-noise coordinates wander far less: their path length is a fraction of AdamW's
    length = lambda path: torch.stack(path).diff(dim=0).abs().sum(dim=0)  # noqa: E731
    assert (length(gated)[2:] < 0.2 * length(adamw)[2:]).all(), (length(gated), length(adamw))


def test_the_gate_is_snr_over_threshold_below_it_and_one_above():
    m = torch.tensor([1.0, 0.0, 0.5, 2.0])  # raw moments after one step are the bias-corrected ones at bias 1
    v = torch.tensor([1.0, 0.0, 1.25, 5.0])  # noise v - m^2: 0, 0, 1, 1
    (gate,) = snr_gates([m], [v], [1.0], [1.0], threshold=2.0)
    # SNR: inf (no noise), 0/0 (never a gradient: 0), 0.25, 4
    torch.testing.assert_close(gate, torch.tensor([1.0, 0.0, 0.125, 1.0]))


def _optim(**over) -> OptimSettings:
    return OptimSettings(**{**SETTINGS["optim"], **over})


@pytest.mark.parametrize("name", ["adamw", "snr_gated"])
def test_vectors_get_their_own_learning_rate_and_weight_decay(name):
    model = GPT(ModelConfig(vocab_size=10, block_size=8, n_layer=1, n_head=2, d_model=8))
    classes = model.param_classes()
    opt = build_optimizer(classes, _optim(name=name, weight_decay=0.1, vectors={"lr_scale": 3.0, "weight_decay": 0.01}))
    set_lr(opt, 0.002)
    matrices, vectors = opt.param_groups
    assert matrices["params"] == classes["matrices"] and vectors["params"] == classes["vectors"]
    assert (matrices["lr"], matrices["weight_decay"]) == (0.002, 0.1)
    assert (vectors["lr"], vectors["weight_decay"]) == (pytest.approx(0.006), 0.01)
    assert isinstance(opt, SNRGatedAdamW) == (name == "snr_gated")


def _run(hold_steps: int = 0, **optim) -> Trainer:
    s = copy.deepcopy(SETTINGS)
    s["curriculum"].update(stage_budget=150, hold_steps=hold_steps)
    s["optim"].update(optim)
    st = stages(Stage("add_1x1", "add", (1, 1)), Stage("add_2x2", "add", (2, 2)))
    tr = Trainer(s, seed=2, stages=st, device=torch.device("cpu"), log=lambda m: None)
    tr.run(checkpoint=None)
    return tr


def test_the_snr_gated_optimiser_and_per_class_settings_train_a_real_run():
    base = _run()
    gated = _run(name="snr_gated", snr_threshold=1.0, vectors={"lr_scale": 3.0, "weight_decay": 0.01})
    assert gated.frames()["train_log"]["loss"].iloc[-1] < gated.frames()["train_log"]["loss"].iloc[0]
    assert list(gated.frames()["graduations"]["stage"]) == ["add_1x1", "add_2x2"]
    assert not torch.equal(base.model.tok_emb.weight, gated.model.tok_emb.weight)


def test_a_hold_trains_on_after_the_last_stage_and_changes_nothing_before_it():
    plain, held = _run(), _run(hold_steps=100)
    g, w = held.frames()["graduations"], held.frames()["windows"]
    pd.testing.assert_frame_equal(g, plain.frames()["graduations"])  # the rule saw the same run
    hold = w[w["hold"]]
    assert list(hold["stage"].unique()) == ["add_2x2"] and len(hold) == 2  # windows every 50 steps over 100 steps
    assert hold["unseen_exact_match"].between(0, 1).all() and hold["train_exact_match"].between(0, 1).all()
    assert held.state.step == plain.state.step + 100
    pd.testing.assert_frame_equal(stage_windows(w).drop(columns="hold"), plain.frames()["windows"].drop(columns="hold"))
    log = held.frames()["train_log"]
    assert log["hold"].any() and log.loc[log["hold"], "step"].min() > plain.state.step
    # the tables the workflow reads: stage measures ignore the hold, hold_measures reads it
    prov = {"variant": "v", "seed": 2, "settings": json.dumps(SETTINGS)}
    measures = stage_measures(g.assign(**prov), w.assign(**prov))
    assert (measures["steps"] == g["steps"]).all()
    h = hold_measures(w.assign(**prov))
    assert len(h) == 1 and h["hold_steps"].iat[0] == 100 and -1 <= h["unseen_change"].iat[0] <= 1


def test_a_run_stopped_in_its_hold_resumes_to_the_same_run(tmp_path):
    full = _run(hold_steps=100)
    path = tmp_path / "checkpoint.pt"
    s = copy.deepcopy(SETTINGS)
    s["curriculum"].update(stage_budget=150, hold_steps=100)
    st = stages(Stage("add_1x1", "add", (1, 1)), Stage("add_2x2", "add", (2, 2)))
    first = Trainer(s, seed=2, stages=st, device=torch.device("cpu"), log=lambda m: None)
    first.run(checkpoint=path, checkpoint_every=full.state.step - 30)  # the checkpoint falls inside the hold
    assert torch.load(path, weights_only=True)["state"]["holding"]
    resumed = Trainer(s, seed=2, stages=st, device=torch.device("cpu"), log=lambda m: None)
    resumed.run(checkpoint=path, checkpoint_every=10_000)
    for name, df in full.frames().items():
        drop = {"columns": CLOCK_COLUMNS, "errors": "ignore"}
        pd.testing.assert_frame_equal(df.drop(**drop), resumed.frames()[name].drop(**drop))
