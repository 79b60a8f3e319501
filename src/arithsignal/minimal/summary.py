"""results/minimal_model_summary.md: the minimal SNR model's three predictions next to what its experiments measured
(slopes with bootstrap intervals, time scales, the per-class comparison)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..core.text import interval, md_table
from .experiments import LABEL_NOISE, NOT_SETTLED, SETTLED_SHARE, SETTLES, TARGET


def _slope_ci(gaps: pd.DataFrame, knob: str, n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Slope of |gap| against log2(knob), with a bootstrap interval over seeds."""
    g = gaps.dropna(subset=["gap"])
    x, y = np.log2(g[knob].astype(float)), g["gap"].abs()
    slope = float(np.polyfit(x, y, 1)[0]) if x.nunique() > 1 else math.nan
    seeds = g["model_seed"].unique()
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot if len(seeds) > 1 and x.nunique() > 1 else 0):
        pick = rng.choice(seeds, len(seeds))
        d = pd.concat([g[g["model_seed"] == s] for s in pick])
        if np.log2(d[knob].astype(float)).nunique() > 1:
            boots.append(np.polyfit(np.log2(d[knob].astype(float)), d["gap"].abs(), 1)[0])
    lo, hi = np.quantile(boots, [0.025, 0.975]) if boots else (math.nan, math.nan)
    return slope, float(lo), float(hi)


def _word(lo: float, hi: float, sign: int) -> str:
    if math.isnan(lo):
        return "inconclusive (one seed: no interval)"
    if sign * lo > 0 and sign * hi > 0:
        return "supported"
    if sign * lo < 0 and sign * hi < 0:
        return "contradicted"
    return "inconclusive"


def _per_run(df: pd.DataFrame) -> pd.DataFrame:
    """One row per run: its settings and its gap."""
    return df.groupby(RUN_SETTINGS, as_index=False)["gap"].first()


def _dynamics_markdown(dyn: pd.DataFrame) -> list[str]:
    """Experiment 1: how ||W||_F and ||gamma|| moved, and whether W settled while gamma kept moving."""
    last = dyn[dyn["step"] == dyn["step"].max()]
    first = dyn[dyn["step"] == dyn["step"].min()]
    mid = dyn[dyn["step"] >= dyn["step"].max() / 2]
    drift = mid.groupby("model_seed").agg(
        w0=("w_norm", "first"), w1=("w_norm", "last"), g0=("gamma_norm", "first"), g1=("gamma_norm", "last")
    )
    rel_w = float(((drift["w1"] - drift["w0"]) / drift["w0"]).abs().mean())
    rel_g = float(((drift["g1"] - drift["g0"]) / drift["g0"]).abs().mean())
    return ["## 1. Dynamics", "",
            f"||W||_F went from {first['w_norm'].mean():.3f} to {last['w_norm'].mean():.3f} and ||gamma|| from "
            f"{first['gamma_norm'].mean():.3f} to {last['gamma_norm'].mean():.3f} (means over seeds). Over the second "
            f"half ||W||_F changed by {100 * rel_w:.1f}% and ||gamma|| by {100 * rel_g:.1f}% "
            f"({SETTLES if rel_w < SETTLED_SHARE * rel_g else NOT_SETTLED}; criterion: W's change under "
            f"{SETTLED_SHARE:g} of gamma's).",
            f"Gap at this setting: {_per_run(dyn)['gap'].mean():+.2f} (mean over seeds).", ""]  # fmt: skip


def _slope_markdown(title: str, df: pd.DataFrame, knob: str, sign: int, claim: str) -> list[str]:
    """Experiments 2 and 3: the slope of |gap| against log2 of the swept knob, read against the predicted sign."""
    g = _per_run(df)
    slope, lo, hi = _slope_ci(g, knob)
    table = g.groupby(knob)["gap"].agg(["mean", "std"]).reset_index()
    slope_text = f"Slope of |gap| per doubling of {knob}: {interval(lo, hi, '+.3f', slope)}: **{_word(lo, hi, sign)}**."
    return [f"## {title}", "", f"Prediction: {claim}. {slope_text}", "", _gap_markdown(table, knob), ""]


def _weight_decay_markdown(df: pd.DataFrame) -> list[str]:
    """Experiment 4: |gap| without weight decay against with it."""
    table = _per_run(df).groupby("weight_decay")["gap"].agg(["mean", "std"]).reset_index()
    zero = table[table["weight_decay"] == 0]["mean"].abs()
    rest = table[table["weight_decay"] > 0]["mean"].abs()
    if len(zero) and len(rest):
        verdict = "supported" if float(zero.iat[0]) < 0.5 * float(rest.max()) else "not supported"
        word = (
            f"|gap| without weight decay {float(zero.iat[0]):.2f} vs up to {float(rest.max()):.2f} with it: "
            f"**{verdict}** (criterion: less than half)"
        )
    else:
        word = "not measured (the sweep needs 0 and a positive weight decay)"
    return ["## 4. Weight decay", "", f"Prediction: no weight decay removes the separation. {word}.", "",
            _gap_markdown(table, "weight_decay"), ""]  # fmt: skip


def minimal_summary_markdown(frames: dict[str, pd.DataFrame]) -> str:
    """results/minimal_model_summary.md: per experiment (``frames``, by name), the prediction and what was measured."""
    out = ["# The minimal SNR model", "",
           "L(W, gamma) = 1/(2N) sum ||gamma * (W x) - y||^2, AdamW on a synthetic teacher. "
           "Gap = log10(SNR(gamma)/SNR(W))",
           "over the second half of training; its size |gap| measures how far apart the two classes' SNR regimes are.",
           "Slopes of |gap| against log2 of the swept knob come with a 95% bootstrap interval over seeds.", "",
           time_scales_markdown(frames), ""]  # fmt: skip
    if not frames["dynamics"].empty:
        out += _dynamics_markdown(frames["dynamics"])
    out += _slope_markdown("2. Dimension", frames["dimension"], "d", +1, "the gap grows with d")
    out += _slope_markdown("3. Batch size", frames["batch_size"], "batch_size", -1, "larger batches shrink the gap")
    out += _weight_decay_markdown(frames["weight_decay"])
    if "per_class" in frames:
        out += per_class_markdown(frames["per_class"])
    return "\n".join(out) + "\n"


RUN_SETTINGS = ["d", "batch_size", "weight_decay", "vector_lr_scale", "vector_weight_decay", "model_seed"]


def time_scales_markdown(frames: dict[str, pd.DataFrame]) -> str:
    """How many weight-decay time scales 1/(lr * weight_decay) each experiment's runs lasted."""
    parts = []
    for exp, df in frames.items():
        runs = df.groupby(RUN_SETTINGS + ["lr"], as_index=False)["step"].max()
        decayed = runs[runs["weight_decay"] > 0]
        scales = decayed["step"] * decayed["lr"] * decayed["weight_decay"]
        parts.append(f"{exp} {scales.min():.1f}" if len(scales) else f"{exp} (no weight decay)")
    return (
        "Weight decay acts over 1/(lr x weight_decay) steps; runs need several of these to reach the "
        "noise/weight-decay equilibrium (3 or more is long enough here). Fewest time scales a run with weight decay "
        "lasted, per experiment: " + ", ".join(parts) + "."
    )


def converged_step(run: pd.DataFrame) -> float:
    """The first logged step whose loss is within TARGET of the floor d * LABEL_NOISE^2 / 2 (NaN: never)."""
    floor = run["d"].iat[0] * LABEL_NOISE**2 / 2
    hit = run[run["loss"] <= TARGET * floor]
    return float(hit["step"].iat[0]) if len(hit) else math.nan


PER_CLASS_PREDICTION = """\
## 5. Per-class settings

Prediction (the paper's advice): separate learning rates and weight decay for the two classes are justified;
gamma (signal-dominated) with its own settings should converge at least as fast, and without the weight decay
that fights the scale symmetry, to a lower loss. Compared with the shared setting seed by seed (same teacher, data
and initialisation); a word needs every seed to agree (at 3 seeds a sign test cannot go below p = 1/4 two-sided).
"""


def per_class_markdown(df: pd.DataFrame) -> list[str]:
    """Experiment 5: gamma with its own learning rate and weight decay against the shared setting, paired by seed
    (a seed fixes the teacher, the data and the initialisation)."""
    rows = []
    for (scale, wd, seed), run in df.groupby(["vector_lr_scale", "vector_weight_decay", "model_seed"], sort=False):
        late = run[run["step"] >= 0.75 * run["step"].max()]
        rows.append({"lr_scale": scale, "gamma_wd": wd, "seed": seed, "steps": converged_step(run),
                     "final_loss": float(late["loss"].mean()), "gap": float(run["gap"].iat[0])})  # fmt: skip
    runs = pd.DataFrame(rows)
    shared = runs.iloc[0][["lr_scale", "gamma_wd"]].tolist()  # settings_for puts the shared setting first
    base = runs[(runs["lr_scale"] == shared[0]) & (runs["gamma_wd"] == shared[1])].set_index("seed")
    table = []
    for (scale, wd), d in runs.groupby(["lr_scale", "gamma_wd"], sort=False):
        d = d.set_index("seed")
        faster = (d["steps"] < base["steps"]).sum(), (d["steps"] > base["steps"]).sum()
        lower = (d["final_loss"] < base["final_loss"]).sum(), (d["final_loss"] > base["final_loss"]).sum()
        is_shared = [scale, wd] == shared
        table.append({
            "gamma: lr x, weight decay": f"{scale:g}, {wd:g}" + (" (shared)" if is_shared else ""),
            f"steps to loss <= {TARGET:g} x floor (mean)": f"{d['steps'].mean():.0f}",
            "final loss (mean)": f"{d['final_loss'].mean():.4f}", "gap (mean)": f"{d['gap'].mean():+.2f}",
            "vs shared: converges": "" if is_shared else _paired_word(*faster, len(d), "faster", "slower"),
            "vs shared: final loss": "" if is_shared else _paired_word(*lower, len(d), "lower", "higher"),
        })  # fmt: skip
    return PER_CLASS_PREDICTION.split("\n") + [md_table(table), ""]


def _paired_word(better: int, worse: int, n: int, good: str, bad: str) -> str:
    if better == n:
        return f"**{good}** ({better}/{n} seeds)"
    return f"**{bad}** ({worse}/{n} seeds)" if worse == n else f"mixed ({better}/{n} {good})"


def _gap_markdown(table: pd.DataFrame, knob: str) -> str:
    """The gap per value of a knob: mean and sd over seeds."""
    return md_table(
        {
            knob.replace("_", " "): [f"{x:g}" for x in table[knob]],
            "gap (mean)": [f"{x:+.2f}" for x in table["mean"]],
            "gap (sd over seeds)": [f"{x:.2f}" for x in table["std"]],
        }
    )
