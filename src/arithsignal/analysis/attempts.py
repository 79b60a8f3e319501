"""The ledger of attempts: every confirmatory run of a hypothesis, kept in docs/attempts.csv, counted across attempts.

A hypothesis tested again (another design, another model, the same design on other seeds or another machine) is
another attempt: a decision reached on one of k attempts has a family-wise error bound of k times its Holm p
(Bonferroni over attempts), not its own Holm p. The ledger is a plain CSV that summary.md reads and a test validates;
each row says whether its design was changed after a result was seen, and what was seen.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from ..core.text import md_table, number
from .confirm import OUTCOMES, outcome_parts
from .length import OUTCOMES as LENGTH_OUTCOMES

LEDGER = Path(__file__).resolve().parents[3] / "docs" / "attempts.csv"
REQUIRED = ("hypothesis", "attempt", "date", "commit", "seeds", "sizes", "stages", "budget", "model", "machine",
            "numerics", "estimate_ci", "p_value", "holm_p", "outcome", "source")  # fmt: skip
OPTIONAL = ("data_hash", "changed_after_seeing")
# the decision rule's words before 2026-12-06, when the claimed size's exclusion did not yet say from which side
LEGACY_OUTCOMES = ("claimed size excluded",)


def read(path: str | Path = LEDGER) -> pd.DataFrame:
    """The ledger, validated: every required field present and filled, p-values in [0, 1], outcomes made of the decision
    rule's words (a length comparison's, ``<ablation>: extension``: analysis.length's), attempts numbered 1, 2, ...
    per hypothesis (name and judged stages). Raises ValueError naming the row and field."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in (*REQUIRED, *OPTIONAL) if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}")
    for i, row in df.iterrows():
        where = f"{path}, row {i + 2} ({row['hypothesis'] or '?'}, attempt {row['attempt'] or '?'})"
        empty = [c for c in REQUIRED if not str(row[c]).strip()]
        if empty:
            raise ValueError(f"{where}: {', '.join(empty)} empty")
        for c in ("p_value", "holm_p"):
            x = float(row[c])
            if not 0 <= x <= 1:
                raise ValueError(f"{where}: {c} {x} outside [0, 1]")
        words = LENGTH_OUTCOMES if row["hypothesis"].endswith(": extension") else OUTCOMES + LEGACY_OUTCOMES
        unknown = [p for p in outcome_parts(row["outcome"]) if p not in words]
        if unknown:
            raise ValueError(
                f"{where}: outcome {row['outcome']!r} has parts {unknown} that the decision rule does not use"
            )
    # a hypothesis is its name and its judged stages (across_attempts): the same factor at other stages is another
    for (h, stages), d in df.groupby(["hypothesis", "stages"], sort=False):
        if sorted(int(a) for a in d["attempt"]) != list(range(1, len(d) + 1)):
            raise ValueError(f"{path}: the attempts at {h!r} judged on {stages} are not numbered 1 to {len(d)}")
    return df


def bound_across(holm_p: list[float]) -> float:
    """The family-wise error bound of a decision reached on one of k attempts: min(1, k x the smallest Holm p)."""
    return min(1.0, len(holm_p) * min(holm_p)) if holm_p else math.nan


def across_attempts(ledger: pd.DataFrame, table: pd.DataFrame | None = None) -> list[dict]:
    """Per hypothesis: its attempts in the ledger plus this run where the ledger does not hold it yet (matched by the
    data it was decided on and the model), and the Bonferroni bound min(1, k x the smallest Holm p) over the k. With
    ``table`` (this run's family), only the hypotheses of the table, each with the ledger's attempts at the same
    judged stages (a hypothesis about a factor at other stages, as in another preset, is another hypothesis)."""
    if table is None:
        keys = [(h, None) for h in dict.fromkeys(ledger["hypothesis"])]
    else:
        keys = [(r["hypothesis"], r["stages"]) for _, r in table.iterrows()]
    out = []
    for h, stages in keys:
        same = (ledger["hypothesis"] == h) & (True if stages is None else ledger["stages"] == stages)
        rows = ledger[same].to_dict("records")
        this_run = None
        if table is not None:
            r = table[table["hypothesis"] == h].iloc[0]
            recorded = any(x["data_hash"] == r.get("data_hash", "") and x["model"] == r["model"] for x in rows)
            this_run = None if recorded else r
        holm = [float(x["holm_p"]) for x in rows] + ([float(this_run["holm_p"])] if this_run is not None else [])
        k = len(holm)
        out.append({"hypothesis": h, "attempts": rows, "this_run": this_run, "k": k,
                    "bound": bound_across(holm)})  # fmt: skip
    return out


