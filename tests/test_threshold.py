"""The threshold hypothesis (analysis/threshold.py) on planted per-seed accuracies: it finds what was planted, holds
its size at the design's seed count, and has the power it claims."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from arithsignal.analysis.confirm import OUTCOMES, decide, outcome_parts
from arithsignal.analysis.design import hypotheses
from arithsignal.analysis.threshold import assess_threshold, detectable_gap, logit, t_reading

ENTRY = {"name": "commute_accuracy", "variant": "baseline", "measure": "commute_exact_match", "threshold": 0.9,
         "stages": ["add_2x2", "add_3x3"]}  # fmt: skip
ANALYSIS = {"alpha": 0.05, "model": "lognormal", "family": [ENTRY]}
PROBLEMS = 200  # b×a problems per stage, as many as a default stage's commute split holds


def evals(accuracy: dict[str, list[float]], rng: np.random.Generator) -> pd.DataFrame:
    """A held-out evaluation table whose per-seed exact match at each stage's end is drawn around ``accuracy``."""
    rows = []
    for stage, per_seed in accuracy.items():
        for seed, p in enumerate(per_seed):
            correct = rng.random(PROBLEMS) < p
            rows.append(pd.DataFrame({"variant": "baseline", "seed": seed, "stage": stage, "when": "stage_end",
                                      "split": "commute", "correct": correct}))  # fmt: skip
            rows.append(rows[-1].assign(when="final"))  # what the test must not read
    return pd.concat(rows, ignore_index=True)


def decided(accuracy: dict[str, list[float]], seed: int = 0, m: int = 1) -> dict:
    (h,) = hypotheses(ANALYSIS)
    row = assess_threshold(evals(accuracy, np.random.default_rng(seed)), h, "baseline", m, 0.05)
    return decide([row], 0.05)[0]


def test_clearly_above_the_bar_is_held():
    r = decided({"add_2x2": [0.99, 0.98, 0.99, 0.97, 0.99], "add_3x3": [0.97, 0.99, 0.98, 0.99, 0.98]})
    assert r["outcome"] == "held" and r["ci_low"] > 0.9 and r["holm_p"] < 0.05


def test_clearly_below_the_bar_is_not_held():
    r = decided({"add_2x2": [0.99, 0.98, 0.99, 0.97, 0.99], "add_3x3": [0.55, 0.6, 0.5, 0.62, 0.58]})
    assert r["outcome"] == "not held" and r["ci_high"] < 0.9
    assert "add_3x3 0.5" in json.dumps(json.loads(r["values"])["stage_means"]) or r["estimate"] < 0.65


def test_straddling_the_bar_with_few_seeds_is_undecided():
    r = decided({"add_2x2": [0.97, 0.84, 0.93], "add_3x3": [0.95, 0.86, 0.92]})
    assert r["outcome"].startswith("undecided at this design") and r["ci_low"] < 0.9 < r["ci_high"]
    assert all(p in OUTCOMES for p in outcome_parts(r["outcome"]))


def test_the_worst_stage_decides_and_the_final_model_is_not_read():
    # every seed is perfect at add_2x2 and at the final model; add_3x3's end alone is below the bar
    r = decided({"add_2x2": [1.0] * 5, "add_3x3": [0.7] * 5})
    assert r["estimate"] == pytest.approx(0.7, abs=0.06) and r["outcome"] == "not held"
    checks = {c["check"]: c for c in json.loads(r["checks"])}
    assert checks["without add_3x3"]["estimate"] > 0.99  # the left-out reading sees add_2x2 alone
    assert r["fragility"].startswith("fragile")  # leaving add_3x3 out moves the decision


def test_a_stage_without_data_is_not_identified():
    (h,) = hypotheses(ANALYSIS)
    d = evals({"add_2x2": [0.99] * 5}, np.random.default_rng(0))
    r = decide([assess_threshold(d, h, "baseline", 1, 0.05)], 0.05)[0]
    assert not r["identified"] and "add_3x3" in r["outcome"]


def test_no_spread_is_exact():
    assert t_reading(np.ones(5), 0.9, 0.95).p_value == 0.0
    assert t_reading(np.full(5, 0.9), 0.9, 0.95).p_value == 1.0


def _false_decisions(draw, n: int, sims: int, log_odds: bool, seed: int = 1) -> float:
    """The share of simulated experiments (``n`` seeds drawn by ``draw``, each read on PROBLEMS problems) in which a
    t-test at 0.05 decides against a truth planted at the bar 0.9, on the log-odds or the raw scale."""
    rng = np.random.default_rng(seed)
    bar = logit(0.9) if log_odds else 0.9
    rejected = 0
    for _ in range(sims):
        k = rng.binomial(PROBLEMS, draw(rng, n))
        x = np.log((k + 0.5) / (PROBLEMS - k + 0.5)) if log_odds else k / PROBLEMS
        rejected += t_reading(x, bar, 0.95).p_value < 0.05
    return rejected / sims


SIMS = 2000
WITHIN = 0.05 + 2 * math.sqrt(0.05 * 0.95 / SIMS)  # alpha and two standard errors of a simulated share


@pytest.mark.parametrize("n, sd", [(5, 0.5), (6, 1.0), (10, 1.0)])
def test_size_at_the_bar_is_within_alpha(n, sd):
    """The design's seed counts, seeds whose typical model sits at the bar (log-odds normal around logit 0.9, with a
    spread of 0.5 or 1.0: accuracies of about 0.85-0.94 or 0.77-0.96 for the middle two thirds), each read on 200
    problems: 'held' or 'not held' at most about alpha of the time."""
    draw = lambda rng, k: expit_array(rng.normal(logit(0.9), sd, k))  # noqa: E731
    assert _false_decisions(draw, n, SIMS, log_odds=True) < WITHIN


def test_a_t_test_on_raw_accuracies_would_not_hold_its_size():
    """Why the log-odds: at a mean accuracy of exactly 0.9 with a skewed (Beta) spread of sd 0.08 over 5 seeds, the
    raw t-test decides far more often than alpha (about 9% false 'held' alone)."""
    a = 0.9 * (0.9 * 0.1 / 0.08**2 - 1)
    draw = lambda rng, k: rng.beta(a, a / 9, size=k)  # noqa: E731
    assert _false_decisions(draw, 5, SIMS, log_odds=False) > WITHIN


def expit_array(x):
    return 1 / (1 + np.exp(-x))


def test_power_matches_the_detectable_gap():
    """At the gap detectable_gap reports for 80% power, simulated experiments decide about 80% of the time."""
    n, sd, level = 5, 0.5, 0.01
    gap = detectable_gap(n, sd, level)
    rng = np.random.default_rng(2)
    hits = sum(t_reading(rng.normal(gap, sd, n), 0.0, 1 - level).p_value < level for _ in range(SIMS))
    assert abs(hits / SIMS - 0.8) < 0.04, (gap, hits / SIMS)
