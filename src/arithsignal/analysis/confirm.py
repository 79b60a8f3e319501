"""The confirmatory analysis: a family of primary hypotheses, declared in the config before any run, decided by one
rule.

Each hypothesis (design.py: the family as declared, and the rows it is decided on) is tested by permutation of whole
runs in a censored accelerated-failure-time model (permutation.py), with intervals from inverting that test
(confidence.py). Two hypotheses per ablation: the pooled effect ``beta``, reported as the steps ratio off/on =
exp(-beta) (above 1: the factor speeds convergence), and, where the runs span several sizes, the size interaction
``gamma``, reported as how much that ratio changes per doubling of N (below 1: the factor helps smaller models more).
An interval end the test cannot reach inside the testable range is open: "unbounded below/above" the range's end.

Where a hypothesis spans model sizes, the factor's effect is also estimated at each size alone (the same test on that
size's runs), with intervals at 1 - alpha/(m x sizes); equivalence and the claimed size are judged per size, since a
size-averaged effect hides an interaction. Beside every decision (exploratory): leave-one-stage-out fits, the other
distribution, and the censored cells per side and size. A decision whose significance (or, for an effect, sign)
changes under one of them is marked fragile.

The decision rule, applied mechanically to every hypothesis of the family (m of them, FWER alpha):
* **effect**: Holm-corrected p < alpha;
* **equivalent**: the 1 - 2 alpha/m interval (two one-sided tests at alpha/m) lies inside the smallest effect of
  interest [1/m0, m0];
* **claimed size excluded from above** (the claim is larger than the data allow) or **from below**: the 1 - alpha/m
  (Bonferroni simultaneous) interval excludes the claimed size; **consistent with the claimed size**: it contains it
  and the effect is decided; **claimed size not excluded**: it contains it, the effect undecided;
* otherwise **undecided at this design**, with the smallest effect the design could detect at 80% power (in the
  normal approximation over the relabellings, ``Statistics.detectable``; power.py simulates a design's power).
"""

from __future__ import annotations

import json
import math

import numpy as np

from .confidence import Interval, intervals
from .design import Design, Hypothesis, data_hash, design_of, hypotheses
from .permutation import DRAWN_RELABELLINGS, relabellings, scan_labels, statistics
from .stats import holm
from .threshold import assess_threshold, threshold_outcome

OUTCOMES = ("effect", "equivalent", "claimed size excluded from above", "claimed size excluded from below",
            "consistent with the claimed size", "claimed size not excluded", "undecided at this design", "held",
            "not held")  # fmt: skip
LN2 = math.log(2)


def to_ratio(kind: str, log_value: float) -> float:
    """The reported scale: the steps ratio off/on exp(-beta); for the interaction its change per doubling of N."""
    return math.exp(-log_value * (1 if kind == "effect" else LN2))


def outcome(kind: str, holm_p: float, ci: tuple[float, float], tost: tuple[float, float], smallest: float,
            claimed: float | None, alpha: float, judge_size: bool = True) -> str:  # fmt: skip
    """The decision rule (module docstring) on the ratio scale: the parts that hold, joined by '; '. An open interval
    end is passed as 0 (below) or inf (above). ``judge_size`` False: equivalence and the claimed size are judged per
    model size elsewhere (a hypothesis whose runs span sizes), so only the effect is decided here."""
    parts = []
    if holm_p < alpha:
        parts.append("effect")
    if judge_size and 1 / smallest <= tost[0] and tost[1] <= smallest:
        parts.append("equivalent")
    if judge_size and claimed is not None and kind != "size_interaction":
        if claimed > ci[1]:
            parts.append("claimed size excluded from above")
        elif claimed < ci[0]:
            parts.append("claimed size excluded from below")
        elif holm_p < alpha:
            parts.append("consistent with the claimed size")
        else:
            parts.append("claimed size not excluded")
    if not judge_size and not parts:
        return "undecided at this design (equivalence and the claimed size: per model size)"
    decided = [x for x in parts if x != "claimed size not excluded"]
    return "; ".join(parts) if decided else "; ".join(["undecided at this design", *parts])


def _not_identified(why: str) -> str:
    return f"undecided at this design (not identified: {why})"


