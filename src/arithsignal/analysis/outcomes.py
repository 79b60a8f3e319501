"""Gathering per-run tables into the metrics tables the figures and summaries read."""

from __future__ import annotations

import json
import math

import pandas as pd

from ..core.io import concat, provenance, read_parquet, stable_hash, write_parquet
from ..data.formats import FACTORS
from .stats import ablation_table


def aggregate_job(inputs: dict[str, list[str]], outputs: dict[str, str]) -> None:
    """Job entry point: one metrics table per kind of per-run table."""
    for table, out in outputs.items():
        df = concat(inputs[table])
        write_parquet(df, out)
        print(f"{table}: {len(df)} rows from {len(inputs[table])} runs -> {out}")


def ablation_sides(runs: pd.DataFrame, ablation: dict, canonical: dict[str, str]) -> pd.DataFrame:
    """Rows of an ablation's two variants (any per-run table), labelled with side 'on' / 'off'.

    Variants trained once for several names (see config.experiment.canonical_variants) are
    looked up under their canonical name.
    """
    parts = []
    for side in ("on", "off"):
        d = runs[runs["variant"] == canonical[ablation[f"{side}_variant"]]].copy()
        d["side"] = side
        d["shown_as"] = ablation[f"{side}_variant"]
        parts.append(d)
    return pd.concat(parts, ignore_index=True)


def sides_differ(factor: str, on_paths: list[str], off_paths: list[str]) -> list[bool]:
    """Per stage: do the two sides train differently there? For a format factor, do their training sets differ?
    (Commas change nothing below 1,000; a 1x1 stage has no shorter operand to mix in; 1-digit multiplication has no
    addition to mask.) A setting (optim.grad_clip) trains both sides on the same data, differently at every stage."""
    if factor not in FACTORS:
        return [True] * len(on_paths)
    cols = ["prompt", "completion"]
    return [
        a != b and not read_parquet(a, cols).equals(read_parquet(b, cols))
        for a, b in zip(on_paths, off_paths, strict=True)
    ]


def stage_end_accuracy(evals: pd.DataFrame) -> pd.DataFrame:
    """Per run and stage: exact match on the stage's held-out test problems with the model as it was when the stage
    ended (evaluate/held_out.py, ``when`` = stage_end): columns variant, seed, stage, stage_end_exact_match."""
    d = evals[(evals["when"] == "stage_end") & (evals["split"] == "test")]
    return (
        d.groupby(["variant", "seed", "stage"], as_index=False)["correct"]
        .mean()
        .rename(columns={"correct": "stage_end_exact_match"})
    )


def ablation_stats_job(
    inputs: dict[str, list[str]], ablation: dict, canonical: dict[str, str], stage_order: list[str], out: str
) -> None:
    """Job entry point: results/metrics/ablation_<name>.parquet, the per-stage table of one ablation: ratios, exact
    tests and verdicts for the graduation rule and the measures it hides, and held-out exact match at stage end."""
    measures = stage_measures(concat(inputs["graduations"]), concat(inputs["windows"]))
    expect = ablation.get("expect", "faster")
    sides = ablation_sides(measures, ablation, canonical)
    table = ablation_table(sides, stage_order, expect)
    accuracy = ablation_sides(stage_end_accuracy(concat(inputs["eval"])), ablation, canonical)
    mean = accuracy.groupby(["stage", "side"])["stage_end_exact_match"].mean().unstack("side")
    for side in ("on", "off"):
        table[f"stage_end_exact_match_{side}"] = table["stage"].map(mean[side] if side in mean else {})
    table.insert(0, "ablation", ablation["name"])
    table.insert(1, "factor", ablation["factor"])
    table.insert(2, "expect", expect)
    differs = sides_differ(ablation["factor"], inputs["on_data"], inputs["off_data"])
    table.insert(4, "sides_differ", table["stage"].map(dict(zip(stage_order, differs, strict=True))))
    settings = {"ablation": ablation, "canonical": canonical}
    write_parquet(table, out, provenance(ablation["name"], None, settings, stable_hash(settings)))
    print(table.drop(columns=["ablation"]).to_string())


FIRST_GOOD = 0.9  # "first good window": exact match at or above this


def _first_streak(stage_steps: list[int], ok: list[bool], need: int) -> int | None:
    """The stage step of the window that completes ``need`` consecutive ok windows, or None."""
    run = 0
    for step, good in zip(stage_steps, ok, strict=True):
        run = run + 1 if good else 0
        if run >= need:
            return int(step)
    return None


def rule_reading(settings: dict, budget: int) -> dict[str, int]:
    """How the graduation rule reads a run's steps at a stage: its budget (the graduations row's), the window grid and
    the floor (the rule's first chance to pass: windows x window_every)."""
    g = settings["graduation"]
    return {
        "budget": int(budget),
        "window_every": g["window_every"],
        "floor": g["windows"] * g["window_every"],
    }


