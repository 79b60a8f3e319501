"""The graduation rule, censoring, a real training run that graduates, and what training logs."""

import copy

import pandas as pd
import pytest
import torch

from arithsignal.core.io import CLOCK_COLUMNS
from arithsignal.data.formats import ROLE_ANSWER, ROLE_NONE, VOCAB, Factors, completion_roles, render
from arithsignal.data.splits import DataSettings, Stage, build_stage
from arithsignal.train.batches import make_batch, tensorise
from arithsignal.train.graduation import RunState
from arithsignal.train.loop import Trainer
from arithsignal.train.progress import PROGRESS_COLUMNS

SETTINGS = {
    "factors": {
        "carry_mask": True,
        "commas": False,
        "commute": False,
        "mixed_lengths": False,
        "scratchpad": True,
        "reverse": False,
    },
    "model": {"n_layer": 1, "n_head": 2, "d_model": 48, "block_size": 40, "dropout": 0.0},
    "optim": {
        "lr": 0.003,
        "weight_decay": 0.1,
        "beta1": 0.9,
        "beta2": 0.99,
        "grad_clip": 1.0,
        "warmup_steps": 20,
        "batch_size": 32,
        "schedule": "constant",
        "min_lr_ratio": 0.1,
        "decay_steps": None,
        "name": "adamw",
        "snr_threshold": 1.0,
        "vectors": {"lr_scale": 1.0, "weight_decay": 0.0},
    },
    "curriculum": {"replay_share": 0.25, "stage_budget": 1500, "hold_steps": 0},
    "graduation": {
        "problems_per_window": 10,
        "windows": 3,
        "window_every": 50,
        "score": "completion",
        "pool": "unseen",
    },
    "train": {
        "log_every": 25,
        "progress_every": 25,
        "snr_microbatches": 4,
        "update_threshold": 0.1,
    },
}
DATA = DataSettings(seed=1, train_size=400, pool_size=50, test_size=20, mixed_share=0.5)


def stages(*specs, unseen: bool = True, data: DataSettings = DATA, factors: Factors | None = None):
    """Each stage's tensors; ``unseen``: with its unseen pool (where the stage has one); in the default format unless
    ``factors`` say otherwise."""
    out = []
    for s in specs:
        fr = build_stage(s, factors or Factors(), data)
        out.append(tensorise(s.name, fr["train"], fr["train_pool"], fr["unseen_pool"] if unseen else None))
    return out


def test_a_failed_window_resets_the_count():
    t = RunState()
    t.stage_step = 50
    assert [t.record_window("unseen", p, 3) for p in [True, True, False, True, True]] == [False] * 5
    assert t.streaks == {"train": 0, "unseen": 2} and t.passed_at == {"train": None, "unseen": None}
    assert t.record_window("unseen", True, 3) is True
    assert t.passed_at["unseen"] == 50  # the stage step where the pool first passed the rule
    t.next_stage()
    fresh = ({"train": 0, "unseen": 0}, {"train": None, "unseen": None})
    assert (t.stage_index, t.stage_step, t.streaks, t.passed_at) == (1, 0, *fresh)


def test_graduation_needs_consecutive_windows():
    t = RunState()
    assert t.record_window("train", False, 1) is False
    assert t.record_window("train", True, 1) is True


def test_the_hold_never_sets_when_a_pool_passed():
    t = RunState(holding=True)
    assert t.record_window("train", True, 1) is True and t.passed_at["train"] is None


def test_smallest_stage_graduates_for_real_under_the_rule():
    tr = Trainer(
        SETTINGS, seed=0, stages=stages(Stage("add_1x1", "add", (1, 1))), device=torch.device("cpu"), log=lambda m: None
    )
    tr.run(checkpoint=None)
    g = tr.frames()["graduations"]
    w = tr.frames()["windows"]
    assert bool(g["graduated"].iat[0]), g
    # 1-digit facts have no unseen pool: the stage graduates on its training problems, and fitting is generalising
    assert g["pool"].iat[0] == "train" and not g["unseen_pool"].iat[0] and w["unseen_exact_match"].isna().all()
    steps = int(g["steps"].iat[0])
    assert g["fit_steps"].iat[0] == g["generalise_steps"].iat[0] == steps
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