def _ratio_columns(kind: str, estimate: float, ci: Interval, tost: Interval) -> dict:
    """An estimate and its intervals on the ratio scale, where a larger term is a smaller ratio (the ends swap). An
    open end holds the testable range's end and its ``*_open`` flag."""
    ratio = lambda v: to_ratio(kind, v)  # noqa: E731
    return {"estimate": ratio(estimate), "ci_low": ratio(ci.high), "ci_high": ratio(ci.low),
            "ci_low_open": ci.high_open, "ci_high_open": ci.low_open, "tost_low": ratio(tost.high),
            "tost_high": ratio(tost.low), "tost_low_open": tost.high_open, "tost_high_open": tost.low_open,
            "testable_low": ratio(ci.testable[1]), "testable_high": ratio(ci.testable[0])}  # fmt: skip


def closed(row: dict, name: str) -> tuple[float, float]:
    """An interval of a row (``ci`` or ``tost``) with its open ends as 0 and inf, for comparisons."""
    low = 0.0 if row[f"{name}_low_open"] else row[f"{name}_low"]
    return low, (math.inf if row[f"{name}_high_open"] else row[f"{name}_high"])


NAN_COLUMNS = {"estimate": math.nan, "ci_low": math.nan, "ci_high": math.nan, "ci_low_open": False,
               "ci_high_open": False, "tost_low": math.nan, "tost_high": math.nan, "tost_low_open": False,
               "tost_high_open": False, "testable_low": math.nan, "testable_high": math.nan, "p_value": math.nan,
               "detectable": math.nan, "other_model_estimate": math.nan, "other_model_p": math.nan, "bound": "",
               "checks": "[]", "values": ""}  # fmt: skip


def assess(design: Design, h: Hypothesis, m: int, alpha: float, n_mc: int = DRAWN_RELABELLINGS, seed: int = 0,
           checks: bool = True) -> dict:  # fmt: skip
    """Everything the table reports for one hypothesis tested at ``alpha / m``, before any Holm correction (``decide``
    applies it to the family): estimate, permutation p, the simultaneous and TOST intervals on the ratio scale and,
    where ``checks`` (the family's members; ``per_size`` goes without), the smallest detectable effect and the
    robustness checks (column ``checks``: leave-one-stage-out and the other distribution)."""
    ok, why = design.identified(h.kind)
    labels, method = relabellings(design.z, design.stratum, n_mc=n_mc, seed=seed)
    row = {"hypothesis": h.name, "ablation": h.ablation, "kind": h.kind, "member": True, "size": "",
           "stages": ", ".join(h.stages), "smallest_effect": h.smallest_effect, "claimed": h.claimed, "model": h.model,
           "runs": len(design.z), "sizes": design.sizes, "relabellings": len(labels), "p_method": method,
           "identified": ok, "not_identified_why": why, "censored_cells": design.censored_cells()}  # fmt: skip
    if not ok:
        return {**row, **NAN_COLUMNS}
    stats = statistics(design, h.kind, h.model, labels)
    few = scan_labels(labels, n_mc, seed)
    ci, tost = intervals(design, h.kind, h.model, few, [1 - alpha / m, 1 - 2 * alpha / m], stats.estimate)
    row.update(_ratio_columns(h.kind, stats.estimate, ci, tost))
    detectable = to_ratio(h.kind, -stats.detectable(alpha / m)) if checks else math.nan
    row.update({"p_value": stats.p_two_sided(), "detectable": detectable})
    row["bound"] = _bound_of(design) if h.kind == "effect" else ""
    _bound_estimate(row)
    if not checks:
        return {**row, **{k: NAN_COLUMNS[k] for k in ("other_model_estimate", "other_model_p", "checks")}}
    found = robustness_checks(design, h, few)
    other = next(c for c in found if c["check"].startswith(h.other_model))
    row.update({"other_model_estimate": other["estimate"], "other_model_p": other["p_value"],
                "checks": json.dumps(found)})  # fmt: skip
    return row


def robustness_checks(design: Design, h: Hypothesis, labels: np.ndarray) -> list[dict]:
    """The hypothesis refitted with each judged stage left out (where more than one is judged) and under the other
    distribution: estimate (ratio scale) and two-sided permutation p of each (exploratory)."""
    variants = [(f"without {design.stage_names[s]}", design.select(design.stage != s), h.model)
                for s in range(design.stages) if design.stages > 1]  # fmt: skip
    variants.append((f"{h.other_model} AFT", design, h.other_model))
    out = []
    for name, d, family in variants:
        ok, why = d.identified(h.kind)
        if not ok:
            out.append({"check": name, "identified": False, "estimate": math.nan, "p_value": math.nan, "why": why})
            continue
        st = statistics(d, h.kind, family, labels)  # leaving a stage out keeps every run: the same relabellings
        out.append({"check": name, "identified": True, "estimate": to_ratio(h.kind, st.estimate),
                    "p_value": st.p_two_sided(), "why": ""})  # fmt: skip
    return out


