"""Bootstrap intervals and censoring on synthetic data with known answers."""

import math

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from arithsignal.analysis.stats import format_ratio, median_ratio


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


def test_complete_separation_at_5_vs_5_reaches_the_exact_minimum_p():
    from arithsignal.analysis.stats import gehan_test

    r = gehan_test([100, 200, 300, 400, 500], [False] * 5, [600, 700, 800, 900, 1000], [False] * 5)
    assert r["p_method"] == "exact" and r["n_splits"] == 252
    assert r["gehan_u"] == 25 and r["p_value"] == pytest.approx(2 / 252)
    # the same when the slower side never graduated: censored at the budget is surely later
    r = gehan_test([100, 200, 300, 400, 500], [False] * 5, [3000] * 5, [True] * 5)
    assert r["gehan_u"] == 25 and r["p_value"] == pytest.approx(2 / 252)
    # and the sign says which side was faster
    assert gehan_test([600, 700, 800, 900, 1000], [False] * 5, [100, 200, 300, 400, 500], [False] * 5)["gehan_u"] == -25


def test_identical_samples_give_p_one():
    from arithsignal.analysis.stats import gehan_test

    r = gehan_test([400, 500, 600], [False] * 3, [400, 500, 600], [False] * 3)
    assert r["gehan_u"] == 0 and r["p_value"] == 1.0


def test_three_against_three_cannot_reach_five_percent():
    from arithsignal.analysis.stats import gehan_test

    r = gehan_test([1, 2, 3], [False] * 3, [4, 5, 6], [False] * 3)
    assert r["p_value"] == pytest.approx(2 / 20)


def test_censoring_makes_pairs_unknown_not_ties_at_the_budget():
    from arithsignal.analysis.stats import gehan_test

    # a run censored at 300 vs one graduated at 500 (with a larger budget): order unknown, counts 0
    r = gehan_test([300], [True], [500], [False])
    assert r["gehan_u"] == 0
    # graduated at the budget vs censored at the budget: the graduated one was surely first
    assert gehan_test([300], [False], [300], [True])["gehan_u"] == 1


def test_large_samples_use_a_seeded_monte_carlo():
    from arithsignal.analysis.stats import gehan_test

    a = gehan_test(range(12), [False] * 12, range(100, 112), [False] * 12, seed=3)
    assert a["p_method"] == "monte_carlo" and a == gehan_test(
        range(12), [False] * 12, range(100, 112), [False] * 12, seed=3
    )
    assert a["p_value"] < 0.001


def test_kaplan_meier_counts_censored_runs_as_never_graduated():
    from arithsignal.analysis.stats import km_curve

    km = km_curve([100, 200, 300, 3000], [False, False, False, True])
    assert km.set_index("step")["graduated"].to_dict() == pytest.approx(
        {0: 0.0, 100: 0.25, 200: 0.5, 300: 0.75, 3000: 0.75}
    )


def _row(on, off, c_on, c_off):
    from arithsignal.analysis.stats import gehan_test

    r = gehan_test(on, c_on, off, c_off)
    return {**r, "n_on": len(on), "n_off": len(off), "censored_on": sum(c_on), "censored_off": sum(c_off)}


def test_the_verdict_rule():
    from arithsignal.analysis.stats import verdict_of

    fast, slow, c5 = [100, 120, 140, 160, 180], [900, 950, 1000, 1100, 1200], [False] * 5
    assert verdict_of(_row(fast, slow, c5, c5)) == "supported"
    assert verdict_of(_row(slow, fast, c5, c5)) == "contradicted"
    assert verdict_of(_row(fast, fast, c5, c5)) == "undecided (unadjusted)"
    assert verdict_of(_row([3000] * 5, [3000] * 5, [True] * 5, [True] * 5)) == "not testable"
    # 3 against 3 can never be decided, however clear the separation
    assert verdict_of(_row(fast[:3], slow[:3], c5[:3], c5[:3])) == "undecided (unadjusted)"


def test_ablation_table_reports_every_measure():
    from arithsignal.analysis.stats import ablation_table

    rows = []
    for side, base in (("on", 100), ("off", 1000)):
        for seed in range(5):
            rows.append({"side": side, "seed": seed, "stage": "s", "budget": 3000, "steps": base + seed,
                         "censored": False, "answer_steps": base, "answer_censored": False, "first_good_steps": 50,
                         "first_good_censored": False})  # fmt: skip
    t = ablation_table(pd.DataFrame(rows), ["s"]).iloc[0]
    assert t["verdict"] == "supported" and t["ratio"] == pytest.approx(1002 / 102)
    assert t["answer_verdict"] == "supported"
    assert t["first_good_verdict"] == "undecided (unadjusted)" and t["first_good_p_value"] == 1.0


