"""Descriptive and exploratory steps-to-graduation statistics with honest censoring (the decisions are confirm.py's).

A censored run did not graduate within its stage budget: its steps to graduation
is only known to exceed the budget. It is kept as +inf (larger than every
graduated run, whose steps are at most the budget), never dropped and never
counted as graduating at the budget. A side whose median is censored has a
median of "more than the budget", and a ratio involving it is a bound:

* ``estimate``: both medians graduated; the ratio is a number.
* ``lower_bound``: only the off side's median is censored; ratio >= lower(off) / median(on).
* ``upper_bound``: only the on side's median is censored; ratio <= median(off) / lower(on).

lower(side) is the least the censored median can be: the median with every censored run at the budget (with an even
number of runs and only the upper middle run censored, halfway between the lower middle run and the budget).
* ``undefined``: both medians censored.

The interval is a percentile bootstrap over seeds (resampled within each side);
an infinite bound prints as unbounded.

Beside the ratio, a censoring-aware two-sample test: Gehan's generalised Wilcoxon
statistic, with its p-value from the exact permutation distribution (every split of
the pooled runs into two sides of the observed sizes; a seeded Monte Carlo sample
when there are too many splits). Exact at any sample size, so valid at 5 seeds a side,
where the smallest two-sided p is 2/252. The Kaplan-Meier curves come from lifelines.

The per-stage reading, applied mechanically (:func:`verdict_of`) and unadjusted (exploratory): *not testable* when
every run on both sides is censored; *at the floor* when every run of both sides graduated in the first window the
rule allows (the rule cannot tell them apart there); *supported* when p < ALPHA and the factor-on side graduates
earlier; *contradicted* when p < ALPHA and it graduates later; else *undecided (unadjusted)*. A claim that a factor
*slows* convergence (``expect: slower``: gradient clipping) reads the other way: supported when the factor-on side
graduates later.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

ALPHA = 0.05
MAX_EXACT_SPLITS = 50_000  # the Gehan test's splits enumerated exactly up to this many; a Monte Carlo sample beyond
DRAWN_PERMUTATIONS = 20_000  # the size of that sample, and of sign_flip_p's beyond its exact 2^15 sign flips


def censored_steps(steps, censored) -> np.ndarray:
    s = np.asarray(steps, dtype=float).copy()
    s[np.asarray(censored, dtype=bool)] = np.inf
    return s


def _median(x: np.ndarray) -> float:
    # a censored run in the middle makes the median censored (inf): we do not know it
    return float(np.median(x)) if len(x) else math.nan


def median_ratio(
    on_steps,
    on_censored,
    off_steps,
    off_censored,
    budget: int | tuple[int, int],
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> dict:
    """Median steps (off) / median steps (on), with a percentile bootstrap interval.

    ``budget`` is the stage budget, or (budget on, budget off) when the sides differ.
    """
    budget_on, budget_off = budget if isinstance(budget, tuple) else (budget, budget)
    on, off = censored_steps(on_steps, on_censored), censored_steps(off_steps, off_censored)
    m_on, m_off = _median(on), _median(off)
    kind = {
        (False, False): "estimate",
        (False, True): "lower_bound",
        (True, False): "upper_bound",
        (True, True): "undefined",
    }[(math.isinf(m_on), math.isinf(m_off))]
    # a censored median is only bounded below: by the median with every censored run at its budget
    shown_on = float(np.median(np.where(np.isinf(on), budget_on, on))) if len(on) else math.nan
    shown_off = float(np.median(np.where(np.isinf(off), budget_off, off))) if len(off) else math.nan
    ratio = math.nan if kind == "undefined" else shown_off / shown_on
    # Interval ends take censoring at its least and most favourable: for the lower end a censored
    # off run counts at its budget (the least it can be) and a censored on run as infinite; for the
    # upper end the reverse. Without censoring both are the plain percentile bootstrap.
    rng = np.random.default_rng(seed)
    n = n_boot if len(on) and len(off) else 0
    idx_on = rng.integers(0, len(on), size=(n, len(on))) if n else None
    idx_off = rng.integers(0, len(off), size=(n, len(off))) if n else None
    off_low = np.where(np.isinf(off), budget_off, off)
    on_high = np.where(np.isinf(on), budget_on, on)
    alpha = (1 - level) / 2
    if n:
        low = np.median(off_low[idx_off], axis=1) / np.median(on[idx_on], axis=1)
        high = np.median(off[idx_off], axis=1) / np.median(on_high[idx_on], axis=1)
        # no interpolation: infinite (censored) ratios stay infinite instead of becoming nan
        lo, hi = np.quantile(low, alpha, method="lower"), np.quantile(high, 1 - alpha, method="higher")
    else:
        lo = hi = math.nan
    return {
        "median_on": m_on,
        "median_off": m_off,
        "ratio": ratio,
        "ratio_kind": kind,
        "ci_low": float(lo),
        "ci_high": float(hi),
        "ci_level": level,
        "n_on": len(on),
        "n_off": len(off),
        "censored_on": int(np.isinf(on).sum()),
        "censored_off": int(np.isinf(off).sum()),
        "budget_on": budget_on,
        "budget_off": budget_off,
    }


def _earlier(t: np.ndarray, graduated: np.ndarray) -> np.ndarray:
    """E[a, b] = 1 where run a surely graduated before run b: a graduated, and before b's time, or
    at b's time when b was censored there (a censored run's true time lies beyond its time)."""
    ta, tb = t[:, None], t[None, :]
    return (graduated[:, None] & ((ta < tb) | ((ta == tb) & ~graduated[None, :]))).astype(np.int64)


def gehan_test(on_steps, on_censored, off_steps, off_censored, seed: int = 0) -> dict:
    """Gehan's statistic U = sum over pairs (on, off) of +1 where the on run surely graduated first,
    -1 where the off run did, 0 where tied or unknown (U > 0: the factor speeds convergence), and
    its two-sided permutation p-value: the share of splits of the pooled runs with |U| >= |U observed|."""
    t = np.concatenate([np.asarray(on_steps, float), np.asarray(off_steps, float)])
    graduated = ~np.concatenate([np.asarray(on_censored, bool), np.asarray(off_censored, bool)])
    n_on, n = len(on_steps), len(t)
    if n_on == 0 or n_on == n:
        return {"gehan_u": math.nan, "p_value": math.nan, "p_method": "none", "n_splits": 0}
    e = _earlier(t, graduated)
    d = e - e.T  # d[a, b] = +1: a surely first; -1: b surely first

    def u(on_idx: np.ndarray) -> np.ndarray:
        """U for each split, given a (splits, n) 0/1 membership of the on side."""
        return np.einsum("sa,ab,sb->s", on_idx, d, 1 - on_idx)

    observed = u((np.arange(n) < n_on).astype(np.int64)[None, :])[0]
    n_splits = math.comb(n, n_on)
    if n_splits <= MAX_EXACT_SPLITS:
        members = np.zeros((n_splits, n), dtype=np.int64)
        for i, combo in enumerate(itertools.combinations(range(n), n_on)):
            members[i, list(combo)] = 1
        method = "exact"
    else:
        rng = np.random.default_rng(seed)
        members = (np.argsort(rng.random((DRAWN_PERMUTATIONS, n)), axis=1) < n_on).astype(np.int64)
        method = "monte_carlo"
    extreme = int((np.abs(u(members)) >= abs(observed)).sum())
    p = extreme / n_splits if method == "exact" else (extreme + 1) / (DRAWN_PERMUTATIONS + 1)
    return {"gehan_u": float(observed), "p_value": float(p), "p_method": method, "n_splits": int(len(members))}


UNDECIDED = "undecided (unadjusted)"
AT_FLOOR = "at the floor"


def verdict_of(row: dict | pd.Series, expect: str = "faster") -> str:
    """The per-stage reading (module docstring): not testable, at the floor, supported, contradicted, or undecided.
    ``expect``: what the claim says the factor does to convergence (faster or slower)."""
    if row["censored_on"] == row["n_on"] and row["censored_off"] == row["n_off"]:
        return "not testable"
    if row.get("at_floor", False):
        return AT_FLOOR
    if row["p_value"] < ALPHA:
        return "supported" if (row["gehan_u"] > 0) == (expect == "faster") else "contradicted"
    return UNDECIDED


def sign_flip_p(changes, seed: int = 0) -> float:
    """One-sided paired permutation test that the changes are below 0: the share of the 2^n sign
    flips of the observed changes whose sum is at most the observed sum (exact up to 2^15 flips, a
    seeded Monte Carlo sample beyond). At 5 runs the smallest p is 1/32."""
    d = np.asarray(changes, dtype=float)
    d = d[~np.isnan(d)]
    if len(d) == 0:
        return math.nan
    if len(d) <= 15:
        signs = np.array(list(itertools.product((1, -1), repeat=len(d))))
    else:
        signs = np.random.default_rng(seed).choice((1, -1), size=(DRAWN_PERMUTATIONS, len(d)))
    sums = signs @ np.abs(d)
    return float((sums <= d.sum() + 1e-12).mean())


def km_curve(steps, censored) -> pd.DataFrame:
    """Kaplan-Meier estimate (lifelines) of the share of runs graduated by each step: columns step, graduated."""
    from lifelines import KaplanMeierFitter

    km = KaplanMeierFitter().fit(np.asarray(steps, float), event_observed=~np.asarray(censored, bool))
    sf = km.survival_function_
    return pd.DataFrame({"step": sf.index.to_numpy(), "graduated": 1 - sf.iloc[:, 0].to_numpy()})


# measures compared per ablation: (column prefix in the output, steps column, censored column); the first is the
# graduation rule's (steps to generalise under graduation.pool: unseen), the others are exploratory
MEASURES = [("", "steps", "censored"), ("fit_", "fit_steps", "fit_censored"),
            ("answer_", "answer_steps", "answer_censored"),
            ("first_good_", "first_good_steps", "first_good_censored")]  # fmt: skip


def ablation_table(
    runs: pd.DataFrame, stage_order: list[str], expect: str = "faster", n_boot: int = 2000, level: float = 0.95
) -> pd.DataFrame:
    """One row per stage: medians, the off/on ratio with its interval, Gehan's exact test and the
    verdict (against the claim's ``expect``ed direction), for the published rule; the same (prefixed
    ``answer_`` and ``first_good_``) for the measures the all-or-nothing rule hides, where ``runs``
    has their columns (outcomes.stage_measures).

    ``runs`` has one row per run and stage, with columns side ('on'/'off'), stage, steps, censored, budget.
    """
    rows = []
    for i, stage in enumerate(stage_order):
        d = runs[runs["stage"] == stage]
        on, off = d[d["side"] == "on"], d[d["side"] == "off"]
        if on.empty or off.empty:
            continue
        budgets = (int(on["budget"].max()), int(off["budget"].max()))
        row = {"stage": stage, "stage_index": i}
        for prefix, steps, censored in MEASURES:
            if steps not in d:
                continue
            r = median_ratio(
                on[steps], on[censored], off[steps], off[censored], budgets, n_boot=n_boot, seed=i, level=level
            )
            r.update(gehan_test(on[steps], on[censored], off[steps], off[censored], seed=i))
            r["at_floor"] = bool("floor" in d and (~d[censored]).all() and (d[steps] == _earliest(d, prefix)).all())
            r["ratio_text"] = (
                format_ratio(r) if not r["at_floor"] else f"at the floor (every run at {int(d[steps].iat[0])} steps)"
            )
            r["verdict"] = verdict_of(r, expect)
            row.update({prefix + k: v for k, v in r.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def _earliest(runs: pd.DataFrame, prefix: str) -> pd.Series:
    """The earliest step a measure can read: the first window for the first good window, else the rule's floor."""
    return runs["window_every"] if prefix == "first_good_" else runs["floor"]


def format_ratio(row: dict | pd.Series) -> str:
    """E.g. '2.31 [1.40, 4.05]', '>= 3.00 [1.9, unbounded]', 'undefined (both censored)'."""

    def num(x: float) -> str:
        return "unbounded" if math.isinf(x) else "n/a" if math.isnan(x) else f"{x:.2f}"

    kind = row["ratio_kind"]
    if kind == "undefined":
        return "undefined (both medians censored)"
    prefix = {"estimate": "", "lower_bound": ">= ", "upper_bound": "<= "}[kind]
    return f"{prefix}{num(row['ratio'])} [{num(row['ci_low'])}, {num(row['ci_high'])}]"


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values (each at most 1): FWER control over the family,
    no assumption on dependence."""
    p = np.asarray(p_values, float)
    order = np.argsort(p)
    m = len(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted
