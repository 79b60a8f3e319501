"""results/minimal_model_<experiment>.pdf: the minimal SNR model, one figure per experiment (dynamics, per-class
settings, or a sweep of one knob)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from ..style import save, theme

# the knob each sweep varies: experiment -> column, and the column's axis label
KNOBS = {"batch_size": "batch_size", "weight_decay": "weight_decay", "dimension": "d"}
KNOB_LABELS = {"batch_size": "batch size", "weight_decay": "weight decay", "d": "dimension d"}
GAP_LABEL = "SNR gap log10(SNR gamma / SNR W)"


def _per_seed(ax, df: pd.DataFrame, quantities: dict[str, str]) -> None:
    """One line per seed (units), a line style and one legend entry per quantity (column -> label)."""
    long = df.melt(id_vars=["model_seed", "step"], value_vars=list(quantities), var_name="column")
    long["quantity"] = long["column"].map(quantities)
    sns.lineplot(long, x="step", y="value", style="quantity", style_order=list(quantities.values()), units="model_seed",
                 estimator=None, color="0.2", lw=0.8, ax=ax)  # fmt: skip


def _dynamics(df: pd.DataFrame) -> plt.Figure:
    """Norms and per-class SNR against step, one line per seed."""
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
    return fig


def _per_class(df: pd.DataFrame) -> plt.Figure:
    """Loss per setting against step, and the SNR gap each setting ends with."""
    pairs = zip(df["vector_lr_scale"], df["vector_weight_decay"], strict=True)
    df = df.assign(setting=[f"gamma lr x{a:g}, wd {b:g}" for a, b in pairs])
    order = list(dict.fromkeys(df["setting"]))  # the shared setting first (minimal.settings_for)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    sns.lineplot(df, x="step", y="loss", hue="setting", hue_order=order, units="model_seed", estimator=None, lw=0.7,
                 ax=left)  # fmt: skip
    left.set_yscale("log")
    left.set_xlabel("AdamW step")
    left.set_title("Loss (one line per seed); the first setting is shared", fontsize=8)
    left.legend(fontsize=6)
    runs = df.groupby(["setting", "model_seed"], as_index=False, sort=False)["gap"].first()
    sns.pointplot(runs, x="setting", y="gap", order=order, color="0.2", errorbar=("sd", 1), capsize=0.1, ax=right)
    sns.stripplot(runs, x="setting", y="gap", order=order, color="0.55", marker="s", size=4, jitter=False, ax=right)
    right.tick_params(axis="x", labelsize=6, rotation=20)
    right.set_ylabel(GAP_LABEL)
    right.set_title("Per-class settings: the SNR gap", fontsize=8)
    return fig


def _knob_sweep(experiment: str, df: pd.DataFrame) -> plt.Figure:
    """The SNR gap each run ends with against the knob the experiment sweeps, every seed and their mean."""
    knob = KNOBS[experiment]
    runs = df.groupby([knob, "model_seed"], as_index=False)["gap"].first()
    fig, ax = plt.subplots(figsize=(5, 3.6))
    sns.pointplot(runs, x=knob, y="gap", color="0.2", errorbar=("sd", 1), capsize=0.1, ax=ax,
                  label="mean over seeds (bar: sd)")  # fmt: skip
    # no jitter: a random jitter would make the same data give different bytes
    sns.stripplot(runs, x=knob, y="gap", color="0.55", marker="s", size=4, jitter=False, ax=ax, label="one seed")
    ax.axhline(0, color="0.5", lw=0.6)
    ax.set_ylabel(GAP_LABEL)
    ax.set_xlabel(KNOB_LABELS[knob])
    ax.set_title(f"Minimal model: SNR gap against {ax.get_xlabel()}", fontsize=8)
    return fig


def minimal_figure(experiment: str, df: pd.DataFrame, out: str) -> list[str]:
    """The minimal SNR model: dynamics (norms and per-class SNR against step), per-class settings (loss and
    gap per setting) or a sweep (gap against the knob)."""
    theme()
    if experiment == "dynamics":
        fig = _dynamics(df)
    elif experiment == "per_class":
        fig = _per_class(df)
    else:
        fig = _knob_sweep(experiment, df)
    return save(fig, out)


def plot_minimal(experiment: str, path: str, out: str) -> list[str]:
    """Job entry point: results/minimal_model_<experiment>.pdf."""
    from ...core.io import read_parquet

    return minimal_figure(experiment, read_parquet(path), out)
