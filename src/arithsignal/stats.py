"""Steps-to-graduation statistics with honest censoring.

A censored run did not graduate within its stage budget: its steps to graduation
is only known to exceed the budget. It is kept as +inf (larger than every
graduated run, whose steps are at most the budget), never dropped and never
counted as graduating at the budget. A side whose median is censored has a
median of "more than the budget", and a ratio involving it is a bound:

* ``estimate``: both medians graduated; the ratio is a number.
* ``lower_bound``: only the off side's median is censored; ratio >= budget / median(on).
* ``upper_bound``: only the on side's median is censored; ratio <= median(off) / budget.
* ``undefined``: both medians censored.

The interval is a percentile bootstrap over seeds (resampled within each side);
an infinite bound prints as unbounded.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def censored_steps(steps, censored) -> np.ndarray:
    s = np.asarray(steps, dtype=float).copy()
    s[np.asarray(censored, dtype=bool)] = np.inf
    return s


def _median(x: np.ndarray) -> float:
    # a censored run in the middle makes the median censored (inf): we do not know it
    return float(np.median(x)) if len(x) else math.nan


def _ratio(off_med: float, on_med: float) -> float:
    if math.isinf(off_med) and math.isinf(on_med):
        return math.nan
    return off_med / on_med  # inf / x = inf, x / inf = 0


def median_ratio(
    on_steps, on_censored, off_steps, off_censored, budget: int, n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> dict:
    """Median steps (off) / median steps (on), with a percentile bootstrap interval."""
    on, off = censored_steps(on_steps, on_censored), censored_steps(off_steps, off_censored)
    m_on, m_off = _median(on), _median(off)
    kind = {
        (False, False): "estimate",
        (False, True): "lower_bound",
        (True, False): "upper_bound",
        (True, True): "undefined",
    }[(math.isinf(m_on), math.isinf(m_off))]
    shown_on = budget if math.isinf(m_on) else m_on
    shown_off = budget if math.isinf(m_off) else m_off
    ratio = math.nan if kind == "undefined" else shown_off / shown_on
    rng = np.random.default_rng(seed)
    boots = np.array(
        [_ratio(_median(rng.choice(off, len(off))), _median(rng.choice(on, len(on)))) for _ in range(n_boot if len(on) and len(off) else 0)]
    )
    boots = boots[~np.isnan(boots)]
    alpha = (1 - level) / 2
    # no interpolation: infinite (censored) bootstrap ratios stay infinite instead of becoming nan
    lo = np.quantile(boots, alpha, method="lower") if len(boots) else math.nan
    hi = np.quantile(boots, 1 - alpha, method="higher") if len(boots) else math.nan
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
        "budget": budget,
    }


def format_ratio(row: dict | pd.Series) -> str:
    """E.g. '2.31 [1.40, 4.05]', '>= 3.00 [1.9, unbounded]', 'undefined (both censored)'."""

    def num(x: float) -> str:
        return "unbounded" if math.isinf(x) else "n/a" if math.isnan(x) else f"{x:.2f}"

    kind = row["ratio_kind"]
    if kind == "undefined":
        return "undefined (both medians censored)"
    prefix = {"estimate": "", "lower_bound": ">= ", "upper_bound": "<= "}[kind]
    return f"{prefix}{num(row['ratio'])} [{num(row['ci_low'])}, {num(row['ci_high'])}]"
