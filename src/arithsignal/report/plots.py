"""Figures (seaborn, PDF), drawn to read in black and white: sides differ by marker and shade, not colour alone."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

PDF_META = {"CreationDate": None, "Creator": "arithsignal"}  # no timestamp: same data, same bytes
SIDE_STYLE = {"on": dict(marker="o", color="0.1"), "off": dict(marker="s", color="0.55")}
SPLIT_STYLE = {"test": dict(marker="o", ls="-"), "commute": dict(marker="v", ls="--")}


def _save(fig, out: str) -> list[str]:
    """Write the figure; return each visible panel as "title | x label | y label" (what tests check)."""
    fig.tight_layout()
    if str(out).endswith(".png"):  # a small picture for the README (python -m arithsignal png)
        fig.savefig(out, format="png", dpi=72, metadata={"Software": "arithsignal"})
    else:
        fig.savefig(out, format="pdf", metadata=PDF_META)
    panels = [" | ".join((ax.get_title(), ax.get_xlabel(), ax.get_ylabel())) for ax in fig.axes if ax.get_visible()]
    plt.close(fig)
    return panels


def _theme() -> None:
    sns.set_theme(style="whitegrid", context="paper")


MEASURE_TITLES = {
    "": "steps to graduation (the rule on its pool: unseen problems, so steps to generalise)",
    "fit_": "steps to fit (the same rule on training problems), exploratory",
    "answer_": "steps to graduation, answer-only rule (answers right, scratchpad aside), exploratory",
    "first_good_": "steps to the first window with exact match >= 0.9, exploratory",
}


def _steps_panel(ax, runs: pd.DataFrame, stats: pd.DataFrame, ablation: dict, stage_order: list[str], prefix: str = "") -> None:
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
        ratio = r[f"{prefix}ratio_text"].replace("undefined (both medians censored)", "both sides\ncensored").replace(" [", "\n[")
        test = f"p={r[f'{prefix}p_value']:.3f}\n{r[f'{prefix}verdict']}"
        if "sides_differ" in r and not r["sides_differ"]:
            test += "\n(same data)"
        ax.text(x_of[r["stage"]], ymax * 1.4, f"{ratio}\n{test}", ha="center", va="bottom", fontsize=5.5)
    ax.set_xticks(range(len(stage_order)), stage_order)
    ax.set_yscale("log")
    ax.set_ylim(top=ymax * 8)
    ax.set_ylabel("steps (optimizer steps)")
    ax.set_title(f"{MEASURE_TITLES[prefix]}: ratio off/on of medians [95% bootstrap CI], exact Gehan test p, verdict", fontsize=7)
    ax.legend(fontsize=5.5, loc="lower right")


def _km_panels(axes, runs: pd.DataFrame, stage_order: list[str]) -> None:
    """Per stage, the Kaplan-Meier share of seeds graduated against steps (lifelines), factor on vs off."""
    from ..analysis.stats import km_curve

    for ax, stage in zip(axes, stage_order, strict=True):
        for side, ls in (("on", "-"), ("off", "--")):
            d = runs[(runs["stage"] == stage) & (runs["side"] == side)]
            if d.empty:
                continue
            km = km_curve(d["steps"], d["censored"])
            ax.step(km["step"], km["graduated"], where="post", color=SIDE_STYLE[side]["color"], ls=ls, label=f"factor {side}")
            cens = d[d["censored"]]
            if len(cens):  # a censored run ends its side's curve without a step
                ax.scatter(cens["steps"], [km["graduated"].iloc[-1]] * len(cens), marker="|", color=SIDE_STYLE[side]["color"], s=40)
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
    _theme()
    n = len(stage_order)
    fig = plt.figure(figsize=(max(7.0, 1.5 * n + 2), 19))
    grid = fig.add_gridspec(6, n, height_ratios=[3, 1.5, 3, 3, 3, 2])
    _steps_panel(fig.add_subplot(grid[0, :]), runs, stats, ablation, stage_order)
    _km_panels([fig.add_subplot(grid[1, i]) for i in range(n)], runs, stage_order)
    for row, prefix in ((2, "fit_"), (3, "answer_"), (4, "first_good_")):
        _steps_panel(fig.add_subplot(grid[row, :]), runs, stats, ablation, stage_order, prefix)
    _accuracy_panel(fig.add_subplot(grid[5, :]), evals, stage_order)
    fig.suptitle(f"Ablation {ablation['name']} ({ablation['factor']})", fontsize=10)
    return _save(fig, out)


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


def progress_figure(logs: pd.DataFrame, windows: pd.DataFrame, graduations: pd.DataFrame, variant: str, out: str) -> list[str]:
    """Progress measures against step, one thin line per seed, with a mark at every graduation
    (solid = graduated, dashed = censored): does per-token accuracy rise before exact match, and
    do matrices and vectors live in different SNR regimes? The bottom panel is the memorisation
    measure: exact match on the train pool against the unseen pool, with marks where each stage fitted and generalised."""
    _theme()
    fig = plt.figure(figsize=(10, 12))
    grid = fig.add_gridspec(4, 2)
    first = fig.add_subplot(grid[0, 0])
    axes = np.array([first] + [fig.add_subplot(grid[i // 2, i % 2], sharex=first) for i in range(1, 6)]).reshape(3, 2)
    memo = fig.add_subplot(grid[3, :], sharex=first)
    data = logs.merge(windows[["seed", "step", "exact_match"]], on=["seed", "step"], how="outer")
    for ax, (title, ylabel, scale, measures) in zip(axes.flat, PROGRESS_PANELS, strict=True):
        shown = {label: col for label, col in measures.items() if col in data}
        long = data.melt(id_vars=["seed", "step"], value_vars=list(shown.values()), var_name="column").dropna()
        long["measure"] = long["column"].map({col: label for label, col in shown.items()})
        if len(long):  # one thin line per seed (units), a line style per measure
            sns.lineplot(long, x="step", y="value", style="measure", style_order=[m for m in shown if m in set(long["measure"])],
                         units="seed", estimator=None, color="0.15", lw=0.7, ax=ax)  # fmt: skip
        if scale == "symlog":
            ax.set_yscale("symlog", linthresh=1e-2)
        else:
            ax.set_yscale(scale)
        for _, r in graduations.iterrows():
            ax.axvline(r["end_step"], color="0.6", lw=0.5, ls="--" if r["censored"] else "-")
        ax.set_title(title, fontsize=8)
        ax.set_ylabel(ylabel)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6, loc="best")
    _memorisation_panel(memo, windows, graduations)
    seed0 = graduations[graduations["seed"] == graduations["seed"].min()] if len(graduations) else graduations
    for _, r in seed0.iterrows():
        axes[0, 0].text(r["end_step"], 1.0, ("x " if r["censored"] else "") + r["stage"], rotation=90, fontsize=6, va="top", ha="right")
    for ax in axes.flat:  # the memorisation panel below carries the step axis
        ax.tick_params(labelbottom=False)
        ax.set_xlabel("")
    fig.suptitle(f"{variant}: progress measures, one line per seed; grey lines = stage ends (solid graduated, dashed censored)", fontsize=9)
    return _save(fig, out)


def _memorisation_panel(ax, windows: pd.DataFrame, graduations: pd.DataFrame) -> None:
    """Window exact match on the train pool against the unseen pool, one pair of lines per seed, the gap shaded, and
    per stage and seed a mark where it fitted (the train pool passed the rule) and where it generalised."""
    shown = {"train pool": "train_exact_match", "unseen pool": "unseen_exact_match"}
    long = windows.melt(id_vars=["seed", "step"], value_vars=list(shown.values()), var_name="column").dropna()
    long["window sample"] = long["column"].map({col: label for label, col in shown.items()})
    sns.lineplot(long, x="step", y="value", style="window sample", style_order=list(shown), units="seed", estimator=None,
                 color="0.15", lw=0.7, ax=ax)  # fmt: skip
    for _, w in windows.dropna(subset=["unseen_exact_match"]).groupby(["seed", "stage"]):
        w = w.sort_values("step")
        ax.fill_between(w["step"], w["unseen_exact_match"], w["train_exact_match"], where=w["train_exact_match"] > w["unseen_exact_match"],
                        color="0.3", alpha=0.15, lw=0, interpolate=True)  # fmt: skip
    start = graduations["end_step"] - graduations["steps"]  # the global step each stage began
    for measure, style in (("fit", dict(marker="v", facecolors="none")), ("generalise", dict(marker="o", facecolors="0.15"))):
        done = ~graduations[f"{measure}_censored"]
        ax.scatter((start + graduations[f"{measure}_steps"])[done], [1.0] * int(done.sum()), edgecolors="0.15", s=22, zorder=4,
                   label=f"{'fitted' if measure == 'fit' else 'generalised'} (a stage of one seed)", **style)  # fmt: skip
    for _, r in graduations.iterrows():
        ax.axvline(r["end_step"], color="0.6", lw=0.5, ls="--" if r["censored"] else "-")
    ax.legend(fontsize=6, loc="lower right")
    ax.set_ylim(-0.03, 1.08)
    ax.set_title("memorisation: window exact match, train pool vs unseen pool (shaded: train ahead); marks at fit and at generalisation",
                 fontsize=8)  # fmt: skip
    ax.set_ylabel("exact match")
    ax.set_xlabel("optimizer step")


def failure_figure(evals: pd.DataFrame, out: str) -> list[str]:
    """Left: error taxonomy of wrong answers per variant. Right: where the correct token ranked at the first wrong token.
    Held-out problems of each stage, with the model as it was when that stage ended."""
    from ..analysis.outcomes import failure_table

    _theme()
    f = failure_table(evals[evals["when"] == "stage_end"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    if f.empty:
        for ax in (left, right):
            ax.text(0.5, 0.5, "no failures on held-out problems", ha="center", transform=ax.transAxes)
        return _save(fig, out)
    shares = f.groupby("variant")["error_group"].value_counts(normalize=True).rename("share").reset_index()
    sns.barplot(shares, y="error_group", x="share", hue="variant", palette="Greys", edgecolor="0.2", ax=left)
    left.set_xlabel("share of wrong held-out answers")
    left.set_ylabel("error class")
    left.set_title("Error taxonomy (all stages at their end, test + commute)", fontsize=8)
    k = int(f["target_rank"].max())
    ranks = f.groupby("variant")["target_rank"].value_counts(normalize=True).rename("share").reset_index()
    sns.barplot(ranks, x="target_rank", y="share", hue="variant", palette="Greys", edgecolor="0.2", ax=right)
    right.set_xlabel(f"rank of the correct token among the top logits at the first wrong token ({k} = not in top {k - 1})", fontsize=7)
    right.set_ylabel("share of failures")
    gap = np.nanmedian(f["logit_gap"]) if f["logit_gap"].notna().any() else math.nan
    right.set_title(f"Rank 2 = correct token was the runner-up (median logit gap when ranked: {gap:.2f})", fontsize=8)
    return _save(fig, out)


def plot_ablation(inputs: dict, ablation: dict, canonical: dict[str, str], stage_order: list[str], out: str) -> list[str]:
    """Job entry point: results/ablation_<name>.pdf from the runs of the ablation's two variants."""
    from ..analysis.outcomes import ablation_sides, stage_measures
    from ..core.io import concat, read_parquet

    runs = ablation_sides(stage_measures(concat(inputs["graduations"]), concat(inputs["windows"])), ablation, canonical)
    evals = ablation_sides(concat(inputs["eval"]), ablation, canonical)
    stats = read_parquet(inputs["stats"])
    return ablation_figure(runs, stats, evals, ablation, stage_order, out)


def plot_progress(log_paths: list[str], window_paths: list[str], graduation_paths: list[str], variant: str, out: str) -> list[str]:
    """Job entry point: results/progress_<variant>.pdf."""
    from ..core.io import concat

    return progress_figure(concat(log_paths), concat(window_paths), concat(graduation_paths), variant, out)


def plot_failures(eval_paths: list[str], out: str) -> list[str]:
    """Job entry point: results/failures.pdf."""
    from ..core.io import concat

    return failure_figure(concat(eval_paths), out)


def sweep_figure(table: pd.DataFrame, stage_order: list[str], sweep: str, out: str) -> list[str]:
    """One panel per stage: steps to graduation against the sweep's points (grid order), every seed,
    censored runs as hollow triangles at their budget; a last panel with each run's wall time."""
    _theme()
    points = table.drop_duplicates("point_order").sort_values("point_order")["label"].tolist()
    n = len(stage_order) + 1
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    seeds = sorted(table["model_seed"].unique())
    offset = {s: (i - (len(seeds) - 1) / 2) * 0.08 for i, s in enumerate(seeds)}  # fixed, not random: same data, same bytes
    x = table["point_order"] + table["model_seed"].map(offset)
    for ax, stage in zip(axes.flat, stage_order, strict=False):
        d = table[table["stage"] == stage]
        for censored, style in ((False, dict(marker="o", facecolors="0.15")), (True, dict(marker="^", facecolors="none"))):
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
    return _save(fig, out)


