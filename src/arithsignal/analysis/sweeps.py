"""Sweeps: one row per sweep point, seed and stage (the three measures and the wall time), and its markdown table."""

from __future__ import annotations

import json
import math

import pandas as pd

from ..core.io import concat, provenance, stable_hash, write_parquet
from ..core.text import md_table
from .outcomes import stage_measures


def sweep_table(
    graduations: pd.DataFrame, windows: pd.DataFrame, logs: pd.DataFrame, points: list[dict]
) -> pd.DataFrame:
    """One row per sweep point, seed (``model_seed``) and stage: the point's swept values, the three measures, and the
    run's training wall time."""
    measures = stage_measures(graduations, windows)
    wall = (
        logs.sort_values("step").groupby(["variant", "seed"])["wall_time_s"].last()
        if len(logs)
        else pd.Series(dtype=float)
    )
    parts = []
    for order, p in enumerate(points):
        d = measures[measures["variant"] == p["run"]].drop(columns="variant")
        d = d.assign(point=p["variant"], point_order=order, label=p["label"], base=p["base"], run=p["run"],
                     values=json.dumps(p["values"], sort_keys=True))  # fmt: skip
        d["run_wall_time_s"] = [wall.get((p["run"], s), math.nan) for s in d["seed"]]
        parts.append(d)
    # "seed" is a provenance column of every written table (the table's own, here none):
    # the runs' seeds get their own name
    return pd.concat(parts, ignore_index=True).rename(columns={"seed": "model_seed"}) if parts else pd.DataFrame()


def sweep_markdown(table: pd.DataFrame, stage_order: list[str]) -> str:
    """Steps to graduation of every seed per point and stage ('+': censored there), and wall time per run."""
    rows = []
    several = table["base"].nunique() > 1  # a sweep from several variants: each point says which one it starts from
    for (_, label), d in table.groupby(["point_order", "label"]):
        row = {"point": f"{d['base'].iloc[0]}: {label}" if several else label}
        for stage in stage_order:
            st = d[d["stage"] == stage].sort_values("model_seed")
            steps = zip(st["steps"], st["censored"], strict=True)
            row[stage] = ", ".join(f"{int(x)}{'+' if c else ''}" for x, c in steps)
        per_run = d.groupby("model_seed")
        row["runs graduating every stage"] = f"{int((~per_run['censored'].any()).sum())}/{per_run.ngroups}"
        row["wall time per run (min)"] = ", ".join(f"{t / 60:.2f}" for t in per_run["run_wall_time_s"].first())
        rows.append(row)
    return md_table(rows)


def sweep_stats_job(
    inputs: dict[str, list[str]], sweep: str, points: list[dict], stage_order: list[str], outputs: dict[str, str]
) -> None:
    """Job entry point: results/metrics/sweep_<name>.parquet and results/sweep_<name>.md."""
    table = sweep_table(concat(inputs["graduations"]), concat(inputs["windows"]), concat(inputs["train_log"]), points)
    settings = {"sweep": sweep, "points": points}
    write_parquet(table, outputs["table"], provenance(f"sweep_{sweep}", None, settings, stable_hash(settings)))
    text = (
        f"Steps to graduation per seed (seeds in order; '+': censored, not graduated by then) "
        f"and training wall time per run.\n\n"
        f"{sweep_markdown(table, stage_order)}\n"
    )
    with open(outputs["markdown"], "w") as f:
        f.write(text)
    print(text)
