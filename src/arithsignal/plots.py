"""Figures (seaborn, PDF). Drawn to read in black and white: sides differ by marker, not only colour."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

PDF_META = {"CreationDate": None, "Creator": "arithsignal"}  # no timestamp: same data, same bytes
SIDE_STYLE = {"on": dict(marker="o", color="0.15"), "off": dict(marker="s", color="0.55")}


def _save(fig, out: str) -> None:
    fig.tight_layout()
    fig.savefig(out, format="pdf", metadata=PDF_META)
    plt.close(fig)


def ablation_figure(grads: pd.DataFrame, ablation: dict, stage_order: list[str], out: str) -> None:
    """Steps to graduation per stage, factor on vs off, every seed a point, censored runs hollow.

    ``grads`` needs columns side ('on'/'off'), seed, stage, steps, censored.
    """
    sns.set_theme(style="whitegrid", context="paper")
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(stage_order) + 2), 3.6))
    x_of = {s: i for i, s in enumerate(stage_order)}
    for _k, side in enumerate(("on", "off")):
        d = grads[grads["side"] == side]
        offset = -0.15 if side == "on" else 0.15
        st = SIDE_STYLE[side]
        label = f"{ablation['factor']} {side} ({ablation[side + '_variant']})"
        for censored, face in ((False, st["color"]), (True, "none")):
            dd = d[d["censored"] == censored]
            if dd.empty:
                continue
            jitter = (dd["seed"].rank(method="first") - 1) * 0.04
            ax.scatter(
                dd["stage"].map(x_of) + offset + jitter,
                dd["steps"],
                marker=st["marker"] if not censored else "^",
                facecolors=face,
                edgecolors=st["color"],
                s=36,
                label=label + (" censored (≥ budget)" if censored else ""),
                zorder=3,
            )
        med = d.groupby("stage")["steps"].median()
        ax.scatter(med.index.map(x_of) + offset, med.values, marker="_", s=300, color=st["color"], zorder=2)
    ax.set_xticks(range(len(stage_order)), stage_order, rotation=30, ha="right")
    ax.set_yscale("log")
    ax.set_xlabel("curriculum stage")
    ax.set_ylabel("steps to graduation (optimizer steps)")
    ax.set_title(f"Ablation {ablation['name']}: {ablation['factor']} on vs off (bar = median over seeds)")
    ax.legend(fontsize=7, loc="upper left")
    _save(fig, out)


def curriculum_figure(logs: pd.DataFrame, grads: pd.DataFrame, out: str) -> None:
    """Training loss against step (log scale) per variant; a mark at every graduation (x = censored)."""
    sns.set_theme(style="whitegrid", context="paper")
    variants = sorted(logs["variant"].unique())
    fig, axes = plt.subplots(len(variants), 1, figsize=(7, 2.6 * len(variants)), sharex=True, squeeze=False)
    for ax, v in zip(axes[:, 0], variants, strict=True):
        d = logs[logs["variant"] == v]
        sns.lineplot(d, x="step", y="loss", units="seed", estimator=None, hue="seed", palette="gray", ax=ax, legend=False, lw=0.8)
        g = grads[grads["variant"] == v]
        ymax = d["loss"].max()
        for _, r in g.iterrows():
            ax.axvline(r["end_step"], color="0.3", lw=0.6, ls="--" if r["censored"] else "-")
            ax.text(r["end_step"], ymax, ("x " if r["censored"] else "") + r["stage"], rotation=90, fontsize=6, va="top", ha="right")
        ax.set_yscale("log")
        ax.set_title(f"{v}: lines = seeds; solid mark = graduation, dashed = censored", fontsize=8)
        ax.set_ylabel("train loss (nats/token)")
    axes[-1, 0].set_xlabel("optimizer step")
    _save(fig, out)


def ablation_job(graduation_paths: list[str], ablation: dict, canonical: dict[str, str], stage_order: list[str], out: str) -> None:
    """Job entry point: results/ablation_<name>.pdf from the runs of the ablation's two variants."""
    from .aggregate import ablation_sides, concat

    grads = ablation_sides(concat(graduation_paths), ablation, canonical)
    ablation_figure(grads, ablation, stage_order, out)
    print(grads.groupby(["side", "stage"])["steps"].describe().to_string())


def curriculum_job(log_paths: list[str], graduation_paths: list[str], out: str) -> None:
    """Job entry point: results/curriculum.pdf."""
    from .aggregate import concat

    curriculum_figure(concat(log_paths), concat(graduation_paths), out)
