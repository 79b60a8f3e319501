"""Measures the all-or-nothing rule hides, derived from a hand-made windows table."""

import json

import pandas as pd
import pytest

from arithsignal.aggregate import stage_measures

SETTINGS = json.dumps({"graduation": {"windows": 2, "window_every": 100}, "curriculum": {"stage_budget": 600}})


def windows(stage, exact, answer, heldout=None):
    steps = [100 * (i + 1) for i in range(len(exact))]
    w = pd.DataFrame({"variant": "v", "seed": 0, "stage": stage, "window": range(len(exact)), "stage_step": steps,
                      "exact_match": exact, "answer_exact_match": answer})  # fmt: skip
    return w if heldout is None else w.assign(heldout_exact_match=heldout)


def test_answer_only_graduates_earlier_and_first_good_window_is_found():
    grads = pd.DataFrame({"variant": "v", "seed": [0, 0], "stage": ["a", "b"], "stage_index": [0, 1], "steps": [500, 600],
                          "censored": [False, True], "settings": SETTINGS})  # fmt: skip
    w = pd.concat(
        [
            # stage a: answers all right from window 2 on, whole completions from window 4: graduates at 500 (2 in a row)
            windows("a", [0.5, 0.8, 0.92, 1.0, 1.0], [0.9, 1.0, 1.0, 1.0, 1.0]),
            # stage b: never two perfect answer windows in a row, never 0.9: both censored at the stage's end
            windows("b", [0.1, 0.2, 0.3, 0.2, 0.1, 0.3], [1.0, 0.9, 1.0, 0.5, 1.0, 0.8]),
        ]
    )
    m = stage_measures(grads, w).set_index("stage")
    assert m.loc["a", "answer_steps"] == 300 and not m.loc["a", "answer_censored"]
    assert m.loc["a", "first_good_steps"] == 300 and not m.loc["a", "first_good_censored"]
    assert m.loc["a", "steps"] == 500 and m.loc["a", "budget"] == 600
    assert m.loc["b", "answer_censored"] and m.loc["b", "answer_steps"] == 600
    assert m.loc["b", "first_good_censored"] and m.loc["b", "first_good_steps"] == 600
    assert m["memorisation_gap"].isna().all() and m["memorisation_steps"].isna().all()  # no held-out windows: not measured


def test_memorisation_is_the_longest_stretch_of_a_large_train_heldout_gap():
    grads = pd.DataFrame({"variant": "v", "seed": [0, 0], "stage": ["a", "b"], "stage_index": [0, 1], "steps": [500, 400],
                          "censored": [False, False], "settings": SETTINGS})  # fmt: skip
    w = pd.concat(
        [
            # stage a: gaps 0.1, 0.4, 0.5, 0.2, 0.3 -> largest 0.5; stretches of >= 0.3 last 2 windows, then 1
            windows("a", [0.2, 0.6, 0.9, 1.0, 1.0], [0] * 5, heldout=[0.1, 0.2, 0.4, 0.8, 0.7]),
            # stage b: held-out keeps up with training (a gap of 0.25 at most): no memorisation phase
            windows("b", [0.2, 0.5, 1.0, 1.0], [0] * 4, heldout=[0.2, 0.25, 0.9, 1.0]),
        ]
    )
    m = stage_measures(grads, w).set_index("stage")
    assert m.loc["a", "memorisation_gap"] == pytest.approx(0.5) and m.loc["a", "memorisation_steps"] == 200
    assert m.loc["b", "memorisation_gap"] == pytest.approx(0.25) and m.loc["b", "memorisation_steps"] == 0
