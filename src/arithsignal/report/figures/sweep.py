"""results/sweep_<name>.pdf: steps to graduation against a sweep's points, stage by stage, with each run's wall time."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd

from ..style import save, theme


def sweep_figure(table: pd.DataFrame, stage_order: list[str], sweep: str, out: str) -> list[str]:
    """One panel per stage: steps to graduation against the sweep's points (grid order), every seed,
    censored runs as hollow triangles at their budget; a last panel with each run's wall time."""
    theme()
    points = table.drop_duplicates("point_order").sort_values("point_order")["label"].tolist()
    n = len(stage_order) + 1
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    seeds = sorted(table["model_seed"].unique())
    # fixed, not random: same data, same bytes
    offset = {s: (i - (len(seeds) - 1) / 2) * 0.08 for i, s in enumerate(seeds)}
    x = table["point_order"] + table["model_seed"].map(offset)
    marks = ((False, dict(marker="o", facecolors="0.15")), (True, dict(marker="^", facecolors="none")))
    for ax, stage in zip(axes.flat, stage_order, strict=False):
        d = table[table["stage"] == stage]
        for censored, style in marks:
            dd = d[d["censored"] == censored]
            label = "censored (not graduated by this step)" if censored else "graduated (one point per seed)"
            ax.scatter(x[dd.index], dd["steps"], edgecolors="0.15", s=30, label=label, zorder=3, **style)
        ax.set_yscale("log")
        ax.set_title(stage, fontsize=8)
        ax.set_ylabel("steps to graduation")
    runs = table.drop_duplicates(["point_order", "model_seed"])
    wall = axes.flat[len(stage_order)]
    wall.scatter(x[runs.index], runs["run_wall_time_s"] / 60, marker="s", color="0.4", s=24, label="one run")
    wall.set_title("training wall time per run", fontsize=8)
    wall.set_ylabel("minutes")
    wall.set_ylim(bottom=0)
    for ax in list(axes.flat)[:n]:
        ax.set_xticks(range(len(points)), points, rotation=30, ha="right", fontsize=6)
        ax.set_xlim(-0.5, len(points) - 0.5)
    axes.flat[0].legend(fontsize=6)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.suptitle(f"Sweep {sweep}: steps to graduation per stage against the swept values", fontsize=9)
    return save(fig, out)


def plot_sweep(table_path: str, stage_order: list[str], sweep: str, out: str) -> list[str]:
    """Job entry point: results/sweep_<name>.pdf."""
    from ...core.io import read_parquet

    return sweep_figure(read_parquet(table_path), stage_order, sweep, out)
