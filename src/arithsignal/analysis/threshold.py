"""Threshold hypotheses of the primary family: a held-out accuracy of one variant against a declared bar.

Claim 4 says that a model trained on a×b only "still gets over 90% on b×a". The family states it as a threshold
hypothesis (``analysis.family`` entries with ``threshold``): a variant's held-out measure at the end of each judged
stage (evaluate/held_out.py, ``when`` = stage_end) against the bar, with **seeds as the unit**.

At each judged stage every seed gives one number, the empirical log-odds log((k + 1/2) / (n - k + 1/2)) of its k
right of n, and a one-sample t-test compares the seeds' mean with logit(bar): the stage's estimate is the **typical
model's** accuracy there (expit of the mean log-odds), not the mean accuracy, which a few bad seeds pull lower.

* **held**: every judged stage lies above the bar. Its p is the largest of the stages' p (an intersection-union
  test: no correction over stages is needed, since every stage must pass).
* **not held**: some stage lies below it. Its p is the smallest p of the stages below, times the number of judged
  stages (Bonferroni over the stages, any one of which could be the one).

The hypothesis's p (two-sided, each route spending at most alpha/2 of false decisions) enters Holm with the rest of
the family; **held** / **not held** where the Holm p is below alpha, else **undecided at this design**. The estimate
and interval reported are those of the lowest stage, its t-interval at 1 - alpha/m like every interval of the family
(approximate where Holm decides at a later step with a larger level, as for the effects). Beside it (exploratory):
the reading with each stage left out, which can only move "held" towards passing; a decision whose significance
changes under one is fragile.

Why not each seed's worst stage: the minimum of noisy readings is biased low. With every stage at the bar and the
seeds agreeing closely, it said "not held" in up to 30% of simulated experiments. Why log-odds: accuracies near 1
are bounded and skewed, and a t-test of raw accuracies there said "held" in about 9% of experiments planted at a
mean of exactly 0.9 (Beta spread, sd 0.08, 5 seeds) against the nominal 2.5%. On the log-odds scale the test is
approximately exact for a logit-normal population (binomial noise and the 1/2 correction aside).
tests/test_threshold.py keeps all three comparisons.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

# the held-out measures a threshold can be set on (the schema's enum): the evaluation split each one reads
MEASURES = {"test_exact_match": "test", "commute_exact_match": "commute"}


@dataclass(frozen=True)
class Reading:
    """A one-sample t reading of per-seed values against a bar."""

    n: int
    estimate: float  # the mean over seeds
    p_value: float  # two-sided
    low: float  # the interval at the level asked for
    high: float


def t_reading(values: np.ndarray, bar: float, level: float) -> Reading:
    """One-sample t-test of mean(values) against ``bar`` (two-sided) and the t-interval at ``level``. With no spread
    the mean is exact: p is 0 unless it sits on the bar (p 1), and the interval is the point."""
    from scipy import stats

    x = np.asarray(values, float)
    n, mean = len(x), float(np.mean(x))
    if n < 2:
        return Reading(n, mean, 1.0, -math.inf, math.inf)
    se = float(np.std(x, ddof=1)) / math.sqrt(n)
    if se == 0:
        return Reading(n, mean, 1.0 if mean == bar else 0.0, mean, mean)
    p = float(2 * stats.t.sf(abs(mean - bar) / se, n - 1))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * se
    return Reading(n, mean, p, mean - half, mean + half)


def logit(p: float) -> float:
    """The log-odds of a bar (a bar of 1 asks for every problem right: no finite reading can pass it)."""
    return math.inf if p >= 1 else math.log(p / (1 - p))


def expit(x: float) -> float:
    return 1 / (1 + math.exp(-x)) if x > -700 else 0.0


def per_seed(evals: pd.DataFrame, run: str, measure: str, stages: list[str]) -> pd.DataFrame:
    """Per seed and judged stage (rows seed, stage): a run's right answers ``k`` of ``n`` on the measure's split at the
    stage's end (``run``: the name its tables carry in their variant column)."""
    d = evals[(evals["variant"] == run) & (evals["when"] == "stage_end") & (evals["split"] == MEASURES[measure])]
    d = d[d["stage"].isin(stages)]
    return d.groupby(["seed", "stage"])["correct"].agg(k="sum", n="count").reset_index()