def test_after_a_censored_stage_a_stopping_run_reaches_no_later_stage():
    """curriculum.after_censored: stop. The censored first stage is recorded as before; the later stages are not
    reached: no graduations row, no windows, no weights, no step trained on them (where continue trains them)."""
    s = copy.deepcopy(SETTINGS)
    s["curriculum"].update(stage_budget=60, after_censored="stop")
    s["graduation"].update(windows=2, window_every=30)
    st = stages(Stage("mul_2x2", "mul", (2, 2)), Stage("add_1x1", "add", (1, 1)), Stage("mul_2x1", "mul", (2, 1)))
    said = []
    tr = Trainer(s, seed=0, stages=st, device=torch.device("cpu"), log=said.append)
    tr.run(checkpoint=None, log_every=10)
    f = tr.frames()
    assert list(f["graduations"]["stage"]) == ["mul_2x2"] and f["graduations"]["censored"].all()
    assert set(f["windows"]["stage"]) == {"mul_2x2"} and set(f["train_log"]["stage"]) == {"mul_2x2"}
    assert tr.state.step == 60 and len(tr.stage_models) == 1
    assert any("add_1x1, mul_2x1 not reached" in m for m in said)
    s["curriculum"]["after_censored"] = "continue"
    go_on = Trainer(s, seed=0, stages=st, device=torch.device("cpu"), log=lambda m: None)
    go_on.run(checkpoint=None, log_every=10)
    assert list(go_on.frames()["graduations"]["stage"]) == ["mul_2x2", "add_1x1", "mul_2x1"]


def test_a_stopping_run_censored_at_its_last_stage_still_holds():
    """stop never acts on the last stage: the hold after it runs as before."""
    s = copy.deepcopy(SETTINGS)
    s["curriculum"].update(stage_budget=60, after_censored="stop", hold_steps=30)
    s["graduation"].update(windows=2, window_every=30)
    st = stages(Stage("mul_2x2", "mul", (2, 2)))
    tr = Trainer(s, seed=0, stages=st, device=torch.device("cpu"), log=lambda m: None)
    tr.run(checkpoint=None, log_every=10)
    assert tr.state.step == 90 and tr.frames()["windows"]["hold"].sum() == 1


def test_replay_share_of_the_batch_comes_from_earlier_stages():
    st = stages(Stage("add_1x1", "add", (1, 1)), Stage("mul_2x2", "mul", (2, 2)))
    gen = torch.Generator().manual_seed(0)
    b = make_batch(st, current=1, batch_size=40, replay_share=0.25, gen=gen)
    prompts = ["".join(VOCAB[i] for i in row) for row in b.x.tolist()]
    assert sum("+" in p for p in prompts) == 10
    for row, tgt, role, real in zip(b.x.tolist(), b.y.tolist(), b.role.tolist(), b.real.tolist(), strict=True):
        full = "".join(VOCAB[i] for i in row).rstrip("#").rstrip("$") + "$"  # the longest row's "$" is only a target
        n, eq = len(full) - 1, full.index("=")  # n inputs per problem
        # loss only on completion tokens: nothing before '=' is a target, everything after it up to "$" is
        assert (
            all(t == -100 for t in tgt[:eq]) and all(t != -100 for t in tgt[eq:n]) and all(t == -100 for t in tgt[n:])
        )
        assert real == [i < n for i in range(len(row))]  # padding and the end marker are not inputs
        # roles of the targets: target i is the token at position i + 1
        assert role[eq:n] == completion_roles(full[eq + 1 :])
        assert set(role[:eq]) <= {ROLE_NONE} and set(role[n:]) <= {ROLE_NONE}


def test_token_roles_mark_answer_carry_and_scratchpad():
    _, c = render(47, "mul", 38, Factors(carry_mask=True))
    assert c == "P376;P1410;C0000;S1786;A1786$"
    assert "".join(".sca"[r] for r in completion_roles(c)) == "sssssssssssccccccssssssaaaaaa"
    _, c = render(47, "add", 38, Factors(carry_mask=False))
    assert set(completion_roles(c)) == {ROLE_ANSWER}


def test_windows_record_what_the_rule_needs():
    tr = Trainer(
        SETTINGS, seed=0, stages=stages(Stage("add_1x1", "add", (1, 1))), device=torch.device("cpu"), log=lambda m: None
    )
    tr.run(checkpoint=None)
    w = tr.frames()["windows"]
    rule_columns = {"step", "stage", "pool", "exact_match", "answer_exact_match", "digit_accuracy", "passed", "streak"}
    assert rule_columns <= set(w.columns)
    per_pool = ("exact_match", "answer_exact_match", "digit_accuracy", "streak")
    assert {f"{p}_{k}" for p in ("train", "unseen") for k in per_pool} <= set(w.columns)
    assert ((w["exact_match"] == 1.0) == w["passed"]).all()  # the published rule: whole completions
    # add_1x1 has no unseen pool: the rule reads the train pool
    assert (w["exact_match"] == w["train_exact_match"]).all()
    assert (w["answer_exact_match"] >= w["exact_match"]).all()  # a right completion has a right answer
    assert list(w["window"]) == list(range(len(w))) and (w["stage_step"] == 50 * (w["window"] + 1)).all()
    log = tr.frames()["train_log"]
    assert (log["step"].iloc[:-1] % SETTINGS["train"]["log_every"] == 0).all() and log["step"].iloc[-1] == tr.state.step


