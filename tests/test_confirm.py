"""The confirmatory analysis on simulated censored data with planted answers: the fit, the permutation test's size
and power, its intervals, equivalence, identification, Holm and the outcomes."""

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from arithsignal.analysis.confidence import intervals
from arithsignal.analysis.confirm import OUTCOMES, assess, decide, outcome, outcome_parts, per_size
from arithsignal.analysis.design import Design, Hypothesis
from arithsignal.analysis.permutation import relabellings, statistics
from arithsignal.analysis.power import rejection_rate
from arithsignal.analysis.simulation import SPREAD_KEYS, Scenario, simulate
from arithsignal.analysis.simulation import censored_counts as power_censored
from arithsignal.analysis.stats import holm
from arithsignal.analysis.survival import FAMILIES, Intervals, fit_batch, grid_floor, lifelines_fit
from arithsignal.report.decisions import interval_text

ONE_SIZE = (math.log(1e5),)
TWO_SIZES = (math.log(25_000), math.log(100_000))


def scenario(**kw) -> Scenario:
    base = dict(median_steps=(1500, 2500), sigma=(0.25, 0.3), run_share=0.5, seeds=4, log_sizes=ONE_SIZE,
                size_slope=(0.0, 0.0), budget=3000, window_every=100, windows=4)  # fmt: skip
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
    (iv,) = intervals(d, "effect", "lognormal", labels, [0.95], st.estimate)
    assert (iv.low_open or iv.low < -math.log(2.0)) and (iv.high_open or -math.log(2.0) < iv.high)  # open: unbounded
    sc = scenario(ratio=2.0, per_doubling=0.6, seeds=8, sigma=(0.15, 0.15), budget=20_000, log_sizes=TWO_SIZES,
                  size_slope=(0.2, 0.2))  # fmt: skip
    d = simulate(sc, np.random.default_rng(3))
    labels, _ = relabellings(d.z, d.stratum, n_mc=199)
    st = statistics(d, "size_interaction", "lognormal", labels)
    assert math.exp(-st.estimate * math.log(2)) == pytest.approx(0.6, rel=0.15) and st.p_two_sided() < 0.05


# The real design (issue 36): 4 runs a side at two sizes four doublings apart, the default's three judged stages, with
# the spread, size slopes and censoring measured on that run (docs/spreads/carry_sizes/carry.json, rounded).
# Relabellings are drawn (99) rather than enumerated (4,900) so that 300 simulated data sets take about a minute each.
REAL_SIZES = (math.log(6_592), math.log(100_096))
REAL = dict(median_steps=(2700, 3300, 5200), sigma=(0.23, 0.34, 0.29), run_share=0.35, seeds=4, log_sizes=REAL_SIZES,
            size_slope=(0.28, 0.33, 0.66), budget=6000, window_every=100, windows=4,
            anchor_log_size=REAL_SIZES[1])  # fmt: skip
SIZE_SIMS = 300


def _upper(level: float, n: int = SIZE_SIMS) -> float:
    """The most rejections a test of size ``level`` shows in ``n`` simulations, one-sided at about 1%."""
    return level + 2.33 * math.sqrt(level * (1 - level) / n)


