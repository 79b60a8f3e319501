"""results/ablation_<name>.pdf: one ablation's two sides, stage by stage, under each measure of steps, with the
Kaplan-Meier share graduated and held-out exact match."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from ..style import SIDE_STYLE, SPLIT_STYLE, save, theme

MEASURE_TITLES = {
    "": "steps to graduation (the rule on its pool: unseen problems, so steps to generalise)",
    "fit_": "steps to fit (the same rule on training problems), exploratory",
    "answer_": "steps to graduation, answer-only rule (answers right, scratchpad aside), exploratory",
    "first_good_": "steps to the first window with exact match >= 0.9, exploratory",
}


def _steps_panel(ax, runs: pd.DataFrame, stats: pd.DataFrame, ablation: dict, stage_order: list[str],
                 prefix: str = "") -> None:  # fmt: skip
    """One measure per stage, factor on vs off: every seed, censored runs hollow, the median as a bar,
    and above each stage the ratio of medians with its interval, the exact test's p and the verdict."""
    steps, censored_col = f"{prefix}steps", ("censored" if not prefix else f"{prefix}censored")
    x_of = {s: i for i, s in enumerate(stage_order)}
    for side in ("on", "off"):
        d = runs[runs["side"] == side]
        offset = -0.15 if side == "on" else 0.15
        st = SIDE_STYLE[side]
        label = f"{ablation['factor']} {side} ({ablation[side + '_variant']})"
        for censored in (False, True):
            dd = d[d[censored_col] == censored]
            if dd.empty:
                continue
            jitter = (dd["seed"].rank(method="dense") - 1) * 0.05  # by seed, not random: same data, same bytes
            ax.scatter(
                dd["stage"].map(x_of) + offset + jitter,
                dd[steps],
                marker="^" if censored else st["marker"],
                facecolors="none" if censored else st["color"],
                edgecolors=st["color"],
                s=36,
                label=label + (", censored (did not graduate by this step)" if censored else ", one point per seed"),
                zorder=3,
            )
        med = d.groupby("stage")[steps].median()
        ax.scatter(med.index.map(x_of) + offset, med.values, marker="_", s=300, color=st["color"], zorder=2)
    ymax = runs[steps].max() if len(runs) else 1
    for _, r in stats.iterrows():
        ratio = r[f"{prefix}ratio_text"].replace("undefined (both medians censored)", "both sides\ncensored")
        ratio = ratio.replace(" [", "\n[")
        test = f"p={r[f'{prefix}p_value']:.3f}\n{r[f'{prefix}verdict']}"
        if "sides_differ" in r and not r["sides_differ"]:
            test += "\n(same data)"
        ax.text(x_of[r["stage"]], ymax * 1.4, f"{ratio}\n{test}", ha="center", va="bottom", fontsize=5.5)
    ax.set_xticks(range(len(stage_order)), stage_order)
    ax.set_yscale("log")
    ax.set_ylim(top=ymax * 8)
    ax.set_ylabel("steps (optimizer steps)")
    what = "ratio off/on of medians [95% bootstrap CI], exact Gehan test p, verdict"
    ax.set_title(f"{MEASURE_TITLES[prefix]}: {what}", fontsize=7)
    ax.legend(fontsize=5.5, loc="lower right")


def _km_panels(axes, runs: pd.DataFrame, stage_order: list[str]) -> None:
    """Per stage, the Kaplan-Meier share of seeds graduated against steps (lifelines), factor on vs off."""
    from ...analysis.stats import km_curve

    for ax, stage in zip(axes, stage_order, strict=True):
        for side, ls in (("on", "-"), ("off", "--")):
            d = runs[(runs["stage"] == stage) & (runs["side"] == side)]
            if d.empty:
                continue
            km = km_curve(d["steps"], d["censored"])
            color = SIDE_STYLE[side]["color"]
            ax.step(km["step"], km["graduated"], where="post", color=color, ls=ls, label=f"factor {side}")
            cens = d[d["censored"]]
            if len(cens):  # a censored run ends its side's curve without a step
                ax.scatter(cens["steps"], [km["graduated"].iloc[-1]] * len(cens), marker="|", color=color, s=40)
        ax.set_ylim(-0.05, 1.05)
        ax.set_title(stage, fontsize=7)
        ax.tick_params(labelsize=5)
        ax.set_xlabel("step", fontsize=6)
    axes[0].set_ylabel("share of seeds graduated\n(Kaplan-Meier)", fontsize=6)
    axes[0].legend(fontsize=5)


def _accuracy_panel(ax, evals: pd.DataFrame, stage_order: list[str]) -> None:
    """Held-out exact match per stage, a x b and b x a, with the model at each stage's end and after the last stage."""
    x_of = {s: i for i, s in enumerate(stage_order)}
    acc = evals.groupby(["side", "when", "split", "stage"])["correct"].mean().reset_index()
    for (side, when, split), d in acc.groupby(["side", "when", "split"]):
        d = d.sort_values("stage", key=lambda s: s.map(x_of))
        ax.plot(
            d["stage"].map(x_of),
            100 * d["correct"],
            color=SIDE_STYLE[side]["color"],
            lw=1.6 if when == "stage_end" else 0.8,
            label=f"{side}, {'a x b (test)' if split == 'test' else 'b x a (commute)'}, {when.replace('_', ' ')}",
            **SPLIT_STYLE[split],
        )
    ax.set_xticks(range(len(stage_order)), stage_order)
    ax.set_ylim(-3, 103)
    ax.set_xlabel("curriculum stage")
    ax.set_ylabel("held-out exact match (%), mean over seeds")
    ax.set_title("held-out exact match at each stage's end (thick) and after the last stage (thin)", fontsize=7)
    ax.legend(fontsize=5, ncol=2)


def ablation_figure(
    runs: pd.DataFrame, stats: pd.DataFrame, evals: pd.DataFrame, ablation: dict, stage_order: list[str], out: str
) -> list[str]:
    """Rows: steps to graduation per stage under the rule (every seed, censored runs hollow, ratio with CI, exact
    test, verdict); the Kaplan-Meier share graduated per stage; the same steps panel for steps to fit, for the
    answer-only rule and for the first window >= 0.9; held-out exact match at each stage's end and after the last
    stage, in the trained order (a x b) and swapped (b x a)."""
    theme()
    n = len(stage_order)
    fig = plt.figure(figsize=(max(7.0, 1.5 * n + 2), 19))
    grid = fig.add_gridspec(6, n, height_ratios=[3, 1.5, 3, 3, 3, 2])
    _steps_panel(fig.add_subplot(grid[0, :]), runs, stats, ablation, stage_order)
    _km_panels([fig.add_subplot(grid[1, i]) for i in range(n)], runs, stage_order)
    for row, prefix in ((2, "fit_"), (3, "answer_"), (4, "first_good_")):
        _steps_panel(fig.add_subplot(grid[row, :]), runs, stats, ablation, stage_order, prefix)
    _accuracy_panel(fig.add_subplot(grid[5, :]), evals, stage_order)
    fig.suptitle(f"Ablation {ablation['name']} ({ablation['factor']})", fontsize=10)
    return save(fig, out)


def plot_ablation(inputs: dict, ablation: dict, canonical: dict[str, str], stage_order: list[str],
                  out: str) -> list[str]:  # fmt: skip
    """Job entry point: results/ablation_<name>.pdf from the runs of the ablation's two variants."""
    from ...analysis.outcomes import ablation_sides, stage_measures
    from ...core.io import concat, read_parquet

    runs = ablation_sides(stage_measures(concat(inputs["graduations"]), concat(inputs["windows"])), ablation, canonical)
    evals = ablation_sides(concat(inputs["eval"]), ablation, canonical)
    stats = read_parquet(inputs["stats"])
    return ablation_figure(runs, stats, evals, ablation, stage_order, out)