def test_the_answer_score_graduates_on_answers_alone():
    s = copy.deepcopy(SETTINGS)
    s["graduation"]["score"] = "answer"
    tr = Trainer(
        s, seed=0, stages=stages(Stage("add_1x1", "add", (1, 1))), device=torch.device("cpu"), log=lambda m: None
    )
    tr.run(checkpoint=None)
    w = tr.frames()["windows"]
    assert ((w["answer_exact_match"] == 1.0) == w["passed"]).all()


def test_a_stage_with_a_budget_of_its_own_is_censored_there_and_its_schedule_runs_over_it():
    """stages[].budget: the second stage stops at its own 90 steps, the first at the curriculum's 60; the cosine
    schedule of each decays over its own budget (to min_lr at its last step)."""
    s = copy.deepcopy(SETTINGS)
    s["curriculum"]["stage_budget"] = 60
    s["graduation"].update(windows=2, window_every=30)
    s["optim"].update(schedule="cosine", warmup_steps=1, min_lr_ratio=0.1)
    s["stages"] = [{"name": "mul_2x2", "op": "mul", "digits": [2, 2]},
                   {"name": "mul_2x1", "op": "mul", "digits": [2, 1], "budget": 90}]  # fmt: skip
    st = stages(Stage("mul_2x2", "mul", (2, 2)), Stage("mul_2x1", "mul", (2, 1)))
    tr = Trainer(s, seed=0, stages=st, device=torch.device("cpu"), log=lambda m: None)
    tr.run(checkpoint=None, log_every=30)
    g = tr.frames()["graduations"]
    assert list(g["steps"]) == [60, 90] and list(g["end_step"]) == [60, 150] and g["censored"].all()
    log = tr.frames()["train_log"].set_index("step")["lr"]
    floor = s["optim"]["lr"] * 0.1
    assert log[60] == pytest.approx(floor, rel=0.01) and log[150] == pytest.approx(floor, rel=0.01)
    assert log[120] > 2 * floor  # two thirds into the second stage's 90 steps: not yet decayed


def test_learning_rate_schedules_restart_in_every_stage_and_decay_to_their_floor():
    from arithsignal.train.optim import learning_rate
    from arithsignal.train.settings import OptimSettings

    base = dict(SETTINGS["optim"], warmup_steps=1, lr=1.0, min_lr_ratio=0.1, decay_steps=100)
    const, cos, lin = (OptimSettings(**{**base, "schedule": k}) for k in ("constant", "cosine", "linear"))
    assert [learning_rate(const, 300, 500, t) for t in (0, 50, 200)] == [1.0, 1.0, 1.0]
    assert [learning_rate(cos, 300, 500, t) for t in (0, 50, 100, 250)] == pytest.approx([1.0, 0.55, 0.1, 0.1])
    assert [learning_rate(lin, 300, 500, t) for t in (0, 50, 100)] == pytest.approx([1.0, 0.55, 0.1])
    to_budget = OptimSettings(**{**base, "schedule": "linear", "decay_steps": None})
    assert learning_rate(to_budget, 300, 500, 150) == pytest.approx(0.55)
    warming = OptimSettings(**{**base, "warmup_steps": 10, "schedule": "cosine"})
    assert learning_rate(warming, 300, 4, 0) == pytest.approx(0.5)


@pytest.mark.parametrize("use_cache", [True, False])
def test_greedy_decode_paths_agree(use_cache):
    from arithsignal.model.decode import greedy_decode

    torch.manual_seed(0)
    tr = Trainer(
        SETTINGS, seed=0, stages=stages(Stage("add_1x1", "add", (1, 1))), device=torch.device("cpu"), log=lambda m: None
    )
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
        tr = Trainer(
            s, seed=3, stages=stages(Stage("add_2x2", "add", (2, 2))), device=torch.device("cpu"), log=lambda m: None
        )
        tr.run(checkpoint=None)
        return tr

    a, b = run(), run()
    for name, df in a.frames().items():
        pd.testing.assert_frame_equal(
            df.drop(columns=CLOCK_COLUMNS, errors="ignore"),
            b.frames()[name].drop(columns=CLOCK_COLUMNS, errors="ignore"),
        )
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def _progress_run(progress_every: int, carry_mask: bool = True):
    s = copy.deepcopy(SETTINGS)
    s["curriculum"]["stage_budget"] = 100
    s["train"].update(log_every=10, progress_every=progress_every)
    fr = build_stage(Stage("add_2x2", "add", (2, 2)), Factors(carry_mask=carry_mask), DATA)
    st = [tensorise("add_2x2", fr["train"], fr["train_pool"], fr["unseen_pool"])]
    tr = Trainer(s, seed=5, stages=st, device=torch.device("cpu"), log=lambda m: None)
    tr.run(checkpoint=None)
    return tr


def test_progress_measures_are_logged_at_the_configured_interval():
    log = _progress_run(progress_every=30).frames()["train_log"]
    measured = log[log["grad_snr_matrices"].notna()]
    assert list(measured["step"]) == [30, 60, 90]
    assert log.loc[log["step"] % 30 != 0, PROGRESS_COLUMNS].isna().all().all()  # and nowhere else
    assert (measured[PROGRESS_COLUMNS].notna()).all().all()
    for c in ("matrices", "vectors"):
        assert measured[f"update_share_{c}"].between(0, 1).all()
        assert (measured[f"grad_noise_{c}"] > 0).all()
    assert (measured["noise_scale_b_simple"] != 0).all()
    # the cheap measures are in every row; carry-mask tokens are counted on their own
    every_row = [
        "answer_token_accuracy",
        "scratchpad_token_accuracy",
        "carry_token_accuracy",
        "carry_loss",
        "weight_norm_vectors",
    ]
    assert log[every_row].notna().all().all()
    assert list(log["step"]) == list(range(10, 101, 10))


def test_progress_measures_do_not_change_training():
    on, off = _progress_run(progress_every=20), _progress_run(progress_every=0)
    assert off.frames()["train_log"][PROGRESS_COLUMNS].isna().all().all()
    for name, df in on.frames().items():
        drop = CLOCK_COLUMNS + PROGRESS_COLUMNS
        pd.testing.assert_frame_equal(
            df.drop(columns=drop, errors="ignore"), off.frames()[name].drop(columns=drop, errors="ignore")
        )
    assert all(
        torch.equal(a, b) for a, b in zip(on.model.state_dict().values(), off.model.state_dict().values(), strict=True)
    )


def test_without_a_carry_mask_there_are_no_carry_tokens():
    log = _progress_run(progress_every=0, carry_mask=False).frames()["train_log"]
    assert log["carry_token_accuracy"].isna().all() and log["answer_token_accuracy"].notna().all()


def test_unseen_windows_never_influence_a_run_that_graduates_on_its_training_problems():
    """Under graduation.pool: train the unseen pool is decoded at every window (steps to generalise) and decides
    nothing: with it or without it the run is the same run: equal training metrics, graduations and weights."""

    def run(unseen: bool) -> Trainer:
        s = copy.deepcopy(SETTINGS)
        s["curriculum"]["stage_budget"] = 200
        s["graduation"]["pool"] = "train"
        st = stages(Stage("add_1x1", "add", (1, 1)), Stage("add_2x2", "add", (2, 2)), unseen=unseen)
        tr = Trainer(s, seed=4, stages=st, device=torch.device("cpu"), log=lambda m: None)
        tr.run(checkpoint=None)
        return tr

    on, off = run(True), run(False)
    w = on.frames()["windows"]
    assert (
        w.loc[w["stage"] == "add_2x2", "unseen_exact_match"].between(0, 1).all()
        and len(w) == len(off.frames()["windows"]) > 0
    )
    assert off.frames()["windows"]["unseen_exact_match"].isna().all()
    unseen_columns = [c for c in w.columns if c.startswith("unseen_")]
    unseen_columns += ["generalise_steps", "generalise_censored", "unseen_pool"]
    for name, df in on.frames().items():
        drop = CLOCK_COLUMNS + unseen_columns
        pd.testing.assert_frame_equal(
            df.drop(columns=drop, errors="ignore"), off.frames()[name].drop(columns=drop, errors="ignore")
        )
    assert all(
        torch.equal(a, b) for a, b in zip(on.model.state_dict().values(), off.model.state_dict().values(), strict=True)
    )


