"""The minimal SNR model: where matrices and vectors live in different signal-to-noise regimes.

    L(W, gamma) = 1/(2N) sum_i || gamma * (W x_i) - y_i ||^2,   W in R^{d x d}, gamma in R^d,

trained with AdamW (weight decay on both) on a synthetic teacher y = gamma* * (W* x) + noise.
The loss is unchanged by gamma_j -> c gamma_j, W_j -> W_j / c, so weight decay, not the
data, picks where the parameters sit: ||W||_F settles while ||gamma|| keeps moving, and the
two classes see different gradient signal-to-noise ratios. Four experiments: the dynamics
at one setting, and sweeps of batch size, weight decay and dimension. The *gap* of a run is
log10(SNR(gamma) / SNR(W)) over the second half of training (means of signal and noise
over the logged steps, so single noisy estimates cannot dominate).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from .config import MINIMAL_EXPERIMENTS
from .progress import gradient_snr

EXPERIMENTS = MINIMAL_EXPERIMENTS
SETTLES = "gamma keeps moving while W settles, as predicted"
NOT_SETTLED = "W moved at least as much as gamma: not the predicted picture"


def _teacher(d: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    w = torch.randn(d, d, generator=gen) / math.sqrt(d)
    g = 1.0 + 0.5 * torch.randn(d, generator=gen)
    return w, g


def train_minimal(d: int, lr: float, weight_decay: float, batch_size: int, steps: int, seed: int,
                  snr_every: int, microbatches: int, label_noise: float = 0.1) -> pd.DataFrame:  # fmt: skip
    """Train one minimal model; log norms and per-class SNR every ``snr_every`` steps."""
    gen = torch.Generator().manual_seed(seed)
    w_star, g_star = _teacher(d, gen)
    w = (torch.randn(d, d, generator=gen) / math.sqrt(d)).requires_grad_()
    gamma = torch.ones(d).requires_grad_()
    opt = torch.optim.AdamW([w, gamma], lr=lr, weight_decay=weight_decay)

    def batch(n: int):
        x = torch.randn(n, d, generator=gen)
        return x, (x @ w_star.T) * g_star + label_noise * torch.randn(n, d, generator=gen)

    def loss_of(x, y):
        return 0.5 * (((x @ w.T) * gamma - y) ** 2).sum(dim=1).mean()

    rows = []
    for step in range(steps + 1):
        if step % snr_every == 0:
            gw, gg = [], []
            for _ in range(microbatches):  # k micro-batches at the same weights
                x, y = batch(batch_size)
                a, b = torch.autograd.grad(loss_of(x, y), [w, gamma])
                gw.append(a.flatten().numpy())
                gg.append(b.numpy())
            sw, sg = gradient_snr(np.stack(gw)), gradient_snr(np.stack(gg))
            with torch.no_grad():
                x, y = batch(1024)
                rows.append({
                    "step": step, "loss": float(loss_of(x, y)),
                    "w_norm": float(w.norm()), "gamma_norm": float(gamma.norm()),
                    "signal_w": sw["signal"], "noise_w": sw["noise"], "snr_w": sw["snr"],
                    "signal_gamma": sg["signal"], "noise_gamma": sg["noise"], "snr_gamma": sg["snr"],
                })  # fmt: skip
        if step == steps:
            break
        x, y = batch(batch_size)
        opt.zero_grad()
        loss_of(x, y).backward()
        opt.step()
    return pd.DataFrame(rows)


def snr_gap(run: pd.DataFrame, d: int) -> float:
    """log10(SNR(gamma) / SNR(W)) over the second half of a run (NaN if a mean signal is not positive)."""
    late = run[run["step"] >= run["step"].max() / 2]
    snr_g = (late["signal_gamma"].mean() / d) / late["noise_gamma"].mean()
    snr_w = (late["signal_w"].mean() / d**2) / late["noise_w"].mean()
    return math.log10(snr_g / snr_w) if snr_g > 0 and snr_w > 0 else math.nan


def settings_for(experiment: str, cfg: dict) -> list[dict]:
    """The runs of one experiment: the dynamics setting, with one knob swept."""
    base = dict(cfg["dynamics"])
    sweep = {"dynamics": ("d", [base["d"]]), "batch_size": ("batch_size", cfg["batch_sizes"]),
             "weight_decay": ("weight_decay", cfg["weight_decays"]), "dimension": ("d", cfg["dims"])}[experiment]  # fmt: skip
    knob, values = sweep
    return [{**base, knob: v, "seed": s} for v in values for s in cfg["seeds"]]


def run_experiment(experiment: str, cfg: dict, log=print) -> pd.DataFrame:
    frames = []
    for s in settings_for(experiment, cfg):
        run = train_minimal(s["d"], s["lr"], s["weight_decay"], s["batch_size"], cfg["steps"], s["seed"],
                            cfg["snr_every"], cfg["microbatches"])  # fmt: skip
        for k, v in s.items():
            run["model_seed" if k == "seed" else k] = v  # "seed" is a provenance column of every table
        run["gap"] = snr_gap(run, s["d"])
        log(f"{experiment}: d={s['d']} B={s['batch_size']} wd={s['weight_decay']} seed={s['seed']}: "
            f"final loss {run['loss'].iat[-1]:.4f}, gap {run['gap'].iat[0]:+.2f}")  # fmt: skip
        frames.append(run)
    return pd.concat(frames, ignore_index=True)


def minimal_job(experiment: str, cfg: dict, out: str) -> None:
    """Job entry point: results/minimal_model/<experiment>.parquet."""
    from .config import stable_hash
    from .io import provenance, write_parquet

    torch.set_num_threads(1)
    df = run_experiment(experiment, cfg, log=lambda m: print(m, flush=True))
    settings = {"experiment": experiment, "minimal_model": cfg}
    write_parquet(df, out, provenance(f"minimal_{experiment}", None, settings, stable_hash(settings)))


# ---------------------------------------------------------------- predictions


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


def summary_markdown(frames: dict[str, pd.DataFrame]) -> str:
    def per_run(df: pd.DataFrame) -> pd.DataFrame:
        return df.groupby(["d", "batch_size", "weight_decay", "model_seed"], as_index=False)["gap"].first()

    out = ["# The minimal SNR model", "",
           "L(W, gamma) = 1/(2N) sum ||gamma * (W x) - y||^2, AdamW on a synthetic teacher. Gap = log10(SNR(gamma)/SNR(W))",
           "over the second half of training; its size |gap| measures how far apart the two classes' SNR regimes are.",
           "Slopes of |gap| against log2 of the swept knob come with a 95% bootstrap interval over seeds.", ""]  # fmt: skip
    dyn = frames["dynamics"]
    if not dyn.empty:
        last = dyn[dyn["step"] == dyn["step"].max()]
        first = dyn[dyn["step"] == dyn["step"].min()]
        mid = dyn[dyn["step"] >= dyn["step"].max() / 2]
        drift = mid.groupby("model_seed").agg(
            w0=("w_norm", "first"), w1=("w_norm", "last"), g0=("gamma_norm", "first"), g1=("gamma_norm", "last")
        )
        rel_w = float(((drift["w1"] - drift["w0"]) / drift["w0"]).abs().mean())
        rel_g = float(((drift["g1"] - drift["g0"]) / drift["g0"]).abs().mean())
        out += ["## 1. Dynamics", "",
                f"||W||_F went from {first['w_norm'].mean():.3f} to {last['w_norm'].mean():.3f} and ||gamma|| from "
                f"{first['gamma_norm'].mean():.3f} to {last['gamma_norm'].mean():.3f} (means over seeds). Over the second half "
                f"||W||_F changed by {100 * rel_w:.1f}% and ||gamma|| by {100 * rel_g:.1f}% "
                f"({SETTLES if rel_g > rel_w else NOT_SETTLED}).",
                f"Gap at this setting: {per_run(dyn)['gap'].mean():+.2f} (mean over seeds).", ""]  # fmt: skip
    for title, exp, knob, sign, claim in [
        ("2. Dimension", "dimension", "d", +1, "the gap grows with d"),
        ("3. Batch size", "batch_size", "batch_size", -1, "larger batches shrink the gap"),
    ]:
        g = per_run(frames[exp])
        slope, lo, hi = _slope_ci(g, knob)
        table = g.groupby(knob)["gap"].agg(["mean", "std"]).reset_index()
        out += [f"## {title}", "", f"Prediction: {claim}. Slope of |gap| per doubling of {knob}: {slope:+.3f} [{lo:+.3f}, {hi:+.3f}]: "
                f"**{_word(lo, hi, sign)}**.", "", _gap_markdown(table, knob), ""]  # fmt: skip
    g = per_run(frames["weight_decay"])
    table = g.groupby("weight_decay")["gap"].agg(["mean", "std"]).reset_index()
    zero = table[table["weight_decay"] == 0]["mean"].abs()
    rest = table[table["weight_decay"] > 0]["mean"].abs()
    if len(zero) and len(rest):
        ok = float(zero.iat[0]) < 0.5 * float(rest.max())
        verdict = "supported" if ok else "not supported"
        word = (
            f"|gap| without weight decay {float(zero.iat[0]):.2f} vs up to {float(rest.max()):.2f} with it: "
            f"**{verdict}** (criterion: less than half)"
        )
    else:
        word = "not measured (the sweep needs 0 and a positive weight decay)"
    out += ["## 4. Weight decay", "", f"Prediction: no weight decay removes the separation. {word}.", "",
            _gap_markdown(table, "weight_decay")]  # fmt: skip
    return "\n".join(out) + "\n"


def _gap_markdown(table: pd.DataFrame, knob: str) -> str:
    """The gap per value of a knob: mean and sd over seeds."""
    shown = pd.DataFrame(
        {
            knob.replace("_", " "): [f"{x:g}" for x in table[knob]],
            "gap (mean)": [f"{x:+.2f}" for x in table["mean"]],
            "gap (sd over seeds)": [f"{x:.2f}" for x in table["std"]],
        }
    )
    return shown.to_markdown(index=False, disable_numparse=True)