def accuracy_table(counts: pd.DataFrame, stages: list[str]) -> pd.DataFrame:
    """Exact match per seed (rows) and stage (columns, in the declared order; NaN where a stage has no reading)."""
    if counts.empty:
        return pd.DataFrame(columns=stages, dtype=float)
    return (counts.assign(acc=counts["k"] / counts["n"]).pivot(index="seed", columns="stage", values="acc")
            .reindex(columns=stages))  # fmt: skip


def stage_logits(counts: pd.DataFrame, stage: str) -> np.ndarray:
    """The seeds' empirical log-odds at one stage (the unit of the test)."""
    d = counts[counts["stage"] == stage].sort_values("seed")
    return np.log((d["k"] + 0.5) / (d["n"] - d["k"] + 0.5)).to_numpy(float)


def combined(readings: list[Reading], bar: float) -> tuple[float, Reading]:
    """The hypothesis's two-sided p from its stages' readings, and the lowest stage's reading: every stage above the
    bar, the largest p (held); else the smallest p of the stages below, times the stages (not held)."""
    lowest = min(readings, key=lambda r: r.estimate)
    if all(r.estimate > bar for r in readings):
        return max(r.p_value for r in readings), lowest
    below = [r.p_value for r in readings if r.estimate <= bar]
    return min(1.0, len(readings) * min(below)), lowest


def assess_threshold(evals: pd.DataFrame, h, run: str, m: int, alpha: float, seeds: list[int] | None = None) -> dict:
    """The family table's row of one threshold hypothesis tested at ``alpha / m`` (before Holm): the lowest stage's
    estimate and interval, the hypothesis's two-sided p (accuracy scale), and (column ``checks``) the reading with
    each stage left out. ``seeds``: the seeds the run was declared with; one without a reading at every stage leaves
    the hypothesis not identified, never silently smaller."""
    import json

    counts = per_seed(evals, run, h.measure, list(h.stages)) if len(evals) else pd.DataFrame(columns=["seed", "stage"])
    table = accuracy_table(counts, list(h.stages))
    row = {"hypothesis": h.name, "ablation": h.ablation, "kind": "threshold", "member": True, "size": "",
           "stages": ", ".join(h.stages), "smallest_effect": math.nan, "claimed": h.threshold, "model": "t-test",
           "runs": len(table), "sizes": 1, "relabellings": 0, "p_method": "one-sample t over seeds per stage, log-odds",
           "censored_cells": ""}  # fmt: skip
    missing = [s for s in h.stages if table[s].isna().any()] if len(table) else list(h.stages)
    absent = sorted(set(seeds or []) - set(table.index))
    why = (f"no {h.measure} at stage end for {', '.join(missing)}" if missing else
           f"no reading for seeds {absent}" if absent else "fewer than 2 seeds" if len(table) < 2 else "")  # fmt: skip
    if why:
        return {**row, **_empty(), "identified": False, "not_identified_why": why}
    bar = logit(h.threshold)
    readings = {s: t_reading(stage_logits(counts, s), bar, 1 - alpha / m) for s in h.stages}
    p, low = combined(list(readings.values()), bar)
    checks = []
    for s in h.stages if len(h.stages) > 1 else []:
        cp, c = combined([r for k, r in readings.items() if k != s], bar)
        checks.append({"check": f"without {s}", "identified": True, "estimate": expit(c.estimate), "p_value": cp,
                       "why": ""})  # fmt: skip
    values = {
        "stage_means": {s: float(table[s].mean()) for s in h.stages},
        "typical": {s: expit(r.estimate) for s, r in readings.items()},
        "per_seed": {str(k): [float(x) for x in v] for k, v in table.iterrows()},
    }
    return {**row, **_empty(), "identified": True, "not_identified_why": "", "estimate": expit(low.estimate),
            "ci_low": expit(low.low), "ci_high": expit(low.high), "p_value": p, "checks": json.dumps(checks),
            "values": json.dumps(values)}  # fmt: skip