def _null_p_values(sc: Scenario, kind: str, seed: int, strata: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided permutation p of SIZE_SIMS simulated experiments (99 relabellings each), and their censored cells.
    ``strata`` False permutes the runs across model sizes: a broken test, which the size tests must catch."""
    rng = np.random.default_rng(seed)
    p, censored = [], []
    for i in range(SIZE_SIMS):
        d = simulate(sc, rng)
        censored.append(power_censored(d))
        stratum = d.stratum if strata else np.zeros_like(d.stratum)
        labels, _ = relabellings(d.z, stratum, limit=100, n_mc=99, seed=seed + i)
        p.append(statistics(d, kind, "lognormal", labels).p_two_sided() if d.identified(kind)[0] else 1.0)
    return np.asarray(p), np.mean(censored, axis=0)


def test_the_pooled_test_holds_its_size_at_the_real_design():
    """300 simulated experiments of the default's design with no effect: the test rejects at most about as often as
    its level, at 0.05 and at alpha / m = 0.025 (a permutation test within size is exact up to discreteness)."""
    p, _ = _null_p_values(Scenario(**REAL), "effect", 40)
    for level in (0.05, 0.025):
        assert np.mean(p < level) <= _upper(level), (level, np.mean(p < level))


def test_the_size_check_fails_a_test_that_takes_a_run_s_stages_for_independent_runs():
    """The size check has teeth: a broken test that reads the likelihood ratio against its asymptotic normal law with
    every (run, stage) row as an independent unit, the run's shared part ignored (run share 0.35, as measured),
    rejects far more often than the bound at the real design (about 0.18 at 0.05 on these 300 sets). Permuting runs
    without strata would not be a broken test here: under no effect at all the labels are exchangeable across sizes
    too (tests/size_probes.py prints both)."""
    from scipy.stats import norm

    rng, p = np.random.default_rng(40), []
    for _ in range(SIZE_SIMS):
        d = simulate(Scenario(**REAL), rng)
        p.append(2 * norm.sf(abs(statistics(d, "effect", "lognormal", d.z[None, :]).r[0])))
    assert np.mean(np.asarray(p) < 0.05) > _upper(0.05) + 0.05, np.mean(np.asarray(p) < 0.05)


def test_the_interaction_test_holds_its_size_under_a_large_pooled_effect_and_heavy_censoring():
    """The interaction's nuisance is the pooled effect: removed before permuting, with both sides then read alike
    within each stage and size. With a 2x pooled effect, no interaction, and the small size's factor-off side
    censored in two thirds of its cells (the default's d=16 had 8 of 12), the test still rejects at most about as
    often as its level, at 0.05 and at alpha / m = 0.025. The scenario is chosen so that the interaction is
    identified in nearly every simulated set (a 4x effect censors the off side everywhere, and a test that never
    runs cannot fail)."""
    sc = replace(Scenario(**REAL), median_steps=(1200, 1500, 2000), ratio=2.0, anchor_side="on")
    p, censored = _null_p_values(sc, "size_interaction", 41)
    assert np.mean(p < 1) >= 0.9, np.mean(p < 1)  # tested (identified) in nearly every set
    assert censored[0][0] >= 6, censored  # heavy censoring at the small size, factor off (of 12 cells)
    for level in (0.05, 0.025):
        assert np.mean(p < level) <= _upper(level), (level, np.mean(p < level))


# The map's design (issue 41): four sizes, d_model 16, 24, 32 and 48 at 2 layers, and runs that stop after a censored
# stage (curriculum.after_censored: stop), so a run's later stages are missing, not censored.
MAP_SIZES = tuple(math.log(n) for n in (6_592, 14_500, 25_472, 56_600))
MAP = dict(median_steps=(3000, 3500), sigma=(0.25, 0.3), run_share=0.3, seeds=5, log_sizes=MAP_SIZES,
           size_slope=(0.5, 0.6), budget=(12_000, 12_000), window_every=100, windows=4,
           after_censored="stop")  # fmt: skip


def test_a_run_that_stops_after_a_censored_stage_has_no_later_rows_in_the_simulation():
    d = simulate(replace(Scenario(**MAP), budget=(2500, 2500)), np.random.default_rng(8))
    stopped = [r for r in range(len(d.z)) if not d.graduated[(d.row_run == r) & (d.stage == 0)].all()]
    assert stopped and all(((d.row_run == r) & (d.stage == 1)).sum() == 0 for r in stopped)


def test_a_planted_trend_over_the_map_s_four_sizes_is_detected():
    """The thesis as the family tests it (the size interaction): a mask effect that grows by 1/0.7 per halving of N,
    with the small sizes censored and stopping, is found with its size and rejected at 0.05."""
    d = simulate(Scenario(**{**MAP, "ratio": 1.5, "per_doubling": 0.7, "seeds": 6}), np.random.default_rng(9))
    labels, _ = relabellings(d.z, d.stratum, n_mc=199)
    st = statistics(d, "size_interaction", "lognormal", labels)
    assert math.exp(-st.estimate * math.log(2)) == pytest.approx(0.7, rel=0.15) and st.p_two_sided() < 0.05


def test_a_flat_effect_over_the_map_s_four_sizes_is_not_found_more_often_than_the_level():
    """No trend (a constant 2x effect at every size), heavy censoring at the small sizes and runs that stop there:
    the interaction test rejects at most about as often as its level (SIZE_SIMS simulated maps, 99 relabellings
    each)."""
    sc = replace(Scenario(**MAP), ratio=2.0, anchor_side="on", budget=(6000, 6000))
    rng, p, stops = np.random.default_rng(42), [], 0
    for i in range(SIZE_SIMS):
        d = simulate(sc, rng)
        stops += int(len(d.stage) < 2 * len(d.z))
        labels, _ = relabellings(d.z, d.stratum, limit=100, n_mc=99, seed=i)
        p.append(statistics(d, "size_interaction", "lognormal", labels).p_two_sided() if d.identified(
            "size_interaction")[0] else 1.0)  # fmt: skip
    assert stops >= SIZE_SIMS / 2, stops  # runs stopped in most simulated maps: the missing rows are exercised
    print(f"rejection rate {np.mean(np.asarray(p) < 0.05):.3f}, maps with a stopped run {stops}")
    assert np.mean(np.asarray(p) < 0.05) <= _upper(0.05), np.mean(np.asarray(p) < 0.05)


def test_the_permutation_test_detects_a_large_effect():
    assert rejection_rate(scenario(ratio=2.5, seeds=5), "effect", 0.05, n_sims=60, n_mc=199, seed=6)["power"] >= 0.8


def test_simulated_power_is_not_capped_by_too_few_relabellings():
    """At 5 runs a side the real test enumerates 252 relabellings (smallest two-sided p 2/252); a simulation drawing
    199 could not resolve p below about 1/200 and capped the power near 0.73 at alpha/3, whatever the effect."""
    found = rejection_rate(scenario(ratio=5.0, seeds=5), "effect", 0.05 / 3, n_sims=30, n_mc=199, seed=7)
    assert found["power"] >= 0.95


def test_the_simulated_interval_is_the_inverted_test_s_and_closed_without_censoring():
    """No censoring: every simulated interval closes, and its median half width sits near the normal approximation's
    (z * the estimates' spread), the width an exact inversion of the same test should have at 5 runs a side."""
    found = rejection_rate(scenario(seeds=5, budget=100_000), "effect", 0.05, n_sims=12, seed=3, interval_sims=4)
    assert found["intervals"] == 4 and found["intervals_unbounded"] == 0
    assert 0.5 < found["interval_half"] / (1.96 * found["estimate_sd"]) < 2.0, found


def test_open_intervals_count_as_unbounded_in_the_simulated_width():
    """The off side censored at nearly every stage: the analysis's interval is open above, and the simulated median
    width says unbounded rather than taking the median over the few closed intervals."""
    sc = scenario(seeds=4, ratio=3.0, median_steps=(1500, 2500), budget=1500)
    found = rejection_rate(sc, "effect", 0.05, n_sims=6, seed=4, interval_sims=6)
    assert found["intervals"] == 6 and found["intervals_unbounded"] > 3 and math.isinf(found["interval_half"]), found


def _hypothesis_outcome(sc: Scenario, seed: int) -> dict:
    d = simulate(sc, np.random.default_rng(seed))
    h = Hypothesis("carry", "effect", ("a", "b"), smallest_effect=1.25, claimed=4.8)
    return decide([assess(d, h, m=1, alpha=0.05, n_mc=199)], 0.05)[0]


def test_equivalence_is_declared_on_tight_null_data_and_not_on_wide():
    tight = _hypothesis_outcome(scenario(sigma=(0.03, 0.03), seeds=6, budget=20_000), 7)
    parts = outcome_parts(tight["outcome"])
    assert "equivalent" in parts and "claimed size excluded from above" in parts
    assert tight["ci_low"] > 0.8 and tight["ci_high"] < 1.25
    wide = _hypothesis_outcome(scenario(sigma=(0.6, 0.6), seeds=4, budget=20_000), 8)
    assert "equivalent" not in outcome_parts(wide["outcome"]) and "effect" not in outcome_parts(wide["outcome"])


def test_a_variant_graduated_at_one_size_is_not_identified():
    """The factor-off side graduates only at the larger size: its size slope, and so the interaction, cannot be
    fixed."""
    rows = {k: [] for k in ("run", "stage", "z", "log_n", "steps", "censored")}
    run = 0
    for log_n in TWO_SIZES:
        for z in (0, 1):
            for i in range(3):
                graduated = z == 1 or log_n == TWO_SIZES[1]
                steps = 1000 + 100 * i if graduated else 3000
                for k, v in zip(rows, (run, 0, z, log_n, steps, not graduated), strict=True):
                    rows[k].append(v)
                run += 1
    d = Design.from_rows(*rows.values(), 100, 3000, 400)
    assert d.identified("effect") == (True, "") and not d.identified("size_interaction")[0]
    row = decide([assess(d, Hypothesis("carry", "size_interaction", ("a",), 1.25), m=1, alpha=0.05)], 0.05)[0]
    assert math.isnan(row["estimate"]) and row["outcome"].startswith("undecided at this design (not identified")


def test_holm_on_a_hand_made_family():
    assert holm([0.01, 0.04, 0.03]).tolist() == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.001]).tolist() == pytest.approx([0.5, 0.002])


def test_every_outcome_is_made_of_the_rule_s_words():
    cases = [(0.01, (2.0, 3.0), (2.1, 2.9), 4.8), (0.01, (3.0, 6.0), (3.2, 5.5), 4.8),
             (0.5, (0.9, 1.1), (0.92, 1.08), 4.8), (0.5, (0.5, 2.0), (0.6, 1.8), None),
             (0.5, (0.5, 6.0), (0.6, 5.5), 4.8), (0.01, (5.0, 9.0), (5.5, 8.0), 4.8),
             (0.5, (0.5, math.inf), (0.6, math.inf), 4.8)]  # fmt: skip
    got = [outcome("effect", p, ci, tost, 1.25, claimed, 0.05) for p, ci, tost, claimed in cases]
    assert got == ["effect; claimed size excluded from above", "effect; consistent with the claimed size",
                   "equivalent; claimed size excluded from above", "undecided at this design",
                   "undecided at this design; claimed size not excluded", "effect; claimed size excluded from below",
                   "undecided at this design; claimed size not excluded"]  # fmt: skip
    assert all(part in OUTCOMES for text in got for part in outcome_parts(text))
    pooled = outcome("effect", 0.5, (0.9, 1.1), (0.92, 1.08), 1.25, 4.8, 0.05, judge_size=False)
    assert outcome_parts(pooled) == ["undecided at this design"] and "per model size" in pooled


def test_the_floor_and_the_budget_are_read_as_censoring():
    y = Intervals.from_steps([400, 1200, 3000], [False, False, True], 100, budget=3000, floor=400)
    assert y.lo[0] == -math.inf and y.hi[0] == pytest.approx(math.log(400))  # at the floor: any time up to it
    assert (y.lo[1], y.hi[1]) == pytest.approx((math.log(1100), math.log(1200)))  # a window of the grid
    assert y.lo[2] == pytest.approx(math.log(3000)) and y.hi[2] == math.inf  # censored: after the budget


def test_the_batched_fit_finds_lifelines_maximum_for_the_interaction_model():
    """The interaction model (stage means, a size slope per stage, the factor and factor x size) on heavily censored
    data at two sizes: the twin finds lifelines' maximum, for both distributions."""
    d = simulate(replace(Scenario(**REAL), ratio=2.0, seeds=5), np.random.default_rng(11))
    assert (~d.graduated).sum() >= 10  # heavy censoring
    on, x = d.z[d.row_run].astype(float), d.log_size[d.row_run]
    S = d.stage_onehot()
    X = np.column_stack([d.base(), on, on * x])
    columns = {f"size_{s}": S[:, s] * x for s in range(d.stages)} | {"z": on, "z_size": on * x}
    for family in FAMILIES:
        fit = fit_batch(family, d.y, X, S, grid_floor(d.y, d.stage))
        beta, ll, _ = lifelines_fit(family, d.y, columns, d.stage)
        assert fit.loglik[0] == pytest.approx(ll, abs=1e-5)
        assert fit.beta[0, -1] == pytest.approx(beta["z_size"], abs=1e-3)
        assert fit.beta[0, -2] == pytest.approx(beta["z"], abs=1e-3)


def _rows(cells):
    """A design from hand-made cells: (log N, z, steps per stage, censored per stage) per run."""
    rows = {k: [] for k in ("run", "stage", "z", "log_n", "steps", "censored")}
    for run, (log_n, z, steps, censored) in enumerate(cells):
        for stage, (n, c) in enumerate(zip(steps, censored, strict=True)):
            for k, v in zip(rows, (run, f"s{stage}", z, log_n, n, c), strict=True):
                rows[k].append(v)
    return rows


def test_an_interval_end_outside_the_testable_range_reads_unbounded_not_zero():
    """The default's 2026-12-05 pattern: at the small size the factor-off side graduated once (5100 steps) and was
    censored everywhere else, so no value of the interaction far enough below 1 per doubling can be rejected. The old
    doubling search printed that end as 0; it is open now, and reads 'unbounded below' the testable range's end."""
    rng = np.random.default_rng(12)
    cells = []
    for log_n in REAL_SIZES:
        for z in (0, 1):
            for i in range(4):
                slower = 1.6 if log_n == REAL_SIZES[0] else 1.0
                base = np.array([2600, 3200]) * slower * np.exp(rng.normal(0, 0.15, 2))
                steps = np.minimum(6000, np.ceil(base / 100) * 100)
                if log_n == REAL_SIZES[0] and z == 0:  # the small size, factor off
                    steps = np.array([5100 if i == 0 else 6000, 6000])
                cells.append((log_n, z, steps.tolist(), (steps >= 6000).tolist()))
    d = Design.from_rows(*_rows(cells).values(), 100, 6000, 400)
    h = Hypothesis("carry", "size_interaction", ("s0", "s1"), 1.25)
    row = decide([assess(d, h, m=2, alpha=0.05, n_mc=199)], 0.05)[0]
    assert row["identified"] and row["ci_low_open"] and not row["ci_high_open"], row
    assert 0.2 < row["testable_low"] < row["ci_high"]  # an end of the testable range, not 0
    assert f"unbounded below {row['testable_low']:.2f}" in interval_text(row)
    labels = relabellings(d.z, d.stratum, n_mc=199)[0]
    est = statistics(d, "size_interaction", "lognormal", labels).estimate
    (iv,) = intervals(d, "size_interaction", "lognormal", labels, [0.975], est)
    assert iv.high_open and not iv.low_open and math.isfinite(iv.low)  # a ratio open below is a term open above


def test_the_effect_is_stated_per_size_where_the_runs_span_sizes():
    """1.0 at the large size and 3.0 at the small one: the size-averaged effect says nothing about the claimed 4.8x,
    and the per-size rows show the difference; the small size's interval does not exclude the claim."""
    sc = Scenario(median_steps=(1500, 2500), sigma=(0.35, 0.35), run_share=0.3, seeds=5, log_sizes=TWO_SIZES,
                  size_slope=(0.2, 0.2), budget=40_000, window_every=100, windows=4, ratio=math.sqrt(3.0),
                  per_doubling=1 / math.sqrt(3.0))  # fmt: skip
    d = simulate(sc, np.random.default_rng(13))
    h = Hypothesis("carry", "effect", ("a", "b"), 1.25, 4.8)
    pooled = decide([assess(d, h, m=2, alpha=0.05, n_mc=199)], 0.05)[0]
    assert not any(p.startswith("claimed size") for p in outcome_parts(pooled["outcome"]))  # judged per size instead
    small, large = per_size(d, h, m=2, alpha=0.05, n_mc=199)
    assert small["size"].startswith("N 25,000") and small["estimate"] > 2 * large["estimate"]
    assert "claimed size excluded from above" not in small["outcome"] and small["member"] is False


def _one_stage_effect(ratios, seed, sd=0.08):
    """Three stages, 5 runs a side at one size, the factor-on side faster by ``ratios[stage]`` at each stage."""
    rng = np.random.default_rng(seed)
    cells = []
    for z in (0, 1):
        for _ in range(5):
            log_t = np.log([1500, 2200, 3000]) + rng.normal(0, sd, 3) - z * np.log(ratios)
            steps = np.minimum(20_000, np.ceil(np.exp(log_t) / 100) * 100)
            cells.append((ONE_SIZE[0], z, steps.tolist(), [False] * 3))
    return Design.from_rows(*_rows(cells).values(), 100, 20_000, 400)


def test_a_decision_resting_on_one_stage_is_fragile_and_one_across_stages_is_not():
    h = Hypothesis("carry", "effect", ("s0", "s1", "s2"), 1.25)
    # an effect carried by s0 (each stage's scale is fitted: a stage that alone differs is not simply averaged in)
    one = decide([assess(_one_stage_effect([2.5, 1.2, 1.2], 14, sd=0.15), h, m=1, alpha=0.05)], 0.05)[0]
    assert "effect" in outcome_parts(one["outcome"]) and one["fragility"].startswith("fragile")
    assert "without s0" in one["fragility"]  # the check that moves it is named
    every = decide([assess(_one_stage_effect([1.6, 1.6, 1.6], 15), h, m=1, alpha=0.05)], 0.05)[0]
    assert "effect" in outcome_parts(every["outcome"]) and every["fragility"] == "robust"
    checks = json.loads(every["checks"])
    assert [c["check"] for c in checks] == ["without s0", "without s1", "without s2", "weibull AFT"]


def test_a_recorded_spread_reads_back_as_the_scenario_it_was_recorded_from():
    """save_spread writes a scenario's spread as JSON (tuples as lists); Scenario.from_record reads it back onto the
    design given."""
    sc = replace(Scenario(**REAL), family="weibull", anchor_side="on")
    record = json.loads(json.dumps({k: getattr(sc, k) for k in SPREAD_KEYS}))
    design = {k: getattr(sc, k) for k in ("seeds", "log_sizes", "budget", "window_every", "windows")}
    assert Scenario.from_record(record, **design) == sc


def test_intervals_share_one_scan_and_nest():
    """The TOST interval (1 - 2 alpha) lies inside the simultaneous one (1 - alpha), from the same scan."""
    d = simulate(scenario(ratio=1.5, seeds=5), np.random.default_rng(16))
    labels, _ = relabellings(d.z, d.stratum)
    est = statistics(d, "effect", "lognormal", labels).estimate
    wide, narrow = intervals(d, "effect", "lognormal", labels, [0.95, 0.90], est)
    assert wide.low <= narrow.low <= est <= narrow.high <= wide.high


@pytest.mark.parametrize("limit", [10_000, 10], ids=["enumerated", "drawn"])
def test_relabellings_stay_within_their_model_size(limit):
    """What the size tests cannot catch, checked directly: every relabelling keeps each size's count of factor-on runs
    (a test that permutes across sizes would not), and the observed labelling comes first."""
    z, stratum = np.array([1, 1, 0, 0, 1, 0, 0, 1, 0, 1]), np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    labels, method = relabellings(z, stratum, limit=limit, n_mc=50)
    assert method == ("exact" if limit > 100 else "monte_carlo") and (labels[0] == z).all()
    for s in (0, 1):
        assert (labels[:, stratum == s].sum(axis=1) == z[stratum == s].sum()).all()
    assert len({tuple(row) for row in labels}) > 10  # and they do relabel


def test_each_size_is_read_within_its_own_window():
    """The shift reads every row between the highest floor and the lowest budget of its own stage and model size: the
    small size, whose factor-on side is censored at 3000 (2000 once shifted by 1.5x), does not cut the large size's
    rows, which stay observed up to their own 5000 (3333): a common window across sizes would censor them at 2000."""
    from arithsignal.analysis.permutation import shifted

    steps = [2500, 2800, 2600, 3000] + [3000, 3000, 2500, 2900]
    censored = [False] * 4 + [True, True, False, False]
    budget = [5000] * 4 + [3000] * 4
    sizes = [math.log(100_000)] * 4 + [math.log(6_000)] * 4
    d = Design.from_rows(list(range(8)), ["s"] * 8, [1, 1, 0, 0] * 2, sizes, steps, censored, 100, budget, 400)
    y, testable = shifted(d, "effect", "lognormal", math.log(1.5))
    assert testable
    assert np.isfinite(y.hi[:4]).all() and np.exp(y.limit[:4]) == pytest.approx([5000 / 1.5] * 4)
    assert not np.isfinite(y.hi[4:]).any() and np.exp(y.limit[4:]) == pytest.approx([2000] * 4)
