"""The confirmatory analysis on simulated censored data with planted answers: the fit, the permutation test's size
and power, its intervals, equivalence, identification, Holm and the outcomes."""

import math

import numpy as np
import pytest

from arithsignal.confirm import (
    OUTCOMES,
    Design,
    Hypothesis,
    assess,
    decide,
    holm,
    interval,
    outcome,
    outcome_parts,
    relabellings,
    statistics,
)
from arithsignal.power import Scenario, rejection_rate, simulate
from arithsignal.survival import FAMILIES, Intervals, fit_batch, grid_floor, lifelines_fit

ONE_SIZE = (math.log(1e5),)
TWO_SIZES = (math.log(25_000), math.log(100_000))


def scenario(**kw) -> Scenario:
    base = dict(median_steps=(1500, 2500), sigma=(0.25, 0.3), run_share=0.5, seeds=4, log_sizes=ONE_SIZE, size_slope=(0.0, 0.0),
                budget=3000, window_every=100, windows=4)  # fmt: skip
    return Scenario(**{**base, **kw})


@pytest.mark.parametrize("family", FAMILIES)
def test_the_batched_fit_finds_lifelines_maximum(family):
    d = simulate(scenario(ratio=1.5, seeds=5), np.random.default_rng(1))
    on = d.z[d.row_run].astype(float)
    S = d.stage_onehot()
    fit = fit_batch(family, d.y, np.column_stack([S, on]), S, grid_floor(d.y, d.stage))
    beta, ll, _ = lifelines_fit(family, d.y, {"z": on}, d.stage)
    assert fit.loglik[0] == pytest.approx(ll, abs=1e-6) and fit.beta[0, -1] == pytest.approx(beta["z"], abs=1e-4)


def test_the_fit_recovers_a_planted_pooled_effect_and_interaction():
    d = simulate(scenario(ratio=2.0, seeds=12, sigma=(0.15, 0.15), budget=20_000), np.random.default_rng(2))
    labels, _ = relabellings(d.z, d.stratum, n_mc=199)
    st = statistics(d, "effect", "lognormal", labels)
    assert math.exp(-st.estimate) == pytest.approx(2.0, rel=0.1) and st.p_two_sided() < 0.01
    lo, hi = interval(d, "effect", "lognormal", labels, 0.95, st.estimate)
    assert lo < -math.log(2.0) < hi
    sc = scenario(ratio=2.0, per_doubling=0.6, seeds=8, sigma=(0.15, 0.15), budget=20_000, log_sizes=TWO_SIZES, size_slope=(0.2, 0.2))
    d = simulate(sc, np.random.default_rng(3))
    labels, _ = relabellings(d.z, d.stratum, n_mc=199)
    st = statistics(d, "size_interaction", "lognormal", labels)
    assert math.exp(-st.estimate * math.log(2)) == pytest.approx(0.6, rel=0.15) and st.p_two_sided() < 0.05


def test_the_permutation_test_holds_its_size_under_no_effect():
    """300 simulated experiments with no effect (4 runs a side, 70 relabellings, enumerated): the test rejects at 0.05
    about as often as it should, and never much more (a permutation test is exact: at most 0.05 up to discreteness)."""
    rate = rejection_rate(scenario(), "effect", 0.05, n_sims=300, n_mc=69, seed=4)["power"]
    assert 0.005 <= rate <= 0.08, rate


def test_the_interaction_test_holds_its_size_under_a_large_pooled_effect():
    """The interaction's nuisance is the pooled effect: removed before permuting, with both sides then observed alike
    (between the stage's highest floor and lowest budget). With a 4x effect and no interaction, and floor and budget
    censoring on both sides, the test rejects about as often as it should."""
    sc = scenario(ratio=4.0, seeds=3, log_sizes=TWO_SIZES, size_slope=(0.3, 0.3))
    rate = rejection_rate(sc, "size_interaction", 0.1, n_sims=120, n_mc=99, seed=5)["power"]
    assert rate <= 0.19, rate  # 0.1 plus 3 standard errors of 120 simulations


def test_the_permutation_test_detects_a_large_effect():
    assert rejection_rate(scenario(ratio=2.5, seeds=5), "effect", 0.05, n_sims=60, n_mc=199, seed=6)["power"] >= 0.8