def test_progress_table_measures_the_lead_of_token_accuracy_over_exact_match():
    from arithsignal.report.summary import progress_markdown

    steps = [100, 200, 300, 400]
    logs = pd.DataFrame(
        {
            "variant": "v", "seed": 0, "stage": "s", "step": steps, "stage_step": steps,
            "answer_token_accuracy": [0.5, 0.95, 0.97, 0.99],  # reaches 0.9 at 200
            "grad_snr_matrices": [0.1, 0.2, 0.3, float("nan")], "grad_snr_vectors": [1.0, 2.0, 0.1, float("nan")],
            "measure_time_s": [0, 1, 2, 3.0], "wall_time_s": [25, 50, 75, 100.0],
        }
    )  # fmt: skip
    windows = pd.DataFrame(
        {"variant": "v", "seed": 0, "stage": "s", "stage_step": steps, "exact_match": [0.0, 0.2, 0.5, 0.92]}
    )
    assert cells(progress_markdown(logs, windows))[-1] == ["v", "1", "1", "200", "0.2", "1", "67%", "3.0%"]


def test_steps_table_marks_censored_runs():
    from arithsignal.report.summary import steps_markdown

    graduations = pd.DataFrame(
        {"variant": "v", "seed": [0, 0], "stage": ["b", "a"], "steps": [300, 120], "censored": [True, False]}
    )
    table = cells(steps_markdown(graduations, ["a", "b"]))
    assert table == [["variant", "seed", "a", "b"], ["v", "0", "120", "300+"]]
    stopped = graduations.iloc[[1]].assign(seed=1)  # seed 1 stopped after a censored stage a: b not reached
    stopped["censored"] = True
    table = cells(steps_markdown(pd.concat([graduations, stopped]), ["a", "b"]))
    assert table[-1] == ["v", "1", "120+", "not reached"]


def cells(markdown: str) -> list[list[str]]:
    """A markdown table's rows as lists of stripped cells (the separator row left out)."""
    rows = [
        [c.strip() for c in line.strip().strip("|").split("|")]
        for line in markdown.splitlines()
        if line.startswith("|")
    ]
    return [r for r in rows if not all(set(c) <= set(":-") for c in r)]


def test_the_verdict_table_tells_same_data_from_missing_runs():
    from arithsignal.report.summary import verdicts_markdown

    stats = pd.DataFrame({"ablation": ["carry", "carry", "commas"], "stage": ["add_1x1", "mul_1x1", "add_1x1"],
                          "stage_index": [0, 1, 0], "sides_differ": [True, False, True],
                          "verdict": ["undecided (unadjusted)", "undecided (unadjusted)", "supported"]})  # fmt: skip
    row = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
           for line in verdicts_markdown(stats).splitlines()[2:]
           if line.startswith("|") and "---" not in line and "ablation" not in line}  # fmt: skip
    assert row["carry"] == ["undecided (unadjusted)", "(same data)"]
    assert row["commas"] == [
        "supported",
        "(no runs on one side)",
    ]  # commas has no mul_1x1 row at all: one side had no runs


def test_an_even_number_of_seeds_bounds_a_censored_median_by_what_the_data_give():
    """4 off runs: 1000, 1600, then two censored at 3000 would be >= 3000 by the budget alone; with one of the middle
    runs censored the median is at least halfway between 1600 and the budget, 2300."""
    from arithsignal.analysis.stats import median_ratio

    r = median_ratio(
        [1000, 1000, 1000, 1000], [False] * 4, [1000, 1600, 3000, 3000], [False, False, True, True], 3000, n_boot=50
    )
    assert r["ratio_kind"] == "lower_bound" and r["ratio"] == pytest.approx(2300 / 1000)
    r = median_ratio([1000] * 4, [False] * 4, [1000, 1600, 2000, 3000], [False, False, False, True], 3000, n_boot=50)
    assert r["ratio_kind"] == "estimate" and r["ratio"] == pytest.approx(1.8)


def test_a_stage_where_every_run_sits_at_the_floor_is_read_as_such():
    from arithsignal.analysis.stats import ablation_table

    rows = [{"side": side, "seed": seed, "stage": "s", "budget": 3000, "floor": 400, "window_every": 100, "steps": 400,
             "censored": False}
            for side in ("on", "off") for seed in range(5)]  # fmt: skip
    t = ablation_table(pd.DataFrame(rows), ["s"]).iloc[0]
    assert t["verdict"] == "at the floor" and t["ratio_text"] == "at the floor (every run at 400 steps)"


def test_every_claim_names_the_preset_that_measures_it():
    """A config without a claim's ablation says where it is measured: every claim has its preset, and it exists."""
    from arithsignal.report.claims import CLAIMS, NOT_MEASURED

    assert set(NOT_MEASURED) == set(CLAIMS)
    for where in NOT_MEASURED.values():
        assert (ROOT / where).exists(), where