def _empty() -> dict:
    from .confirm import NAN_COLUMNS

    return dict(NAN_COLUMNS)


def threshold_outcome(holm_p: float, estimate: float, bar: float, ci: tuple[float, float], alpha: float) -> str:
    """held / not held where the Holm-adjusted test decides, else undecided with the lowest stage's interval (which
    need not contain the bar: another stage's may be the one that does)."""
    if holm_p < alpha:
        return "held" if estimate > bar else "not held"
    return f"undecided at this design (the lowest stage's interval [{ci[0]:.3f}, {ci[1]:.3f}], the bar {bar:g})"


def data_hash(evals: pd.DataFrame, h, run: str) -> str:
    """A hash of exactly the counts a threshold hypothesis is decided on (the ledger's data_hash)."""
    from ..core.io import stable_hash

    if not len(evals):
        return stable_hash([])
    counts = per_seed(evals, run, h.measure, list(h.stages))
    return stable_hash([[int(a), str(b), int(k), int(n)] for a, b, k, n in counts.itertuples(index=False)])


def detectable_gap(n: int, sd: float, level: float, power: float = 0.8) -> float:
    """The smallest distance of the mean from the bar that the two-sided one-sample t-test at ``level`` detects with
    ``power``, at ``n`` seeds whose values spread with ``sd``. The test statistic is a noncentral t: its power is
    E over V ~ chi2(n-1) of Phi(nc - c sqrt(V/(n-1))) + Phi(-nc - c sqrt(V/(n-1))), taken on 4,000 quantiles of V
    (scipy's nct returns NaN far out), and solved for the noncentrality by bisection."""
    from scipy import optimize, special, stats

    df = n - 1
    crit = stats.t.ppf(1 - level / 2, df)
    scale = crit * np.sqrt(stats.chi2.ppf((np.arange(4000) + 0.5) / 4000, df) / df)

    def shortfall(nc: float) -> float:
        return float(np.mean(special.ndtr(nc - scale) + special.ndtr(-nc - scale))) - power

    nc = optimize.brentq(shortfall, 0.0, float(scale.max()) + 10.0)
    return float(nc * sd / math.sqrt(n))


def power_lines(h, n: int, spread: tuple[float, str] | None, alpha: float, m: int) -> list[str]:
    """The power analysis's section of a threshold hypothesis: how far from the bar the typical model must be for
    ``n`` seeds to decide at alpha / m with 80% power, given the seeds' spread on the log-odds scale."""
    head = [f"## {h.name}", ""]
    if spread is None:
        return [*head, "No per-seed spread at hand (pass --results with an earlier run of this variant).", ""]
    sd, source = spread
    gap = detectable_gap(n, sd, alpha / m) if sd > 0 else 0.0
    bar = logit(h.threshold)
    q = len(h.stages)
    below = detectable_gap(n, sd, alpha / (m * q)) if sd > 0 else 0.0
    return [*head, f"Design: {n} seeds, stages {', '.join(h.stages)}, a one-sample t-test per stage of the seeds' "
            f"log-odds against {h.threshold:g}. Spread from {source}: sd {sd:.3f} in log-odds over seeds (the "
            "largest of the stages).", "",
            f"Decided with 80% power at alpha / m = {alpha / m:.4f}: held when the typical model's accuracy is above "
            f"{expit(bar + gap):.3f} at every stage (the stage nearest the bar decides); not held when it is below "
            f"{expit(bar - below):.3f} at a stage (at alpha / (m x {q}) = {alpha / (m * q):.4f}).", ""]  # fmt: skip


def measured_spread(evals: pd.DataFrame, h, run: str) -> tuple[float, str] | None:
    """The largest over the judged stages of the seeds' sd of log-odds in an earlier run (None without two seeds)."""
    counts = per_seed(evals, run, h.measure, list(h.stages)) if len(evals) else pd.DataFrame()
    if counts.empty or counts["seed"].nunique() < 2:
        return None
    sd = max(float(np.std(stage_logits(counts, s), ddof=1)) for s in h.stages)
    return sd, f"{counts['seed'].nunique()} seeds of {run}"