def per_size(design: Design, h: Hypothesis, m: int, alpha: float, n_mc: int = DRAWN_RELABELLINGS,
             seed: int = 0) -> list[dict]:  # fmt: skip
    """The factor's effect at each model size alone (a hypothesis whose runs span sizes): estimate, p and intervals at
    1 - alpha/(m x sizes), with equivalence and the claimed size judged at that size, each row with its own outcome.
    Not members of the family: they say where a size-averaged effect holds, and they enter no Holm correction."""
    k = design.sizes
    sub = Hypothesis(h.ablation, "effect", h.stages, h.smallest_effect, h.claimed, h.model)
    rows = []
    for size in range(k):
        r = assess(design.select(design.stratum[design.row_run] == size), sub, m * k, alpha, n_mc, seed + size,
                   checks=False)  # fmt: skip
        if r["identified"]:  # the effect is never decided at one size (p 1): only equivalence and the claimed size
            decided = outcome("effect", 1.0, closed(r, "ci"), closed(r, "tost"), h.smallest_effect, h.claimed, alpha)
        else:
            decided = _not_identified(r["not_identified_why"])
        name = design.size_names[size]
        rows.append({**r, "hypothesis": f"{h.ablation}: effect at {name}", "kind": "effect at size", "member": False,
                     "size": name, "holm_p": math.nan, "outcome": decided, "fragility": ""})  # fmt: skip
    return rows


def _bound_estimate(row: dict) -> None:
    """One side never graduated: the fit runs off to +-MAX_COEF, and what the data say is the interval's end (a bound,
    '>=' or '<='); where that end is open too, the data bound nothing and there is no estimate."""
    if row["bound"]:
        end = "ci_low" if row["bound"] == ">=" else "ci_high"
        row["estimate"] = math.nan if row[f"{end}_open"] else row[end]


def _bound_of(design: Design) -> str:
    """'>=' where only the factor-on side graduated anywhere (the ratio off/on is only bounded below), '<=' where only
    the off side did, '' where both did."""
    side = design.z[design.row_run]
    on, off = (bool(design.graduated[side == v].any()) for v in (1, 0))
    return "" if on == off else (">=" if on else "<=")


def fragility(row: dict, alpha: float) -> str:
    """'robust', or 'fragile: ...' naming each check under which the decision's significance (Holm p < alpha, the
    check's p scaled by the same Holm factor) or the side of the estimate (of 1 for an effect, of the bar for a
    threshold) changes."""
    if not row["identified"]:
        return ""
    centre = row["claimed"] if row["kind"] == "threshold" else 1.0
    decided = row["holm_p"] < alpha
    factor = row["holm_p"] / row["p_value"] if row["p_value"] > 0 else 1.0
    moved = []
    for c in json.loads(row["checks"]):
        if not c["identified"]:
            if decided:  # a decision that one check cannot even reproduce rests on what that check leaves out
                moved.append(f"{c['check']} (not identified)")
            continue
        significant = min(1.0, factor * c["p_value"]) < alpha
        if significant != decided:
            moved.append(f"{c['check']} ({'significant' if significant else 'not significant'}, p {c['p_value']:.3f})")
        elif decided and (c["estimate"] - centre) * (row["estimate"] - centre) < 0:
            moved.append(f"{c['check']} (the estimate changes side: {c['estimate']:.2f})")
    return "fragile: " + "; ".join(moved) if moved else "robust"


def decide(rows: list[dict], alpha: float) -> list[dict]:
    """Holm over the family's p-values (a hypothesis that is not identified counts with p = 1), then each outcome and
    its fragility. A pooled effect whose runs span model sizes leaves equivalence and the claimed size to
    ``per_size``."""
    p = [r["p_value"] if r["identified"] else 1.0 for r in rows]
    adjusted = holm(p) if rows else []
    out = []
    for r, hp in zip(rows, adjusted, strict=True):
        r = {**r, "holm_p": float(hp)}
        if not r["identified"]:
            r["outcome"] = _not_identified(r["not_identified_why"])
        elif r["kind"] == "threshold":
            r["outcome"] = threshold_outcome(hp, r["estimate"], r["claimed"], (r["ci_low"], r["ci_high"]), alpha)
        else:
            pooled = r["kind"] == "effect" and r["sizes"] > 1
            r["outcome"] = outcome(r["kind"], hp, closed(r, "ci"), closed(r, "tost"), r["smallest_effect"],
                                   r["claimed"], alpha, judge_size=not pooled)  # fmt: skip
            if r["outcome"].startswith("undecided at this design") and math.isfinite(r["detectable"]):
                r["outcome"] += f" (detectable at 80% power: {detectable_text(r['kind'], r['detectable'])})"
        r["fragility"] = fragility(r, alpha)
        out.append(r)
    return out


