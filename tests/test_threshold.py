"""The threshold hypothesis (analysis/threshold.py) on planted per-seed accuracies: it finds what was planted, holds
its size at the design's seed count, and has the power it claims."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from arithsignal.analysis.confirm import OUTCOMES, decide, outcome_parts
from arithsignal.analysis.design import hypotheses
from arithsignal.analysis.threshold import assess_threshold, combined, detectable_gap, logit, t_reading

ENTRY = {"name": "commute_accuracy", "variant": "baseline", "measure": "commute_exact_match", "threshold": 0.9,
         "stages": ["add_2x2", "add_3x3"]}  # fmt: skip
ANALYSIS = {"alpha": 0.05, "model": "lognormal", "family": [ENTRY]}
PROBLEMS = 293  # b×a problems per stage: a default stage's commute split (test_size 300, a == b left out)


def evals(accuracy: dict[str, list[float]], rng: np.random.Generator) -> pd.DataFrame:
    """A held-out evaluation table whose per-seed exact match at each stage's end is drawn around ``accuracy``; the
    final model's rows are all wrong, so a test that read them would see it."""
    rows = []
    for stage, per_seed in accuracy.items():
        for seed, p in enumerate(per_seed):
            correct = rng.random(PROBLEMS) < p
            rows.append(pd.DataFrame({"variant": "baseline", "seed": seed, "stage": stage, "when": "stage_end",
                                      "split": "commute", "correct": correct}))  # fmt: skip
            rows.append(rows[-1].assign(when="final", correct=False))
            rows.append(rows[-2].assign(split="test", correct=False))  # another measure: not read either
    return pd.concat(rows, ignore_index=True)


def decided(accuracy: dict[str, list[float]], seed: int = 0, m: int = 1, seeds=None) -> dict:
    (h,) = hypotheses(ANALYSIS)
    row = assess_threshold(evals(accuracy, np.random.default_rng(seed)), h, "baseline", m, 0.05, seeds)
    return decide([row], 0.05)[0]


def test_clearly_above_the_bar_at_every_stage_is_held():
    r = decided({"add_2x2": [0.99, 0.98, 0.99, 0.97, 0.99], "add_3x3": [0.97, 0.99, 0.98, 0.99, 0.98]})
    assert r["outcome"] == "held" and r["ci_low"] > 0.9 and r["holm_p"] < 0.05
    assert all(p in OUTCOMES for p in outcome_parts(r["outcome"]))


def test_clearly_below_the_bar_at_one_stage_is_not_held():
    r = decided({"add_2x2": [0.99, 0.98, 0.99, 0.97, 0.99], "add_3x3": [0.55, 0.6, 0.5, 0.62, 0.58]})
    assert r["outcome"] == "not held" and r["ci_high"] < 0.9
    assert json.loads(r["values"])["stage_means"]["add_3x3"] == pytest.approx(0.57, abs=0.05)


def test_straddling_the_bar_with_few_seeds_is_undecided():
    r = decided({"add_2x2": [0.97, 0.84, 0.93], "add_3x3": [0.95, 0.86, 0.92]})
    assert r["outcome"].startswith("undecided at this design") and r["ci_low"] < 0.9 < r["ci_high"]
    assert all(p in OUTCOMES for p in outcome_parts(r["outcome"]))


def test_the_lowest_stage_is_reported_and_only_stage_ends_of_the_measure_are_read():
    # every seed is near perfect at add_2x2; add_3x3's end alone is below the bar; the final model is all wrong
    r = decided({"add_2x2": [0.995] * 5, "add_3x3": [0.7] * 5})
    assert r["estimate"] == pytest.approx(0.7, abs=0.03) and r["outcome"] == "not held"
    typical = json.loads(r["values"])["typical"]
    assert typical["add_2x2"] > 0.98 and typical["add_3x3"] == pytest.approx(r["estimate"])
    checks = {c["check"]: c for c in json.loads(r["checks"])}
    assert checks["without add_3x3"]["estimate"] > 0.98  # the left-out reading sees add_2x2 alone
    assert r["fragility"].startswith("fragile")  # leaving add_3x3 out moves the decision


def test_its_interval_is_the_family_s_level():
    accuracy = {"add_2x2": [0.97, 0.9, 0.95, 0.93, 0.96], "add_3x3": [0.96, 0.92, 0.94, 0.97, 0.95]}
    one, five = decided(accuracy, m=1), decided(accuracy, m=5)
    assert five["ci_low"] < one["ci_low"] < one["ci_high"] < five["ci_high"]
    assert five["estimate"] == one["estimate"] and five["p_value"] == one["p_value"]  # Holm applies m, not assess