def test_simulated_power_is_not_capped_by_too_few_relabellings():
    """At 5 runs a side the real test enumerates 252 relabellings (smallest two-sided p 2/252); a simulation drawing
    199 could not resolve p below about 1/200 and capped the power near 0.73 at alpha/3, whatever the effect."""
    assert rejection_rate(scenario(ratio=5.0, seeds=5), "effect", 0.05 / 3, n_sims=30, n_mc=199, seed=7)["power"] >= 0.95


def _hypothesis_outcome(sc: Scenario, seed: int) -> dict:
    d = simulate(sc, np.random.default_rng(seed))
    h = Hypothesis("carry", "effect", ("a", "b"), smallest_effect=1.25, claimed=4.8)
    return decide([assess(d, h, m=1, alpha=0.05, n_mc=199)], 0.05)[0]


def test_equivalence_is_declared_on_tight_null_data_and_not_on_wide():
    tight = _hypothesis_outcome(scenario(sigma=(0.03, 0.03), seeds=6, budget=20_000), 7)
    assert "equivalent" in outcome_parts(tight["outcome"]) and "claimed size excluded" in outcome_parts(tight["outcome"])
    assert tight["ci_low"] > 0.8 and tight["ci_high"] < 1.25
    wide = _hypothesis_outcome(scenario(sigma=(0.6, 0.6), seeds=4, budget=20_000), 8)
    assert "equivalent" not in outcome_parts(wide["outcome"]) and "effect" not in outcome_parts(wide["outcome"])


def test_a_variant_graduated_at_one_size_is_not_identified():
    """The factor-off side graduates only at the larger size: its size slope, and so the interaction, cannot be fixed."""
    rows = {k: [] for k in ("run", "stage", "z", "log_n", "steps", "censored")}
    run = 0
    for log_n in TWO_SIZES:
        for z in (0, 1):
            for i in range(3):
                graduated = z == 1 or log_n == TWO_SIZES[1]
                for k, v in zip(rows, (run, 0, z, log_n, 1000 + 100 * i if graduated else 3000, not graduated), strict=True):
                    rows[k].append(v)
                run += 1
    d = Design.from_rows(*rows.values(), 100, 3000, 400)
    assert d.identified("effect") == (True, "") and not d.identified("size_interaction")[0]
    row = decide([assess(d, Hypothesis("carry", "size_interaction", ("a",), 1.25), m=1, alpha=0.05)], 0.05)[0]
    assert math.isnan(row["estimate"]) and row["outcome"].startswith("undecided at this design (not identified")


def test_holm_on_a_hand_made_family():
    assert holm([0.01, 0.04, 0.03]).tolist() == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.001]).tolist() == pytest.approx([0.5, 0.002])


def test_every_outcome_is_made_of_the_four():
    cases = [(0.01, (2.0, 3.0), (2.1, 2.9), 4.8), (0.01, (3.0, 6.0), (3.2, 5.5), 4.8), (0.5, (0.9, 1.1), (0.92, 1.08), 4.8),
             (0.5, (0.5, 2.0), (0.6, 1.8), None), (0.5, (0.5, 6.0), (0.6, 5.5), 4.8)]  # fmt: skip
    got = [outcome("effect", p, ci, tost, 1.25, claimed, 0.05) for p, ci, tost, claimed in cases]
    assert got == ["effect; claimed size excluded", "effect; consistent with the claimed size", "equivalent; claimed size excluded",
                   "undecided at this design", "undecided at this design"]  # fmt: skip
    assert all(part in OUTCOMES for text in got for part in outcome_parts(text))


def test_the_floor_and_the_budget_are_read_as_censoring():
    y = Intervals.from_steps([400, 1200, 3000], [False, False, True], 100, budget=3000, floor=400)
    assert y.lo[0] == -math.inf and y.hi[0] == pytest.approx(math.log(400))  # at the floor: any time up to it
    assert (y.lo[1], y.hi[1]) == pytest.approx((math.log(1100), math.log(1200)))  # a window of the grid
    assert y.lo[2] == pytest.approx(math.log(3000)) and y.hi[2] == math.inf  # censored: after the budget