def test_a_memorised_stage_fits_but_graduates_only_under_the_train_pool():
    """Thirty training problems are enough to memorise, far too few to generalise 2-digit addition from: the run
    graduates on its training problems under pool: train and is censored under pool: unseen, within the same budget,
    and both record when it fitted them."""
    tiny = DataSettings(seed=1, train_size=30, pool_size=30, test_size=20, mixed_share=0.5)
    graduations = {}
    for pool in ("train", "unseen"):
        s = copy.deepcopy(SETTINGS)
        s["curriculum"]["stage_budget"] = 1200
        s["graduation"]["pool"] = pool
        tr = Trainer(
            s,
            seed=0,
            stages=stages(Stage("add_2x2", "add", (2, 2)), data=tiny),
            device=torch.device("cpu"),
            log=lambda m: None,
        )
        tr.run(checkpoint=None)
        graduations[pool] = tr.frames()["graduations"].iloc[0]
    train, unseen = graduations["train"], graduations["unseen"]
    assert train["pool"] == "train" and bool(train["graduated"]) and not train["fit_censored"]
    assert train["steps"] == train["fit_steps"] < 1200
    assert (
        unseen["pool"] == "unseen"
        and bool(unseen["censored"])
        and unseen["steps"] == 1200
        and bool(unseen["generalise_censored"])
    )
    assert not unseen["fit_censored"] and unseen["fit_steps"] < 1200  # it fitted them, and never generalised
    assert unseen["fit_steps"] == train["fit_steps"]  # the same run up to there: the pool decides nothing before it


def test_a_reversed_run_is_scored_units_digit_first():
    """Windows of a reversed-format run read the answer backwards: digit accuracy is aligned at the units digit."""
    from arithsignal.model.decode import digit_accuracy

    assert digit_accuracy("A2196$", "A2196$", reverse=True) == 1.0
    assert digit_accuracy("A219$", "A2196$", reverse=True) == 0.75  # the thousands digit missing, the rest right
    assert digit_accuracy("A219$", "A2196$", reverse=False) == 0.0  # read forwards, every digit misaligned


def test_the_update_share_of_vectors_is_read_against_their_own_rate():
    """Vectors step at lr x optim.vectors.lr_scale: a step of 5 x update_threshold x lr is a small step for them at
    lr_scale 10 (not counted) and a large one for the matrices (counted)."""
    s = copy.deepcopy(SETTINGS)
    s["optim"]["vectors"] = {"lr_scale": 10.0, "weight_decay": 0.0}
    tr = Trainer(
        s, seed=0, stages=stages(Stage("add_1x1", "add", (1, 1))), device=torch.device("cpu"), log=lambda m: None
    )
    before, lr = tr.progress.snapshot(), 0.01
    with torch.no_grad():
        for p in tr.model.parameters():
            p += 5 * s["train"]["update_threshold"] * lr
    tr.progress.record_update(before, lr)
    assert tr.progress.pending["update_share_matrices"] == 1.0 and tr.progress.pending["update_share_vectors"] == 0.0


def test_steps_left_counts_every_stage_to_its_budget_then_the_hold():
    """The bound the log line and `watch` print: at stage 1, step 50, of budgets 100, 200, 300 with a hold of 40,
    200 - 50 + 300 + 40 steps; in the hold that began at the last stage's step 300, what is left of its 40."""
    from arithsignal.train.live import steps_left

    assert steps_left([100, 200, 300], 1, 50, 40) == 490
    assert steps_left([100, 200, 300], 2, 320, 40, hold_from=300) == 20


def test_a_stage_of_every_shape_trains_and_judges_every_shape_with_coupled_positions():
    """shapes: every through the real loop: one batch mixes lines of every length (trimmed to its longest), and the
    windows decode both pools, whose problems span the shapes, with coupled indices in a reversed format."""
    s = copy.deepcopy(SETTINGS)
    s["factors"]["reverse"] = True
    s["model"].update(positions="coupled", abacus_max_offset=4)
    s["curriculum"]["stage_budget"] = 60
    s["graduation"].update(windows=2, window_every=30)
    st = stages(Stage("add_upto_2x2", "add", (2, 2), "every"), factors=Factors(reverse=True))
    # "12+3=" and "1+23=", "12+34="; the 1-digit facts ("1+2=") have no unseen pool
    assert {len(p) for p in st[0].pools["unseen"]["prompt"]} == {5, 6}
    tr = Trainer(s, seed=0, stages=st, device=torch.device("cpu"), log=lambda m: None)
    tr.run(checkpoint=None, log_every=10)
    w = tr.frames()["windows"]
    assert len(w) == 2 and w["unseen_exact_match"].notna().all() and w["train_exact_match"].notna().all()
    assert set(st[0].pools["train"]["shape"]) == {"1x1", "1x2", "2x1", "2x2"}
