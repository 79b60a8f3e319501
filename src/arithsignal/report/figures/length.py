"""results/length_<ablation>.pdf (and docs/length.png): exact match beyond the trained lengths, per operation,
for every run of both sides of an ablation, with each run's extension ratio."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ..style import SIDE_STYLE, save, theme

# a trained cell's outline: a black line under a white one, so it shows on every shade of the grey map
TRAINED_OUTLINE = (dict(ec="0.0", lw=2.0), dict(ec="1.0", lw=0.8))


def _cells_panel(ax, d: pd.DataFrame, extension: pd.Series, op: str, seed: int) -> None:
    """One run's exact match per (digits of a, digits of b) of one operation, its trained cells outlined."""
    grid = d.pivot(index="digits_a", columns="digits_b", values="exact_match").sort_index(ascending=False)
    sns.heatmap(grid, vmin=0, vmax=1, cmap="Greys", cbar=False, square=True, ax=ax, annot=len(grid) <= 6, fmt=".1f",
                annot_kws={"size": 5})  # fmt: skip
    for _, c in d[d["kind"] == "trained"].iterrows():
        y = list(grid.index).index(c["digits_a"])
        x = list(grid.columns).index(c["digits_b"])
        for line in TRAINED_OUTLINE:
            ax.add_patch(plt.Rectangle((x, y), 1, 1, fill=False, **line))
    ext = f", extension {extension.iat[0]:.2f}" if len(extension) else ""
    ax.set_title(f"{op}, {d['shown_as'].iat[0]}, seed {seed}{ext}", fontsize=6)
    ax.set_xlabel("digits of b")
    ax.set_ylabel("digits of a")


def _extension_panel(ax, d: pd.DataFrame, op: str, ablation: dict) -> None:
    """Each run's extension ratio of one operation, the two sides side by side."""
    for side_name, style in SIDE_STYLE.items():
        s = d[d["side"] == side_name]
        jitter = np.linspace(-0.1, 0.1, len(s)) if len(s) > 1 else np.zeros(len(s))
        ax.scatter(np.full(len(s), 0 if side_name == "on" else 1) + jitter, s["extension"], label=side_name, **style)
    ax.axhline(1.0, color="0.6", ls=":", lw=1)
    ax.set_xticks([0, 1], [f"{ablation['factor']} on", "off"])
    ax.set_xlim(-0.5, 1.5)
    ax.set_title(f"{op}: extension ratio per run", fontsize=7)
    ax.set_xlabel("")
    ax.set_ylabel("longest solved / longest trained")


def length_figure(scores: pd.DataFrame, runs: pd.DataFrame, ablation: dict, out: str) -> list[str]:
    """results/length_<ablation>.pdf: per operation, exact match per (digits of a, digits of b) for every run of both
    sides (a row per side, a column per seed; trained cells outlined), and each run's extension ratio."""
    from ...analysis.length import cell_table

    theme()
    cells = cell_table(scores)
    ops, seeds = sorted(cells["op"].unique()), sorted(cells["seed"].unique())
    fig, axes = plt.subplots(2 * len(ops), len(seeds) + 1, figsize=(2.2 * (len(seeds) + 1), 2.4 * 2 * len(ops)),
                             squeeze=False)  # fmt: skip
    for i, op in enumerate(ops):
        for j, side in enumerate(("on", "off")):
            row = axes[2 * i + j]
            for k, seed in enumerate(seeds):
                d = cells[(cells["op"] == op) & (cells["side"] == side) & (cells["seed"] == seed)]
                if d.empty:
                    row[k].set_visible(False)
                    continue
                extension = runs[(runs["op"] == op) & (runs["side"] == side) & (runs["seed"] == seed)]["extension"]
                _cells_panel(row[k], d, extension, op, seed)
            if j == 1:  # one extension panel per operation, beside its "on" row
                row[-1].set_visible(False)
            else:
                _extension_panel(row[-1], runs[runs["op"] == op], op, ablation)
    fig.suptitle(f"{ablation['name']}: exact match beyond the trained lengths (outlined: trained cells)", fontsize=8)
    return save(fig, out)


def plot_length(score_paths: list[str], ablation: dict, canonical: dict[str, str], solved_at: float,
                out: str) -> list[str]:  # fmt: skip
    """Job entry point: results/length_<ablation>.pdf from the length scores of the ablation's two variants."""
    from ...analysis.length import extension_runs
    from ...analysis.outcomes import ablation_sides
    from ...core.io import concat

    scores = concat(score_paths)
    runs = ablation_sides(extension_runs(scores, solved_at), ablation, canonical)
    return length_figure(ablation_sides(scores, ablation, canonical), runs, ablation, out)
