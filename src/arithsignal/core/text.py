"""The markdown every report writes: one table builder, one number formatter and one interval formatter."""

from __future__ import annotations

import math

import pandas as pd


def md_table(rows: list[dict] | dict | pd.DataFrame, compact: bool = False) -> str:
    """A markdown table of ``rows`` (a list of dicts, a dict of columns, or a DataFrame), its cells taken as text:
    padded to each column's width (DataFrame.to_markdown), or ``compact``, unpadded (the length section's tables)."""
    df = pd.DataFrame(rows)
    if not compact:
        return df.to_markdown(index=False, disable_numparse=True)
    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    return "\n".join(lines + ["| " + " | ".join(map(str, r)) + " |" for r in df.itertuples(index=False)])


def number(x: float | None, spec: str = ".2f", missing: str = "n/a", infinite: str | None = None) -> str:
    """``x`` in the format ``spec`` (".2f", "+.3f", ".1%", ".3g", ",.0f"): ``missing`` where it is None or NaN, and
    ``infinite`` where it is infinite and one is given (an unbounded interval end, a censored median)."""
    if pd.isna(x):
        return missing
    return infinite if infinite is not None and math.isinf(x) else format(x, spec)


def interval(low: float | str, high: float | str, spec: str = ".2f", estimate: float | str | None = None) -> str:
    """'[low, high]', after ``estimate`` where one is given. Numbers in the format ``spec`` (NaN as Python writes it);
    text as it is, for an end already in words (:func:`number`'s, or an open end's own)."""

    def text(x: float | str) -> str:
        return x if isinstance(x, str) else format(x, spec)

    ends = f"[{text(low)}, {text(high)}]"
    return ends if estimate is None else f"{text(estimate)} {ends}"


def duration(seconds: float) -> str:
    """A time as people read it: seconds under two minutes, minutes under two hours, then hours."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"
