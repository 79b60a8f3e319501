"""The minimal SNR model: where matrices and vectors live in different signal-to-noise regimes.

    L(W, gamma) = 1/(2N) sum_i || gamma * (W x_i) - y_i ||^2,   W in R^{d x d}, gamma in R^d,

trained with AdamW (weight decay on both, unless gamma has its own) on a synthetic teacher
y = gamma* * (W* x) + noise. The loss is unchanged by gamma_j -> c gamma_j, W_j -> W_j / c, so
weight decay, not the data, picks where the parameters sit: ||W||_F settles while ||gamma||
keeps moving, and the two classes see different gradient signal-to-noise ratios. Five
experiments: the dynamics at one setting; sweeps of batch size, weight decay and dimension;
and per-class settings (gamma with its own learning rate and weight decay). The *gap* of a run
is log10(SNR(gamma) / SNR(W)) over the second half of training (means of signal and noise over
the logged steps, so single noisy estimates cannot dominate).

Weight decay acts on the time scale 1/(lr * weight_decay) steps; a run shorter than a few of
them has not reached the noise/weight-decay equilibrium, so the summary states how many each
experiment lasted.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from ..train.measures import gradient_snr

SETTLED_SHARE = 0.5  # W has settled while gamma moves when W's relative change is under half of gamma's
SETTLES = "gamma keeps moving while W settles, as predicted"
NOT_SETTLED = "W still moves comparably to gamma: not the predicted picture"


def _teacher(d: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    w = torch.randn(d, d, generator=gen) / math.sqrt(d)
    g = 1.0 + 0.5 * torch.randn(d, generator=gen)
    return w, g


LABEL_NOISE = 0.1
TARGET = 1.2  # "converged": the loss within 20% of its floor, d * LABEL_NOISE^2 / 2


def train_minimal(d: int, lr: float, weight_decay: float, batch_size: int, steps: int, seed: int, snr_every: int,
                  microbatches: int, vector_lr_scale: float = 1.0,
                  vector_weight_decay: float | None = None) -> pd.DataFrame:  # fmt: skip
    """Train one minimal model; log norms and per-class SNR every ``snr_every`` steps. gamma takes
    ``lr * vector_lr_scale`` and ``vector_weight_decay`` (None: the same decay as W)."""
    gen = torch.Generator().manual_seed(seed)
    w_star, g_star = _teacher(d, gen)
    w = (torch.randn(d, d, generator=gen) / math.sqrt(d)).requires_grad_()
    gamma = torch.ones(d).requires_grad_()
    gamma_wd = weight_decay if vector_weight_decay is None else vector_weight_decay
    opt = torch.optim.AdamW([{"params": [w]},
                             {"params": [gamma], "lr": lr * vector_lr_scale, "weight_decay": gamma_wd}],
                            lr=lr, weight_decay=weight_decay)  # fmt: skip

    def batch(n: int):
        x = torch.randn(n, d, generator=gen)
        return x, (x @ w_star.T) * g_star + LABEL_NOISE * torch.randn(n, d, generator=gen)

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
    """The runs of one experiment: the dynamics setting, with one knob swept. per_class sweeps gamma's own
    (lr_scale, weight_decay), the shared setting (1, the dynamics' weight decay) first."""
    base = {**cfg["dynamics"], "vector_lr_scale": 1.0, "vector_weight_decay": cfg["dynamics"]["weight_decay"]}
    if experiment == "per_class":
        shared = {"lr_scale": 1.0, "weight_decay": base["weight_decay"]}
        own = [pc for pc in cfg["per_class"] if pc != shared]
        return [{**base, "vector_lr_scale": pc["lr_scale"], "vector_weight_decay": pc["weight_decay"], "seed": s}
                for pc in [shared, *own] for s in cfg["seeds"]]  # fmt: skip
    sweep = {"dynamics": ("d", [base["d"]]), "batch_size": ("batch_size", cfg["batch_sizes"]),
             "weight_decay": ("weight_decay", cfg["weight_decays"]),
             "dimension": ("d", cfg["dims"])}[experiment]  # fmt: skip
    knob, values = sweep
    runs = [{**base, knob: v, "seed": s} for v in values for s in cfg["seeds"]]
    return [{**r, "vector_weight_decay": r["weight_decay"]} for r in runs]  # gamma decays as W does


def run_experiment(experiment: str, cfg: dict, log=print) -> pd.DataFrame:
    frames = []
    for s in settings_for(experiment, cfg):
        run = train_minimal(s["d"], s["lr"], s["weight_decay"], s["batch_size"], cfg["steps"], s["seed"],
                            cfg["snr_every"], cfg["microbatches"], s["vector_lr_scale"],
                            s["vector_weight_decay"])  # fmt: skip
        for k, v in s.items():
            run["model_seed" if k == "seed" else k] = v  # "seed" is a provenance column of every table
        run["gap"] = snr_gap(run, s["d"])
        log(f"{experiment}: d={s['d']} B={s['batch_size']} wd={s['weight_decay']} gamma: lr x{s['vector_lr_scale']:g}, "
            f"wd={s['vector_weight_decay']} seed={s['seed']}: "
            f"final loss {run['loss'].iat[-1]:.4f}, gap {run['gap'].iat[0]:+.2f}")  # fmt: skip
        frames.append(run)
    return pd.concat(frames, ignore_index=True)


def minimal_job(experiment: str, cfg: dict, out: str) -> None:
    """Job entry point: results/minimal_model/<experiment>.parquet."""
    from ..core.io import provenance, stable_hash, write_parquet

    torch.set_num_threads(1)
    from ..core.numerics import check

    check()  # the pinned numeric paths, or a clear failure
    df = run_experiment(experiment, cfg, log=lambda m: print(m, flush=True))
    settings = {"experiment": experiment, "minimal_model": cfg}
    write_parquet(df, out, provenance(f"minimal_{experiment}", None, settings, stable_hash(settings)))


# ---------------------------------------------------------------- predictions
