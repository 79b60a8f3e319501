"""results/progress_<variant>.pdf: a variant's progress measures against step, one line per seed, and the
memorisation panel (the train pool against the unseen pool)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ..style import save, theme

# the progress figure: panel title, y label, y scale, and the measures it shows (label -> train_log column)
PROGRESS_PANELS = [
    ("accuracy per token vs exact match", "accuracy", "linear",
     {"answer tokens": "answer_token_accuracy", "scratchpad tokens": "scratchpad_token_accuracy",
      "carry-mask tokens": "carry_token_accuracy", "exact match (window)": "exact_match"}),
    ("loss per token", "cross-entropy (nats per token)", "log",
     {"answer": "answer_loss", "scratchpad": "scratchpad_loss", "carry mask": "carry_loss"}),
    ("weight norms", "L2 norm", "linear", {"matrices": "weight_norm_matrices", "vectors": "weight_norm_vectors"}),
    ("gradient SNR per coordinate (k micro-batches)", "SNR (symlog)", "symlog",
     {"matrices": "grad_snr_matrices", "vectors": "grad_snr_vectors"}),
    ("gradient noise scale B_simple", "examples (symlog)", "symlog", {"B_simple": "noise_scale_b_simple"}),
    ("updates and clipping", "share", "linear",
     {"update > threshold, matrices": "update_share_matrices", "update > threshold, vectors": "update_share_vectors",
      "steps clipped": "clip_fraction"}),
]  # fmt: skip


def _stage_ends(ax, graduations: pd.DataFrame) -> None:
    """A grey line where each stage of each seed ended: solid graduated, dashed censored."""
    for _, r in graduations.iterrows():
        ax.axvline(r["end_step"], color="0.6", lw=0.5, ls="--" if r["censored"] else "-")


def _measure_panel(ax, data: pd.DataFrame, graduations: pd.DataFrame, panel: tuple) -> None:
    """One entry of PROGRESS_PANELS: its measures that the log has, one thin line per seed and a style per measure."""
    title, ylabel, scale, measures = panel
    shown = {label: col for label, col in measures.items() if col in data}
    long = data.melt(id_vars=["seed", "step"], value_vars=list(shown.values()), var_name="column").dropna()
    long["measure"] = long["column"].map({col: label for label, col in shown.items()})
    if len(long):  # one thin line per seed (units), a line style per measure
        order = [m for m in shown if m in set(long["measure"])]
        sns.lineplot(long, x="step", y="value", style="measure", style_order=order, units="seed", estimator=None,
                     color="0.15", lw=0.7, ax=ax)  # fmt: skip
    if scale == "symlog":
        ax.set_yscale("symlog", linthresh=1e-2)
    else:
        ax.set_yscale(scale)
    _stage_ends(ax, graduations)
    ax.set_title(title, fontsize=8)
    ax.set_ylabel(ylabel)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6, loc="best")


def progress_figure(logs: pd.DataFrame, windows: pd.DataFrame, graduations: pd.DataFrame, variant: str,
                    out: str) -> list[str]:  # fmt: skip
    """Progress measures against step, one thin line per seed, with a mark at every graduation
    (solid = graduated, dashed = censored): does per-token accuracy rise before exact match, and
    do matrices and vectors live in different SNR regimes? The bottom panel is the memorisation
    measure: exact match on the train pool against the unseen pool, with marks where each stage fitted and
    generalised."""
    theme()
    fig = plt.figure(figsize=(10, 12))
    grid = fig.add_gridspec(4, 2)
    first = fig.add_subplot(grid[0, 0])
    others = [fig.add_subplot(grid[i // 2, i % 2], sharex=first) for i in range(1, 6)]
    axes = np.array([first] + others).reshape(3, 2)
    memo = fig.add_subplot(grid[3, :], sharex=first)
    data = logs.merge(windows[["seed", "step", "exact_match"]], on=["seed", "step"], how="outer")
    for ax, panel in zip(axes.flat, PROGRESS_PANELS, strict=True):
        _measure_panel(ax, data, graduations, panel)
    _memorisation_panel(memo, windows, graduations)
    seed0 = graduations[graduations["seed"] == graduations["seed"].min()] if len(graduations) else graduations
    for _, r in seed0.iterrows():
        label = ("x " if r["censored"] else "") + r["stage"]
        axes[0, 0].text(r["end_step"], 1.0, label, rotation=90, fontsize=6, va="top", ha="right")
    for ax in axes.flat:  # the memorisation panel below carries the step axis
        ax.tick_params(labelbottom=False)
        ax.set_xlabel("")
    ends = "grey lines = stage ends (solid graduated, dashed censored)"
    fig.suptitle(f"{variant}: progress measures, one line per seed; {ends}", fontsize=9)
    return save(fig, out)


def _memorisation_panel(ax, windows: pd.DataFrame, graduations: pd.DataFrame) -> None:
    """Window exact match on the train pool against the unseen pool, one pair of lines per seed, the gap shaded, and
    per stage and seed a mark where it fitted (the train pool passed the rule) and where it generalised."""
    shown = {"train pool": "train_exact_match", "unseen pool": "unseen_exact_match"}
    long = windows.melt(id_vars=["seed", "step"], value_vars=list(shown.values()), var_name="column").dropna()
    long["window sample"] = long["column"].map({col: label for label, col in shown.items()})
    sns.lineplot(long, x="step", y="value", style="window sample", style_order=list(shown), units="seed",
                 estimator=None, color="0.15", lw=0.7, ax=ax)  # fmt: skip
    for _, w in windows.dropna(subset=["unseen_exact_match"]).groupby(["seed", "stage"]):
        w = w.sort_values("step")
        ahead = w["train_exact_match"] > w["unseen_exact_match"]
        ax.fill_between(w["step"], w["unseen_exact_match"], w["train_exact_match"], where=ahead, color="0.3",
                        alpha=0.15, lw=0, interpolate=True)  # fmt: skip
    start = graduations["end_step"] - graduations["steps"]  # the global step each stage began
    marks = (("fit", dict(marker="v", facecolors="none")), ("generalise", dict(marker="o", facecolors="0.15")))
    for measure, style in marks:
        done = ~graduations[f"{measure}_censored"]
        label = f"{'fitted' if measure == 'fit' else 'generalised'} (a stage of one seed)"
        ax.scatter((start + graduations[f"{measure}_steps"])[done], [1.0] * int(done.sum()), edgecolors="0.15", s=22,
                   zorder=4, label=label, **style)  # fmt: skip
    _stage_ends(ax, graduations)
    ax.legend(fontsize=6, loc="lower right")
    ax.set_ylim(-0.03, 1.08)
    ax.set_title("memorisation: window exact match, train pool vs unseen pool (shaded: train ahead); "
                 "marks at fit and at generalisation", fontsize=8)  # fmt: skip
    ax.set_ylabel("exact match")
    ax.set_xlabel("optimizer step")


def plot_progress(log_paths: list[str], window_paths: list[str], graduation_paths: list[str], variant: str,
                  out: str) -> list[str]:  # fmt: skip
    """Job entry point: results/progress_<variant>.pdf."""
    from ...core.io import concat

    return progress_figure(concat(log_paths), concat(window_paths), concat(graduation_paths), variant, out)