def plot_sweep(table_path: str, stage_order: list[str], sweep: str, out: str) -> list[str]:
    """Job entry point: results/sweep_<name>.pdf."""
    from ..core.io import read_parquet

    return sweep_figure(read_parquet(table_path), stage_order, sweep, out)


def scaling_figure(runs: pd.DataFrame, fit: pd.DataFrame, stage_order: list[str], out: str) -> list[str]:
    """Per stage, two panels: steps to graduation against non-embedding parameters N (log-log), every seed of both
    sides of each comparison (censored runs as hollow triangles at their budget) with each side's fitted line; and
    the factor's steps ratio off/on r(N) with its 95% band, 1 (no effect) dashed, and where the lines cross.
    ``runs``: scaling.scaling_runs; ``fit``: scaling.scaling_fit_table (one comparison drawn: the first)."""
    _theme()
    first = fit[fit["name"] == fit["name"].iat[0]] if len(fit) else fit
    n = len(stage_order)
    fig, axes = plt.subplots(2, n, figsize=(3.4 * n, 6.4), squeeze=False)
    for col, stage in enumerate(stage_order):
        top, bottom = axes[0, col], axes[1, col]
        r = first[first["stage"] == stage].iloc[0] if len(first) and (first["stage"] == stage).any() else None
        for side, style in SIDE_STYLE.items():
            variant = r[side] if r is not None else None
            d = runs[(runs["stage"] == stage) & (runs["base"] == variant)]
            for censored, face in ((False, style["color"]), (True, "none")):
                dd = d[d["censored"] == censored]
                top.scatter(dd["n_params"] * (0.96 if side == "on" else 1.04), dd["steps"], marker="^" if censored else style["marker"],
                            facecolors=face, edgecolors=style["color"], s=22, zorder=3,
                            label=(f"{side} ({variant})" + (", censored" if censored else "")) if len(dd) else None)  # fmt: skip
        if r is not None and r["identified"]:
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
        else:
            bottom.text(0.5, 0.5, "not identified:\na side graduated\nat fewer than two sizes", ha="center", va="center",
                        transform=bottom.transAxes, fontsize=7)  # fmt: skip
        bottom.axhline(1.0, color="0.5", lw=0.6, ls="--")
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
    fig.suptitle("Steps to graduation against model size: censored AFT fit per stage (exploratory, 95% Wald band)", fontsize=9)
    return _save(fig, out)


