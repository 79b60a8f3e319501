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


def median_ratio(
    on_steps, on_censored, off_steps, off_censored, budget: int | tuple[int, int], n_boot: int = 2000, seed: int = 0, level: float = 0.95
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
    shown_on = budget_on if math.isinf(m_on) else m_on
    shown_off = budget_off if math.isinf(m_off) else m_off
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


def ablation_table(grads: pd.DataFrame, stage_order: list[str], n_boot: int = 2000, level: float = 0.95) -> pd.DataFrame:
    """One row per stage: medians, the off/on ratio and its interval.

    ``grads`` has columns side ('on'/'off'), stage, steps, censored, budget.
    """
    rows = []
    for i, stage in enumerate(stage_order):
        d = grads[grads["stage"] == stage]
        on, off = d[d["side"] == "on"], d[d["side"] == "off"]
        if on.empty or off.empty:
            continue
        budgets = (int(on["budget"].max()), int(off["budget"].max()))
        r = median_ratio(on["steps"], on["censored"], off["steps"], off["censored"], budgets, n_boot=n_boot, seed=i, level=level)
        rows.append({"stage": stage, "stage_index": i, **r})
    out = pd.DataFrame(rows)
    if not out.empty:
        out["ratio_text"] = [format_ratio(r) for _, r in out.iterrows()]
    return out


def format_ratio(row: dict | pd.Series) -> str:
    """E.g. '2.31 [1.40, 4.05]', '>= 3.00 [1.9, unbounded]', 'undefined (both censored)'."""

    def num(x: float) -> str:
        return "unbounded" if math.isinf(x) else "n/a" if math.isnan(x) else f"{x:.2f}"

    kind = row["ratio_kind"]
    if kind == "undefined":
        return "undefined (both medians censored)"
    prefix = {"estimate": "", "lower_bound": ">= ", "upper_bound": "<= "}[kind]
    return f"{prefix}{num(row['ratio'])} [{num(row['ci_low'])}, {num(row['ci_high'])}]"