def test_a_stage_or_a_seed_without_data_is_not_identified():
    (h,) = hypotheses(ANALYSIS)
    d = evals({"add_2x2": [0.99] * 5}, np.random.default_rng(0))
    r = decide([assess_threshold(d, h, "baseline", 1, 0.05)], 0.05)[0]
    assert not r["identified"] and "add_3x3" in r["outcome"]
    r = decided({"add_2x2": [0.99] * 5, "add_3x3": [0.99] * 5}, seeds=[0, 1, 2, 3, 4, 5])
    assert not r["identified"] and "no reading for seeds [5]" in r["outcome"]


def test_no_spread_is_exact():
    assert t_reading(np.ones(5), 0.9, 0.95).p_value == 0.0
    assert t_reading(np.full(5, 0.9), 0.9, 0.95).p_value == 1.0


SIMS = 2000
WITHIN = 0.05 + 2 * math.sqrt(0.05 * 0.95 / SIMS)  # alpha and two standard errors of a simulated share


def _decisions(truth, n: int, rule: str, seed: int = 1) -> tuple[float, float]:
    """The shares of simulated experiments that say held and not held: ``n`` seeds whose true accuracy at each of
    two stages ``truth(rng, n)`` draws, each read on PROBLEMS problems, decided at 0.05 by ``rule``: 'per stage' (the
    test itself), 'worst stage' (a t-test of each seed's lowest stage) or 'raw' (a t-test of raw accuracies)."""
    rng = np.random.default_rng(seed)
    held = not_held = 0
    for _ in range(SIMS):
        k = rng.binomial(PROBLEMS, truth(rng, n))  # (n, 2)
        odds = np.log((k + 0.5) / (PROBLEMS - k + 0.5))
        if rule == "per stage":
            p, r = combined([t_reading(odds[:, s], logit(0.9), 0.95) for s in range(2)], logit(0.9))
            above = r.estimate > logit(0.9)
        else:
            x, bar = (odds.min(axis=1), logit(0.9)) if rule == "worst stage" else ((k / PROBLEMS)[:, 0], 0.9)
            r = t_reading(x, bar, 0.95)
            p, above = r.p_value, r.estimate > bar
        held += p < 0.05 and above
        not_held += p < 0.05 and not above
    return held / SIMS, not_held / SIMS


def at_the_bar(spread: float):
    """Seeds whose typical model sits at the bar, the same at both stages, spread by ``spread`` in log-odds."""
    return lambda rng, n: np.repeat(1 / (1 + np.exp(-rng.normal(logit(0.9), spread, (n, 1)))), 2, axis=1)


@pytest.mark.parametrize("n, spread", [(5, 0.5), (6, 1.0), (6, 0.05), (10, 1.0)])
def test_size_at_the_bar_is_within_alpha(n, spread):
    """The design's seed counts, every stage at the bar: held or not held at most about alpha of the time."""
    assert sum(_decisions(at_the_bar(spread), n, "per stage")) < WITHIN


def test_each_seed_s_worst_stage_would_say_not_held_too_often():
    """Why per stage: the minimum of two noisy readings is biased low, most where the seeds agree."""
    held, not_held = _decisions(at_the_bar(0.05), 6, "worst stage")
    assert not_held > 0.2 and held < 0.01


def test_a_t_test_on_raw_accuracies_would_say_held_too_often():
    """Why log-odds: at a mean accuracy of exactly 0.9 with a skewed (Beta) spread of sd 0.08 over 5 seeds, the raw
    t-test says held far more often than the alpha / 2 it may."""
    a = 0.9 * (0.9 * 0.1 / 0.08**2 - 1)
    held, _ = _decisions(lambda rng, n: np.repeat(rng.beta(a, a / 9, (n, 1)), 2, axis=1), 5, "raw")
    assert held > 0.025 + 2 * math.sqrt(0.025 * 0.975 / SIMS)


def test_power_matches_the_detectable_gap():
    """At the gap detectable_gap reports for 80% power, simulated experiments decide about 80% of the time."""
    n, sd, level = 5, 0.5, 0.01
    gap = detectable_gap(n, sd, level)
    rng = np.random.default_rng(2)
    hits = sum(t_reading(rng.normal(gap, sd, n), 0.0, 1 - level).p_value < level for _ in range(SIMS))
    assert abs(hits / SIMS - 0.8) < 0.04, (gap, hits / SIMS)
