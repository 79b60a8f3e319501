"""Measures the all-or-nothing rule hides, derived from hand-made graduations and windows tables."""

import json
import math

import pandas as pd

from arithsignal.analysis.outcomes import stage_measures

SETTINGS = json.dumps({"graduation": {"windows": 2, "window_every": 100}, "curriculum": {"stage_budget": 600}})


def windows(stage, exact, answer):
    steps = [100 * (i + 1) for i in range(len(exact))]
    return pd.DataFrame({"variant": "v", "seed": 0, "stage": stage, "window": range(len(exact)), "stage_step": steps,
                         "exact_match": exact, "answer_exact_match": answer})  # fmt: skip


def graduations(**columns):
    n = len(columns["stage"])
    base = {"variant": "v", "seed": [0] * n, "stage_index": list(range(n)), "pool": "unseen", "unseen_pool": True,
            "budget": 600, "settings": SETTINGS}  # fmt: skip
    return pd.DataFrame({**base, **columns})


def test_answer_only_graduates_earlier_and_first_good_window_is_found():
    grads = graduations(stage=["a", "b"], steps=[500, 600], censored=[False, True], fit_steps=[400, 300],
                        fit_censored=[False, False], generalise_steps=[500, 600],
                        generalise_censored=[False, True])  # fmt: skip
    w = pd.concat(
        [
            # stage a: answers all right from window 2 on, whole completions from window 4: graduates at 500
            # (2 in a row)
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


def test_the_memorisation_phase_runs_from_fitting_to_generalising():
    grads = graduations(
        stage=["a", "b", "c", "d", "e", "f"],
        unseen_pool=[True, True, True, True, False, True],
        steps=[500, 300, 600, 600, 200, 400],
        censored=[False, False, True, True, False, False],
        fit_steps=[200, 300, 400, 600, 200, 400],
        fit_censored=[False, False, False, True, False, True],
        generalise_steps=[500, 300, 600, 600, 200, 400],
        generalise_censored=[False, False, True, True, False, False],
    )
    no_windows = pd.DataFrame(columns=["variant", "seed", "stage", "window", "stage_step"])
    m = stage_measures(grads, no_windows).set_index("stage")
    # fitted at 200, generalised at 500
    assert m.loc["a", "memorisation_steps"] == 300 and not m.loc["a", "memorisation_censored"]
    assert m.loc["b", "memorisation_steps"] == 0  # both in the same window: no memorisation phase
    # fitted, never generalised: >= 200
    assert m.loc["c", "memorisation_steps"] == 200 and m.loc["c", "memorisation_censored"]
    assert math.isnan(m.loc["d", "memorisation_steps"])  # never fitted: no phase to measure
    assert math.isnan(m.loc["e", "memorisation_steps"])  # no unseen pool (1-digit facts): not measured
    # generalised at 400 while the training sample had not yet passed (the stage ends there): no phase
    assert m.loc["f", "memorisation_steps"] == 0 and not m.loc["f", "memorisation_censored"]