def plot_scaling(runs_table: str, fit_table: str, stage_order: list[str], out: str) -> list[str]:
    """Job entry point: results/scaling.pdf."""
    from ..core.io import read_parquet

    return scaling_figure(read_parquet(runs_table), read_parquet(fit_table), stage_order, out)


def _per_seed(ax, df: pd.DataFrame, quantities: dict[str, str]) -> None:
    """One line per seed (units), a line style and one legend entry per quantity (column -> label)."""
    long = df.melt(id_vars=["model_seed", "step"], value_vars=list(quantities), var_name="column")
    long["quantity"] = long["column"].map(quantities)
    sns.lineplot(long, x="step", y="value", style="quantity", style_order=list(quantities.values()), units="model_seed",
                 estimator=None, color="0.2", lw=0.8, ax=ax)  # fmt: skip


def minimal_figure(experiment: str, df: pd.DataFrame, out: str) -> list[str]:
    """The minimal SNR model: dynamics (norms and per-class SNR against step), per-class settings (loss and
    gap per setting) or a sweep (gap against the knob)."""
    _theme()
    if experiment == "dynamics":
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
        _per_seed(left, df, {"w_norm": "||W||_F (matrix)", "gamma_norm": "||gamma|| (vector)"})
        left.set_ylabel("parameter norm")
        left.set_title("Norms: W settles while gamma keeps moving?", fontsize=8)
        _per_seed(right, df.assign(snr_w=df["snr_w"].clip(lower=1e-3), snr_gamma=df["snr_gamma"].clip(lower=1e-3)),
                  {"snr_w": "SNR of W", "snr_gamma": "SNR of gamma"})  # fmt: skip
        for ax in (left, right):
            ax.legend(fontsize=7)
        right.set_yscale("log")
        right.set_ylabel("gradient SNR per coordinate (clipped at 1e-3)")
        right.set_title("Per-class gradient signal-to-noise", fontsize=8)
        for ax in (left, right):
            ax.set_xlabel("AdamW step")
    elif experiment == "per_class":
        pairs = zip(df["vector_lr_scale"], df["vector_weight_decay"], strict=True)
        df = df.assign(setting=[f"gamma lr x{a:g}, wd {b:g}" for a, b in pairs])
        order = list(dict.fromkeys(df["setting"]))  # the shared setting first (minimal.settings_for)
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
        sns.lineplot(df, x="step", y="loss", hue="setting", hue_order=order, units="model_seed", estimator=None, lw=0.7, ax=left)
        left.set_yscale("log")
        left.set_xlabel("AdamW step")
        left.set_title("Loss (one line per seed); the first setting is shared", fontsize=8)
        left.legend(fontsize=6)
        runs = df.groupby(["setting", "model_seed"], as_index=False, sort=False)["gap"].first()
        sns.pointplot(runs, x="setting", y="gap", order=order, color="0.2", errorbar=("sd", 1), capsize=0.1, ax=right)
        sns.stripplot(runs, x="setting", y="gap", order=order, color="0.55", marker="s", size=4, jitter=False, ax=right)
        right.tick_params(axis="x", labelsize=6, rotation=20)
        right.set_ylabel("SNR gap log10(SNR gamma / SNR W)")
        right.set_title("Per-class settings: the SNR gap", fontsize=8)
    else:
        knob = {"batch_size": "batch_size", "weight_decay": "weight_decay", "dimension": "d"}[experiment]
        runs = df.groupby([knob, "model_seed"], as_index=False)["gap"].first()
        fig, ax = plt.subplots(figsize=(5, 3.6))
        sns.pointplot(runs, x=knob, y="gap", color="0.2", errorbar=("sd", 1), capsize=0.1, ax=ax, label="mean over seeds (bar: sd)")
        # no jitter: a random jitter would make the same data give different bytes
        sns.stripplot(runs, x=knob, y="gap", color="0.55", marker="s", size=4, jitter=False, ax=ax, label="one seed")
        ax.axhline(0, color="0.5", lw=0.6)
        ax.set_ylabel("SNR gap log10(SNR gamma / SNR W)")
        ax.set_xlabel({"batch_size": "batch size", "weight_decay": "weight decay", "d": "dimension d"}[knob])
        ax.set_title(f"Minimal model: SNR gap against {ax.get_xlabel()}", fontsize=8)
    return _save(fig, out)


