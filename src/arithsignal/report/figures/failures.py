"""results/failures.pdf: how the models fail on held-out problems, every variant, each stage at its end."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ..style import save, theme


def failure_figure(evals: pd.DataFrame, out: str) -> list[str]:
    """Left: error taxonomy of wrong answers per variant. Right: where the correct token ranked at the first wrong
    token. Held-out problems of each stage, with the model as it was when that stage ended."""
    from ...analysis.outcomes import failure_table

    theme()
    f = failure_table(evals[evals["when"] == "stage_end"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    if f.empty:
        for ax in (left, right):
            ax.text(0.5, 0.5, "no failures on held-out problems", ha="center", transform=ax.transAxes)
        return save(fig, out)
    shares = f.groupby("variant")["error_group"].value_counts(normalize=True).rename("share").reset_index()
    sns.barplot(shares, y="error_group", x="share", hue="variant", palette="Greys", edgecolor="0.2", ax=left)
    left.set_xlabel("share of wrong held-out answers")
    left.set_ylabel("error class")
    left.set_title("Error taxonomy (all stages at their end, test + commute)", fontsize=8)
    k = int(f["target_rank"].max())
    ranks = f.groupby("variant")["target_rank"].value_counts(normalize=True).rename("share").reset_index()
    sns.barplot(ranks, x="target_rank", y="share", hue="variant", palette="Greys", edgecolor="0.2", ax=right)
    rank = f"rank of the correct token among the top logits at the first wrong token ({k} = not in top {k - 1})"
    right.set_xlabel(rank, fontsize=7)
    right.set_ylabel("share of failures")
    gap = np.nanmedian(f["logit_gap"]) if f["logit_gap"].notna().any() else math.nan
    right.set_title(f"Rank 2 = correct token was the runner-up (median logit gap when ranked: {gap:.2f})", fontsize=8)
    return save(fig, out)


def plot_failures(eval_paths: list[str], out: str) -> list[str]:
    """Job entry point: results/failures.pdf."""
    from ...core.io import concat

    return failure_figure(concat(eval_paths), out)
