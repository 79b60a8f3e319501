"""The primary family's decisions in words and tables: each hypothesis's estimate and interval, its outcome, a
sentence saying what they mean, and how fragile the decision is; for summary.md and for what a finished run prints.
Every number and interval is written by core/text.py, the words around them are claims.py's."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from ..core.io import read_parquet
from ..core.text import interval, md_table, number
from . import claims


def interval_text(r: dict | pd.Series) -> str:
    """'[low, high]' on the ratio scale; an open end reads 'unbounded below/above' the testable range's end."""
    low = f"unbounded below {r['testable_low']:.2f}" if r["ci_low_open"] else number(r["ci_low"], infinite="unbounded")
    high = (
        f"unbounded above {r['testable_high']:.2f}" if r["ci_high_open"] else number(r["ci_high"], infinite="unbounded")
    )
    return interval(low, high)


def estimate_ci(r: dict | pd.Series) -> str:
    """The estimate ('>=' or '<=' where it is a bound) and its interval; 'n/a' where the effect is not identified."""
    if not r["identified"]:
        return "n/a"
    if r["kind"] == "threshold":
        return f"{r['estimate']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
    return ("no estimate" if pd.isna(r["estimate"]) else f"{r['bound']}{r['estimate']:.2f}") + " " + interval_text(r)


def plain_words(r: dict | pd.Series) -> str:
    """One sentence per hypothesis: what the estimate and its interval say."""
    if not r["identified"]:
        return f"Not identified: {r['not_identified_why']}."
    if pd.isna(r["estimate"]):
        return f"No estimate: one side never graduated and the interval {interval_text(r)} is open on its side."
    ci, est = interval_text(r), r["estimate"]
    if r["kind"] == "threshold":
        typical = ", ".join(f"{k} {v:.3f}" for k, v in json.loads(r["values"])["typical"].items())
        side = "above" if est > r["claimed"] else "below"
        return (
            f"The typical model (expit of the seeds' mean log-odds) at the lowest stage: {est:.3f} "
            f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}], {side} the bar {r['claimed']:g} (per stage: {typical})."
        )
    if r["kind"] == "size_interaction":
        helps = "(the factor helps smaller models more)" if est < 1 else "(the factor helps larger models more)"
        return f"Per doubling of model size the ratio changes by x{est:.2f} {ci} {helps}."
    fewer = est >= 1
    bound = "" if not r["bound"] else " at least" if (r["bound"] == ">=") == fewer else " at most"
    where = f" at {r['size']}" if r["size"] else f" (pooled over {r['stages']})"
    text = (f"Off/on steps ratio {r['bound']}{est:.2f} {ci}: with the factor on, runs generalise in{bound} "
            + (f"{est:.2f}x fewer steps" if fewer else f"{1 / est:.2f}x more steps") + where)  # fmt: skip
    if not pd.isna(r["claimed"]) and (r["sizes"] == 1 or r["size"]):
        low, high = (0.0 if r["ci_low_open"] else r["ci_low"]), (math.inf if r["ci_high_open"] else r["ci_high"])
        side = "inside" if low <= r["claimed"] <= high else "above" if r["claimed"] > high else "below"
        text += f"; the claimed {r['claimed']:g}x is {side} the interval"
    return text + "."


def robustness_line(r: pd.Series) -> str:
    """One decision's line: its robustness, each check's estimate and p, and the censored cells it rests on."""
    checks = json.loads(r["checks"]) if isinstance(r.get("checks"), str) else []
    fmt = ".3f" if r["kind"] == "threshold" else ".2f"
    parts = [f"{c['check']}: " + (f"{c['estimate']:{fmt}}, p {c['p_value']:.3f}" if c["identified"] else
                                  f"not identified ({c['why']})") for c in checks]  # fmt: skip
    if r["kind"] == "threshold" and r["identified"]:
        seeds = json.loads(r["values"])["per_seed"]
        basis = "Per seed, by stage: " + "; ".join(f"{k}: " + ", ".join(f"{v:.3f}" for v in vs)
                                                  for k, vs in seeds.items())  # fmt: skip
    else:
        basis = f"Censored cells: {r['censored_cells']}"
    return (
        f"- {r['hypothesis']}: {r.get('fragility') or 'n/a'}. "
        + ("; ".join(parts) + ". " if parts else "")
        + basis
        + "."
    )


def primary_markdown(table: pd.DataFrame, alpha: float) -> list[str]:
    """The primary family's decisions: the family's table, the per-size effects, and the robustness of each decision."""
    members = table[table["member"]] if "member" in table else table
    sizes = table[~table["member"]] if "member" in table else table.iloc[0:0]
    m = len(members)
    ci = f"estimate [{'simultaneous ' if m > 1 else ''}{100 * (1 - alpha / m):g}% CI]"
    rows = []
    for _, r in members.iterrows():
        method = r["p_method"].replace("_", " ")
        p = ("n/a" if pd.isna(r["p_value"]) else f"{r['p_value']:.4f} ({method})" if r["kind"] == "threshold"
             else f"{r['p_value']:.4f} ({r['relabellings']} {method})")  # fmt: skip
        rows.append(
            {
                "hypothesis": r["hypothesis"],
                "judged on": f"{r['stages']} ({r['runs']} seeds; one-sample t)"
                if r["kind"] == "threshold"
                else f"{r['stages']} ({r['runs']} runs, {r['sizes']} size(s); {r['model']} AFT)",
                ci: estimate_ci(r),
                "p": p,
                "Holm p": f"{r['holm_p']:.4f}",
                "outcome": r["outcome"],
                "robustness": r.get("fragility", ""),
                "in words": plain_words(r),
            }
        )
    out = [*claims.lines(claims.PRIMARY, m=m, alpha=alpha), md_table(rows), ""]
    if len(sizes):
        rows = [{"effect at": r["size"], "judged on": f"{r['runs']} runs", "estimate [CI]": estimate_ci(r),
                 "p": number(r["p_value"], ".4f"), "outcome at this size": r["outcome"], "in words": plain_words(r)}
                for _, r in sizes.iterrows()]  # fmt: skip
        out += [*claims.lines(claims.PER_SIZE, alpha=alpha, m=m, k=int(members["sizes"].max())), md_table(rows), ""]
    return out + claims.lines(claims.ROBUSTNESS) + [robustness_line(r) for _, r in members.iterrows()] + [""]


def decisions_text(out: str, configfiles: list[str]) -> str:
    """What a finished run prints (the Snakefile's onsuccess): the primary family's decisions, where the config has
    one and they are built, and where the summary and the report are (``configfiles``: the run's --configfile)."""
    table, summary = Path(out) / "metrics/confirmatory.parquet", Path(out) / "summary.md"
    flag = "".join(f" --configfile={f}" for f in configfiles)
    lines = []
    if table.exists():
        members = read_parquet(table).query("member")
        rows = [{"hypothesis": r["hypothesis"], "estimate [CI]": estimate_ci(r), "Holm p": f"{r['holm_p']:.4f}",
                 "outcome": r["outcome"], "robustness": r.get("fragility", "")}
                for _, r in members.iterrows()]  # fmt: skip
        lines += ["The primary family's decisions:", md_table(rows), ""]
    if summary.exists():
        lines += [f"Summary: {summary} (and {summary.with_suffix('.html')}). "
                  f"Report: snakemake --report {out}/report.html{flag}"]  # fmt: skip
    return "\n".join(lines)