def outcome_parts(text: str) -> list[str]:
    """The categories an outcome is made of (each one of OUTCOMES)."""
    return [p.split(" (")[0] for p in text.split("; ")]


def detectable_text(kind: str, ratio: float) -> str:
    """The smallest detectable effect (a ratio above 1, or its reciprocal) in words."""
    what = "a steps ratio" if kind == "effect" else "a change of the ratio per doubling of model size"
    return f"{what} below {1 / ratio:.2f} or above {ratio:.2f}"


# ---------------------------------------------------------------- the workflow job


def _ends(r: dict) -> str:
    low = f"<{r['testable_low']:.2f}" if r["ci_low_open"] else f"{r['ci_low']:.3f}"
    high = f">{r['testable_high']:.2f}" if r["ci_high_open"] else f"{r['ci_high']:.3f}"
    return f"[{low}, {high}]"


def confirm_job(graduation_paths: list[str], analysis: dict, runs: dict[str, list[dict]], output: str,
                eval_paths: list[str] = (), seeds: list[int] | None = None) -> None:  # fmt: skip
    """Job entry point: results/metrics/confirmatory.parquet, one row per hypothesis of the family (``member``), then
    the per-size effects of each entry whose runs span model sizes. ``eval_paths``: the held-out evaluations of the
    threshold entries' runs, each of which must read every seed of ``seeds``."""
    import pandas as pd

    from ..core.io import concat, provenance, stable_hash, write_parquet
    from . import threshold

    graduations = concat(graduation_paths)
    evals = concat(list(eval_paths)) if eval_paths else pd.DataFrame()
    family = hypotheses(analysis)
    alpha, n_mc = analysis["alpha"], analysis.get("permutations", DRAWN_RELABELLINGS)
    rows, sizes = [], []
    for i, h in enumerate(family):
        if h.kind == "threshold":
            (run,) = {r["run"] for r in runs[h.ablation]}
            rows.append({**assess_threshold(evals, h, run, len(family), alpha, seeds),
                         "data_hash": threshold.data_hash(evals, h, run)})  # fmt: skip
            r = rows[-1]
            print(
                f"{h.name}: {r['runs']} seeds, stages {', '.join(h.stages)}: the typical model at the lowest stage "
                f"{r['estimate']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}], p {r['p_value']:.4f}",
                flush=True,
            )
            continue
        design = design_of(graduations, runs[h.ablation], list(h.stages))
        print(f"{h.name}: {len(design.z)} runs, {design.sizes} size(s), stages {', '.join(h.stages)}, {h.model} AFT",
              flush=True)  # fmt: skip
        seed = analysis.get("seed", 0) + i
        hashed = data_hash(graduations, runs[h.ablation], list(h.stages))
        rows.append({**assess(design, h, len(family), alpha, n_mc, seed), "data_hash": hashed})
        r = rows[-1]
        print(f"  estimate {r['estimate']:.3f} {_ends(r)}, p {r['p_value']:.4f} ({r['relabellings']} relabellings, "
              f"{r['p_method']}); censored cells {r['censored_cells']}", flush=True)  # fmt: skip
        if h.kind == "effect" and design.sizes > 1:
            sizes += [{**x, "data_hash": r["data_hash"]} for x in per_size(design, h, len(family), alpha, n_mc, seed)]
            for x in sizes[-design.sizes :]:
                print(f"  {x['hypothesis']}: {x['estimate']:.3f} {_ends(x)}: {x['outcome']}", flush=True)
    table = pd.DataFrame(decide(rows, alpha) + sizes)
    if len(table):
        table["values"] = table["values"].fillna("") if "values" in table else ""
    settings = {"analysis": analysis, "runs": runs}
    write_parquet(table, output, provenance("confirmatory", None, settings, stable_hash(settings)))
    print(table[["hypothesis", "estimate", "ci_low", "ci_high", "holm_p", "outcome", "fragility"]].to_string())