def _is_threshold(entry: dict) -> bool:
    """A threshold hypothesis (held / not held, not an effect): its model is the t-test, in the ledger or this run."""
    r = entry["this_run"]
    return (r is not None and r["kind"] == "threshold") or any(x["model"] == "t-test" for x in entry["attempts"])


def markdown(ledger: pd.DataFrame, table: pd.DataFrame | None, alpha: float) -> list[str]:
    """summary.md's section: every attempt at each hypothesis of the family, and the bound across them."""
    out = [
        "### Every attempt at each hypothesis (docs/attempts.csv)",
        "",
        "Each confirmatory run of a hypothesis is an attempt; a result reached on one of k attempts has a family-wise",
        f"error bound of min(1, k x its Holm p) (Bonferroni over attempts), which is what decides at alpha {alpha:g}"
        " across",
        "them. A design changed after a result was seen says so.",
        "",
    ]
    for entry in across_attempts(ledger, table):
        rows = [
            {
                "attempt": x["attempt"],
                "date": x["date"],
                "design": f"seeds {x['seeds']}; {x['sizes']}; {x['model']}",
                "machine, numerics": f"{x['machine']}, {x['numerics']}",
                "estimate [CI]": x["estimate_ci"],
                "p": x["p_value"],
                "Holm p": x["holm_p"],
                "outcome": x["outcome"],
                "changed after seeing": x["changed_after_seeing"] or "no",
            }
            for x in entry["attempts"]
        ]
        r = entry["this_run"]
        if r is not None:
            rows.append(
                {
                    "attempt": "this run",
                    "date": "",
                    "design": f"{r['model']}",
                    "machine, numerics": "",
                    "estimate [CI]": number(r["estimate"]),
                    "p": number(r["p_value"], ".4f"),
                    "Holm p": number(r["holm_p"], ".4f"),
                    "outcome": r["outcome"],
                    "changed after seeing": "(not yet in the ledger)",
                }
            )
        if _is_threshold(entry):
            verdict = "decided across attempts" if entry["bound"] < alpha else "not decided across attempts"
        else:
            verdict = "an effect across attempts" if entry["bound"] < alpha else "no effect shown across attempts"
        bound = f"{entry['k']} attempt(s); bound across them {entry['bound']:.3f}: {verdict}"
        out += [f"**{entry['hypothesis']}**: {bound}.", "", md_table(rows) if rows else "(none)", ""]
        out += _elsewhere(ledger, entry, table)
    return out


def _elsewhere(ledger: pd.DataFrame, entry: dict, table: pd.DataFrame | None) -> list[str]:
    """The same name's attempts judged on other stages (another hypothesis, docs/STATISTICS.md), in one line each, for
    a reader who counts them as attempts at one claim."""
    if table is None:
        return []
    stages = table[table["hypothesis"] == entry["hypothesis"]].iloc[0]["stages"]
    other = ledger[(ledger["hypothesis"] == entry["hypothesis"]) & (ledger["stages"] != stages)]
    lines = []
    for judged, d in other.groupby("stages", sort=False):
        bound = bound_across([float(x) for x in d["holm_p"]])
        lines.append(f"- The same name judged on {judged} (another hypothesis): {len(d)} attempt(s), outcomes "
                     f"{' | '.join(d['outcome'])}; bound across them {bound:.3f}.")  # fmt: skip
    return [*lines, ""] if lines else []