def plot_minimal(experiment: str, path: str, out: str) -> list[str]:
    """Job entry point: results/minimal_model_<experiment>.pdf."""
    from ..core.io import read_parquet

    return minimal_figure(experiment, read_parquet(path), out)


def length_figure(scores: pd.DataFrame, runs: pd.DataFrame, ablation: dict, out: str) -> list[str]:
    """results/length_<ablation>.pdf: per operation, exact match per (digits of a, digits of b) for every run of both
    sides (a row per side, a column per seed; trained cells outlined), and each run's extension ratio."""
    from ..analysis.length import cell_table

    _theme()
    cells = cell_table(scores)
    ops, seeds = sorted(cells["op"].unique()), sorted(cells["seed"].unique())
    fig, axes = plt.subplots(2 * len(ops), len(seeds) + 1, figsize=(2.2 * (len(seeds) + 1), 2.4 * 2 * len(ops)), squeeze=False)
    for i, op in enumerate(ops):
        for j, side in enumerate(("on", "off")):
            row = axes[2 * i + j]
            for k, seed in enumerate(seeds):
                ax, d = row[k], cells[(cells["op"] == op) & (cells["side"] == side) & (cells["seed"] == seed)]
                if d.empty:
                    ax.set_visible(False)
                    continue
                grid = d.pivot(index="digits_a", columns="digits_b", values="exact_match").sort_index(ascending=False)
                sns.heatmap(grid, vmin=0, vmax=1, cmap="Greys", cbar=False, square=True, ax=ax, annot=len(grid) <= 6, fmt=".1f",
                            annot_kws={"size": 5})  # fmt: skip
                for _, c in d[d["kind"] == "trained"].iterrows():  # outline the trained cells
                    y = list(grid.index).index(c["digits_a"])
                    x = list(grid.columns).index(c["digits_b"])
                    ax.add_patch(plt.Rectangle((x, y), 1, 1, fill=False, ec="tab:red", lw=1.2))
                e = runs[(runs["op"] == op) & (runs["side"] == side) & (runs["seed"] == seed)]["extension"]
                ext = f", extension {e.iat[0]:.2f}" if len(e) else ""
                ax.set_title(f"{op}, {d['shown_as'].iat[0]}, seed {seed}{ext}", fontsize=6)
                ax.set_xlabel("digits of b")
                ax.set_ylabel("digits of a")
            ax = row[-1]
            if j == 1:
                ax.set_visible(False)
                continue
            d = runs[runs["op"] == op]
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
    fig.suptitle(f"{ablation['name']}: exact match beyond the trained lengths (red: trained cells)", fontsize=8)
    return _save(fig, out)


def plot_length(score_paths: list[str], ablation: dict, canonical: dict[str, str], solved_at: float, out: str) -> list[str]:
    """Job entry point: results/length_<ablation>.pdf from the length scores of the ablation's two variants."""
    from ..analysis.length import extension_runs
    from ..analysis.outcomes import ablation_sides
    from ..core.io import concat

    scores = concat(score_paths)
    runs = ablation_sides(extension_runs(scores, solved_at), ablation, canonical)
    return length_figure(ablation_sides(scores, ablation, canonical), runs, ablation, out)
