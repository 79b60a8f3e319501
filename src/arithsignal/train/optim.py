"""The optimisers: AdamW, and AdamW with an SNR-gated update (docs/OPTIMIZERS.md), per parameter class.

``build_optimizer`` gives matrices and vectors (``GPT.param_classes``) their own parameter
group: matrices take ``optim.lr`` and ``optim.weight_decay``; vectors and scalars take
``lr * vectors.lr_scale`` and ``vectors.weight_decay``. Each group keeps its ``lr_scale``, so
the schedule sets ``lr`` once for every group (``set_lr``).

``SNRGatedAdamW`` is AdamW whose step is scaled, per coordinate, by min(1, SNR / threshold),
where SNR is the gradient's signal-to-noise ratio read from AdamW's own running moments:

    m_hat = m / (1 - beta1^t),  v_hat = v / (1 - beta2^t)
    SNR   = m_hat^2 / (v_hat - m_hat^2)        (infinite where v_hat <= m_hat^2)

At threshold 0 the gate is 1 everywhere and the step is AdamW's, operation for operation.
"""

from __future__ import annotations

import math

import torch

from .settings import OptimSettings

OPTIMIZERS = ("adamw", "snr_gated")


class SNRGatedAdamW(torch.optim.Optimizer):
    """AdamW (decoupled weight decay, bias-corrected moments) with the SNR gate on each coordinate's step.

    The AdamW part follows ``torch.optim.AdamW``'s multi-tensor (foreach) path operation for
    operation, so ``snr_threshold=0`` reproduces ``AdamW(foreach=True)`` bit for bit (a test
    checks it). The gate costs a handful of foreach operations over the parameters per step.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, snr_threshold: float = 1.0):  # fmt: skip
        if snr_threshold < 0:
            raise ValueError(f"snr_threshold must be >= 0, got {snr_threshold}")
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "snr_threshold": snr_threshold}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if params:
                self._group_step(group, params)
        return loss

    def _group_step(self, group: dict, params: list[torch.Tensor]) -> None:
        beta1, beta2 = group["betas"]
        lr, wd, eps, tau = group["lr"], group["weight_decay"], group["eps"], group["snr_threshold"]
        for p in params:
            state = self.state[p]
            if not state:
                state["step"] = torch.tensor(0.0)
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        grads = [p.grad for p in params]
        ms = [self.state[p]["exp_avg"] for p in params]
        vs = [self.state[p]["exp_avg_sq"] for p in params]
        steps = [self.state[p]["step"] for p in params]
        torch._foreach_add_(steps, torch.tensor(1.0), alpha=1.0)
        if wd != 0:
            torch._foreach_mul_(params, 1 - lr * wd)
        torch._foreach_lerp_(ms, grads, 1 - beta1)
        torch._foreach_mul_(vs, beta2)
        torch._foreach_addcmul_(vs, grads, grads, 1 - beta2)
        bias1 = [1 - beta1 ** s.item() for s in steps]
        bias2 = [1 - beta2 ** s.item() for s in steps]
        step_size = [(lr / b) * -1 for b in bias1]
        denom = torch._foreach_sqrt(vs)
        torch._foreach_div_(denom, [b**0.5 for b in bias2])
        torch._foreach_add_(denom, eps)
        if tau > 0:
            ms = torch._foreach_mul(ms, snr_gates(ms, vs, bias1, bias2, tau))
        torch._foreach_addcdiv_(params, ms, denom, step_size)


def snr_gates(ms: list[torch.Tensor], vs: list[torch.Tensor], bias1: list[float], bias2: list[float],
              threshold: float) -> list[torch.Tensor]:  # fmt: skip
    """min(1, SNR / threshold) per coordinate of each tensor, from the raw moments and their bias corrections."""
    m_hat = torch._foreach_div(ms, bias1)
    signal = torch._foreach_mul(m_hat, m_hat)
    noise = torch._foreach_div(vs, bias2)
    torch._foreach_sub_(noise, signal)
    torch._foreach_clamp_min_(noise, 0.0)
    torch._foreach_mul_(noise, threshold)
    # signal / max(threshold * noise, signal): exactly 1 wherever SNR >= threshold, SNR / threshold below;
    # the floor keeps a coordinate whose gradient has always been 0 at 0 (its step is 0 anyway)
    torch._foreach_maximum_(noise, signal)
    torch._foreach_clamp_min_(noise, torch.finfo(ms[0].dtype).tiny)
    return torch._foreach_div(signal, noise)


def class_groups(classes: dict[str, list[torch.nn.Parameter]], weight_decay: float, vectors: dict) -> list[dict]:
    """One parameter group per class: matrices at the base rate and decay, vectors at their own."""
    return [
        {"params": classes["matrices"], "weight_decay": weight_decay, "lr_scale": 1.0},
        {"params": classes["vectors"], "weight_decay": vectors["weight_decay"], "lr_scale": vectors["lr_scale"]},
    ]


def build_optimizer(classes: dict[str, list[torch.nn.Parameter]], optim, fused: bool = False) -> torch.optim.Optimizer:
    """The run's optimiser from its ``OptimSettings`` (``optim.name`` picks it)."""
    groups = class_groups(classes, optim.weight_decay, optim.vectors)
    betas = (optim.beta1, optim.beta2)
    if optim.name == "adamw":
        return torch.optim.AdamW(groups, lr=optim.lr, betas=betas, fused=fused or None)
    if optim.name == "snr_gated":
        return SNRGatedAdamW(groups, lr=optim.lr, betas=betas, snr_threshold=optim.snr_threshold)
    raise ValueError(f"optim.name: unknown optimiser {optim.name!r}; expected one of {OPTIMIZERS}")


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    """The schedule's rate for this step: ``lr`` for matrices, ``lr * lr_scale`` for each other group."""
    for g in opt.param_groups:
        g["lr"] = lr * g["lr_scale"]


def learning_rate(optim: OptimSettings, budget: int, step: int, stage_step: int) -> float:
    """The learning rate of global step ``step``, ``stage_step`` steps into its stage.

    A linear warmup over the run's first ``warmup_steps``, times the stage's schedule: it restarts
    at 1 when a stage starts and, unless constant, decays (cosine or linear) to ``min_lr_ratio``
    over ``decay_steps`` stage steps (the stage budget when null), then holds that floor.
    """
    warm = min(1.0, (step + 1) / max(1, optim.warmup_steps))
    if optim.schedule == "constant":
        return optim.lr * warm
    span = optim.decay_steps or budget
    done = min(stage_step, span) / span
    shape = 0.5 * (1 + math.cos(math.pi * done)) if optim.schedule == "cosine" else 1 - done
    return optim.lr * warm * (optim.min_lr_ratio + (1 - optim.min_lr_ratio) * shape)
