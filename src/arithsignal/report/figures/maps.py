"""results/map_<ablation>.pdf: the ablation's effect over model size and stage (analysis/maps.py), as two heatmaps."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ..style import save, theme

LIMIT = math.log2(8)  # the colour scale's ends: ratios of 1/8 and 8 (beyond them the colour saturates)


def _ratio_text(r: pd.Series) -> str:
    """A cell's text: the ratio and its interval's lower end, the bound it is, or why there is none."""
    if not r["sides_differ"]:
        return "same data"
    if r["reading"] == "not identified":
        return "not\nidentified"
    if r["reading"] == "lower bound":
        return f">= {r['ci_low']:.2f}"
    if r["reading"] == "upper bound":
        return f"<= {r['ci_high']:.2f}"
    return f"{r['ratio']:.2f}\nlow {r['ci_low']:.2f}"


def _grid(table: pd.DataFrame, values: pd.Series, stages: list[str]) -> pd.DataFrame:
    """Sizes (fewest parameters on top) by stages, in curriculum order."""
    order = table.drop_duplicates("size").sort_values("n_params")["size"].tolist()
    grid = table.assign(v=values).pivot(index="size", columns="stage", values="v")
    return grid.reindex(index=order, columns=stages)


def _panel(ax, table: pd.DataFrame, values: pd.Series, coloured: pd.Series, text: pd.Series, stages: list[str],
           label: str, limit: float) -> None:  # fmt: skip
    """One heatmap: colour from ``values`` where ``coloured`` (elsewhere hatched) on a scale from -limit to limit,
    centred on no difference, and each cell's ``text``."""
    shown = values.where(coloured)
    grid, annot = _grid(table, shown, stages), _grid(table, text, stages)
    sns.heatmap(grid.astype(float), ax=ax, cmap="vlag", center=0, vmin=-limit, vmax=limit, linewidths=0.5,
                linecolor="0.8", cbar_kws={"label": label})  # fmt: skip
    for (i, j), value in np.ndenumerate(grid.to_numpy(dtype=float)):
        if np.isnan(value):  # no colour: hatched, so that a missing value never reads as "no effect"
            ax.add_patch(plt.Rectangle((j, i), 1, 1, fill=False, hatch="//", edgecolor="0.75", lw=0))
        words = annot.iat[i, j]  # written on every cell, coloured or not (seaborn's annot skips the uncoloured)
        ax.text(j + 0.5, i + 0.5, "" if pd.isna(words) else words, ha="center", va="center", fontsize=7,
                bbox={"facecolor": "white", "alpha": 0.7, "lw": 0, "pad": 1})  # fmt: skip
    ax.set_xlabel("stage")
    ax.set_ylabel("model size")


def map_figure(table: pd.DataFrame, stages: list[str], ablation: str, out: str) -> list[str]:
    """Left: the steps ratio off/on per (size, stage) cell, colour on log2, the interval's lower end written in it
    (bounds as >= / <=, unidentified cells hatched). Right: held-out exact match at stage end, on - off."""
    theme()
    fig, (left, right) = plt.subplots(1, 2, figsize=(4 + 2.4 * len(stages), 0.6 * table["size"].nunique() + 2.2))
    text = table.apply(_ratio_text, axis=1)
    identified = table["sides_differ"] & (table["reading"] != "not identified")
    _panel(left, table, np.log2(table["ratio"]), identified, text, stages, "log2 steps ratio off/on", LIMIT)
    left.set_title("steps to graduation, off / on\n(95% bootstrap over seeds; above 1: the factor speeds learning)",
                   fontsize=8)  # fmt: skip
    acc = table.apply(lambda r: f"{r['exact_match_diff']:+.2f}" if r["sides_differ"] else "same data", axis=1)
    _panel(right, table, table["exact_match_diff"], table["sides_differ"], acc, stages, "exact match on - off", 1)
    right.set_title("held-out exact match at stage end, on - off", fontsize=8)
    fig.suptitle(f"Where the {ablation} ablation matters, by model size and stage (exploratory)", fontsize=9)
    return save(fig, out)


def plot_map(table_path: str, stages: list[str], ablation: str, out: str) -> list[str]:
    """Job entry point: results/map_<ablation>.pdf."""
    from ...core.io import read_parquet

    return map_figure(read_parquet(table_path), stages, ablation, out)
