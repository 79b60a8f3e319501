"""Bootstrap intervals and censoring on synthetic data with known answers."""

import math

import numpy as np
import pandas as pd

from arithsignal.stats import format_ratio, median_ratio


def test_bootstrap_interval_covers_a_known_ratio():
    rng = np.random.default_rng(0)
    on = rng.lognormal(np.log(1000), 0.2, size=12)
    off = 3 * rng.lognormal(np.log(1000), 0.2, size=12)
    r = median_ratio(on, [False] * 12, off, [False] * 12, budget=10**6)
    assert r["ratio_kind"] == "estimate"
    assert r["ci_low"] < 3 < r["ci_high"]
    assert 2.3 < r["ratio"] < 3.9
    assert r["ci_high"] / r["ci_low"] < 2  # informative, not a trivially wide interval


def test_no_difference_gives_an_interval_around_one():
    rng = np.random.default_rng(1)
    a, b = rng.lognormal(7, 0.3, 15), rng.lognormal(7, 0.3, 15)
    r = median_ratio(a, [False] * 15, b, [False] * 15, budget=10**6)
    assert r["ci_low"] < 1 < r["ci_high"]


def test_censored_off_side_gives_a_lower_bound_never_a_number_at_the_budget():
    r = median_ratio([500, 600, 700], [False] * 3, [3000, 3000, 3000], [True] * 3, budget=3000)
    assert r["ratio_kind"] == "lower_bound"
    assert r["ratio"] == 3000 / 600
    assert math.isinf(r["median_off"]) and r["censored_off"] == 3
    assert math.isinf(r["ci_high"])
    assert 3000 / 700 <= r["ci_low"] <= 3000 / 600  # the bound's own interval, from the graduated side's spread
    assert format_ratio(r).startswith(">= 5.00")


def test_graduating_at_the_budget_against_censored_is_no_evidence():
    # on graduated exactly at the budget, off censored there: the ratio is only known to be >= 1
    r = median_ratio([300], [False], [300], [True], budget=300)
    assert r["ratio_kind"] == "lower_bound" and r["ci_low"] == 1.0 and math.isinf(r["ci_high"])


def test_censored_runs_are_kept_and_push_the_median_up():
    # two of three graduated: the median is the larger graduated value, not dragged down to the budget
    r = median_ratio([100, 100, 100], [False] * 3, [200, 3000, 400], [False, True, False], budget=3000)
    assert r["ratio_kind"] == "estimate" and r["ratio"] == 4.0
    assert r["n_off"] == 3 and r["censored_off"] == 1


def test_both_censored_is_undefined():
    r = median_ratio([10, 10], [True, True], [10, 10], [True, True], budget=10)
    assert r["ratio_kind"] == "undefined" and "undefined" in format_ratio(r)
    assert r["ci_low"] == 0 and math.isinf(r["ci_high"])  # nothing is known


def test_censored_on_side_gives_an_upper_bound():
    r = median_ratio([3000] * 3, [True] * 3, [1500] * 3, [False] * 3, budget=3000)
    assert r["ratio_kind"] == "upper_bound" and r["ratio"] == 0.5


def test_verdicts_follow_the_interval():
    import pandas as pd

    from arithsignal.summary import verdict

    rows = [
        {"stage": "s1", "ratio_kind": "estimate", "ci_low": 1.2, "ci_high": 3.0},
        {"stage": "s2", "ratio_kind": "estimate", "ci_low": 0.2, "ci_high": 0.9},
        {"stage": "s3", "ratio_kind": "lower_bound", "ci_low": 1.0, "ci_high": math.inf},
        {"stage": "s4", "ratio_kind": "undefined", "ci_low": 0.0, "ci_high": math.inf},
    ]
    v = verdict(pd.DataFrame(rows))
    assert v == "supported at 1 stage(s) (s1); contradicted at 1 stage(s) (s2); inconclusive at 2 stage(s) (s3, s4)"


def test_progress_table_measures_the_lead_of_token_accuracy_over_exact_match():
    from arithsignal.summary import progress_markdown

    steps = [100, 200, 300, 400]
    logs = pd.DataFrame(
        {
            "variant": "v", "seed": 0, "stage": "s", "step": steps, "stage_step": steps,
            "answer_token_accuracy": [0.5, 0.95, 0.97, 0.99],  # reaches 0.9 at 200
            "grad_snr_matrices": [0.1, 0.2, 0.3, float("nan")], "grad_snr_vectors": [1.0, 2.0, 0.1, float("nan")],
            "measure_time_s": [0, 1, 2, 3.0], "wall_time_s": [25, 50, 75, 100.0],
        }
    )  # fmt: skip
    windows = pd.DataFrame({"variant": "v", "seed": 0, "stage": "s", "stage_step": steps, "exact_match": [0.0, 0.2, 0.5, 0.92]})
    row = progress_markdown(logs, windows).splitlines()[-1]
    assert row == "| v | 1 | 1 | 200 | 0.2 | 1 | 67% | 3.0% |"


def test_steps_table_marks_censored_runs():
    from arithsignal.summary import steps_markdown

    grads = pd.DataFrame({"variant": "v", "seed": [0, 0], "stage": ["b", "a"], "steps": [300, 120], "censored": [True, False]})
    assert steps_markdown(grads, ["a", "b"]).splitlines()[-1] == "| v | 0 | 120 | 300+ |"