def stage_measures(graduations: pd.DataFrame, windows: pd.DataFrame) -> pd.DataFrame:
    """Per run and stage, times to an event, each with its censored flag (not reached by the stage's last step):

    * ``steps``: graduation under the rule that drove the curriculum (on the unseen pool by default: steps to
      generalise), and from the graduations table ``fit_steps`` (the train pool passed the rule) and
      ``generalise_steps`` (the unseen pool did);
    * ``answer_steps``: the same rule on the rule's pool with the answers alone (the scratchpad may be wrong). Under
      the published rule it can only come earlier, so the windows already run decide it;
    * ``first_good_steps``: the first window of the rule's pool with exact match >= FIRST_GOOD;
    * ``memorisation_steps``: the memorisation phase (claim 9), generalise_steps - fit_steps, from fitting the training
      problems to generalising; censored (a lower bound) where the stage ended fitted but not generalised; 0 where it
      generalised before its training sample passed the rule; NaN where it did neither or has no unseen pool.

    No training is needed: everything comes from the graduations and windows tables.
    """
    windows = stage_windows(windows)
    cols = ["budget", "window_every", "floor", "answer_steps", "answer_censored", "first_good_steps",
            "first_good_censored", "memorisation_steps", "memorisation_censored"]  # fmt: skip
    if graduations.empty:
        return graduations.assign(**{c: [] for c in cols})
    by_run = (
        {k: g.sort_values("window") for k, g in windows.groupby(["variant", "seed", "stage"])} if len(windows) else {}
    )
    rows = []
    for _, g in graduations.iterrows():
        settings = json.loads(g["settings"])
        w = by_run.get((g["variant"], g["seed"], g["stage"]))
        steps = [] if w is None else w["stage_step"].tolist()
        answer_ok = [] if w is None else (w["answer_exact_match"] >= 1.0).tolist()
        good = [] if w is None else (w["exact_match"] >= FIRST_GOOD).tolist()
        answer = _first_streak(steps, answer_ok, settings["graduation"]["windows"]) if answer_ok else None
        first = _first_streak(steps, good, 1)
        measured = g["unseen_pool"] and not (g["fit_censored"] and g["generalise_censored"])
        # generalised before the training sample passed the rule (the stage ends then, fit censored): no phase
        phase = 0 if g["fit_censored"] else g["generalise_steps"] - g["fit_steps"]
        rows.append(
            {
                **{
                    k: g[k]
                    for k in ("variant", "seed", "stage", "stage_index", "pool", "unseen_pool", "steps", "censored")
                },
                **{k: g[k] for k in ("fit_steps", "fit_censored", "generalise_steps", "generalise_censored")},
                **rule_reading(settings, g["budget"]),
                "answer_steps": int(g["steps"]) if answer is None else answer,
                "answer_censored": answer is None,
                "first_good_steps": int(g["steps"]) if first is None else first,
                "first_good_censored": first is None,
                "memorisation_steps": phase if measured else math.nan,
                "memorisation_censored": bool(measured and g["generalise_censored"]),
            }
        )
    return pd.DataFrame(rows)


def stage_windows(windows: pd.DataFrame) -> pd.DataFrame:
    """The windows the graduation rule ran (the hold's windows after the last stage left out)."""
    return windows[~windows["hold"].fillna(False).astype(bool)] if "hold" in windows else windows


# a hold degrades a run when unseen exact match falls by this much (2 SE of a difference of 100-problem means near 0.9)
HOLD_DROP = 0.1


def hold_measures(windows: pd.DataFrame) -> pd.DataFrame:
    """Per run with a hold (curriculum.hold_steps): exact match on the unseen pool and on the train pool at the hold's
    start (mean of the last ``graduation.windows`` windows of the last stage before it) and end (mean of its last as
    many windows), the change, the lowest unseen window of the hold, and whether the run degraded. Empty when the last
    stage has no unseen pool."""
    if windows.empty or "hold" not in windows or not windows["hold"].fillna(False).any():
        return pd.DataFrame()
    rows = []
    for (variant, seed), w in windows.groupby(["variant", "seed"]):
        held = w[w["hold"].fillna(False).astype(bool)].sort_values("step")
        if held.empty or held["unseen_exact_match"].isna().all():
            continue
        settings = json.loads(w["settings"].iat[0])
        k = settings["graduation"]["windows"]
        before = (
            w[(w["stage"] == held["stage"].iat[0]) & ~w["hold"].fillna(False).astype(bool)].sort_values("step").tail(k)
        )
        after = held.tail(k)
        steps = int(held["stage_step"].max() - before["stage_step"].max())
        row = {
            "variant": variant,
            "optimiser": settings["optim"]["name"],
            "seed": seed,
            "stage": held["stage"].iat[0],
            "hold_steps": steps,
        }
        for pool in ("unseen", "train"):
            col = f"{pool}_exact_match"
            row[f"{pool}_start"], row[f"{pool}_end"] = float(before[col].mean()), float(after[col].mean())
            row[f"{pool}_change"] = row[f"{pool}_end"] - row[f"{pool}_start"]
        row["unseen_lowest"] = float(held["unseen_exact_match"].min())
        row["degraded"] = row["unseen_change"] <= -HOLD_DROP
        rows.append(row)
    return pd.DataFrame(rows)


def failure_table(evals: pd.DataFrame) -> pd.DataFrame:
    """Failed held-out problems with the rank of the correct token in the top-k at the first wrong token."""
    f = evals[~evals["correct"]].copy()
    k = max((len(t) for t in f["topk_tokens"]), default=0)

    def rank(row) -> int:
        toks = list(row["topk_tokens"])
        return toks.index(row["target_token"]) + 1 if row["target_token"] in toks else k + 1

    f["error_group"] = f["error_class"].str.replace(
        r"off_by_one_digit_\d+", "off_by_one_digit", regex=True
    )  # digit k pooled
    f["target_rank"] = [rank(r) for _, r in f.iterrows()] if len(f) else []
    f["logit_gap"] = [
        (lg[0] - lg[list(t).index(tt)]) if tt in list(t) else math.nan
        for lg, t, tt in zip(f["topk_logits"], f["topk_tokens"], f["target_token"], strict=True)
    ]
    return f
