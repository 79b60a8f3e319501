"""results/scaling.pdf (and the README's picture): steps to graduation against model size per stage, both sides of a
comparison with the censored AFT fit's lines, and the factor's ratio off/on against size."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd

from ..style import SIDE_STYLE, save, theme


def _runs_panel(top, runs: pd.DataFrame, stage: str, r: pd.Series | None) -> None:
    """Every seed of both sides at this stage against N (censored runs as hollow triangles at their budget)."""
    for side, style in SIDE_STYLE.items():
        variant = r[side] if r is not None else None
        d = runs[(runs["stage"] == stage) & (runs["base"] == variant)]
        for censored, face in ((False, style["color"]), (True, "none")):
            dd = d[d["censored"] == censored]
            label = (f"{side} ({variant})" + (", censored" if censored else "")) if len(dd) else None
            x = dd["n_params"] * (0.96 if side == "on" else 1.04)  # the two sides apart at a size they share
            top.scatter(x, dd["steps"], marker="^" if censored else style["marker"], facecolors=face,
                        edgecolors=style["color"], s=22, zorder=3, label=label)  # fmt: skip


def _fit_panels(top, bottom, r: pd.Series | None) -> None:
    """Each side's fitted line on the top panel; the ratio off/on r(N) with its band and where the lines cross below
    (or why there is no fit)."""
    if r is None or not r["identified"]:
        bottom.text(0.5, 0.5, "not identified:\na side graduated\nat fewer than two sizes", ha="center", va="center",
                    transform=bottom.transAxes, fontsize=7)  # fmt: skip
        return
    log_n = np.asarray(r["band_log_n"], dtype=float)
    x = log_n - math.log(r["ref_n_params"])
    gamma = -math.log(r["per_doubling"]) / math.log(2)
    off = r["mu"] - r["alpha_off"] * x
    on = off - math.log(r["ratio_at_ref"]) + gamma * x
    for side, line in (("off", off), ("on", on)):
        top.plot(np.exp(log_n), np.exp(line), color=SIDE_STYLE[side]["color"], lw=1.0, ls="-" if side == "on" else "--",
                 label=f"{side}: alpha {r[f'alpha_{side}']:.2f}")  # fmt: skip
    bottom.plot(np.exp(log_n), r["band_ratio"], color="0.1", lw=1.0, label="ratio off/on")
    bottom.fill_between(np.exp(log_n), r["band_lo"], r["band_hi"], color="0.3", alpha=0.2, lw=0, label="95% band")
    if not math.isnan(r["crossing_n"]):
        bottom.axvline(r["crossing_n"], color="0.4", lw=0.8, ls=":", label=f"lines cross: N = {r['crossing_n']:,.0f}")


def _axes(top, bottom, stage: str) -> None:
    """Both panels of a stage: log-log, titles, labels, and a legend where something is labelled."""
    for ax in (top, bottom):
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # minor labels crowd a short log axis
        ax.set_xlabel("non-embedding parameters N", fontsize=7)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=5)
    top.set_yscale("log")
    bottom.set_yscale("log")
    top.set_title(stage, fontsize=8)
    bottom.set_title(f"{stage}: ratio off/on r(N)", fontsize=8)
    top.set_ylabel("steps to graduation")
    bottom.set_ylabel("steps ratio off/on")


def scaling_figure(runs: pd.DataFrame, fit: pd.DataFrame, stage_order: list[str], out: str) -> list[str]:
    """Per stage, two panels: steps to graduation against non-embedding parameters N (log-log), every seed of both
    sides of each comparison (censored runs as hollow triangles at their budget) with each side's fitted line; and
    the factor's steps ratio off/on r(N) with its 95% band, 1 (no effect) dashed, and where the lines cross.
    ``runs``: scaling.scaling_runs; ``fit``: scaling.scaling_fit_table (one comparison drawn: the first)."""
    theme()
    first = fit[fit["name"] == fit["name"].iat[0]] if len(fit) else fit
    n = len(stage_order)
    fig, axes = plt.subplots(2, n, figsize=(3.4 * n, 6.4), squeeze=False)
    for col, stage in enumerate(stage_order):
        top, bottom = axes[0, col], axes[1, col]
        r = first[first["stage"] == stage].iloc[0] if len(first) and (first["stage"] == stage).any() else None
        _runs_panel(top, runs, stage, r)
        _fit_panels(top, bottom, r)
        bottom.axhline(1.0, color="0.5", lw=0.6, ls="--")
        _axes(top, bottom, stage)
    fig.suptitle("Steps to graduation against model size: censored AFT fit per stage (exploratory, 95% Wald band)",
                 fontsize=9)  # fmt: skip
    return save(fig, out)


def plot_scaling(runs_table: str, fit_table: str, stage_order: list[str], out: str) -> list[str]:
    """Job entry point: results/scaling.pdf."""
    from ...core.io import read_parquet

    return scaling_figure(read_parquet(runs_table), read_parquet(fit_table), stage_order, out)
