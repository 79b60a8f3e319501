"""The simulated experiment the power analysis tests: a design and a spread, drawn the way the runs would come out.

Per run and stage,

    log T = log m[stage] - alpha[stage] * log(N / N_anchor) + u[run] + e[run, stage] - log r(N) * z[run]

with u ~ N(0, share * sigma^2) common to a run's stages (a fast seed is fast everywhere), e of the declared model's
distribution (analysis.model: normal for the log-normal, minimum extreme value for the Weibull, centred on its median)
with scale sqrt(1 - share) * sigma[stage], and r(N) = r * k ** log2(N / N_ref) the effect (steps ratio off/on r at the
design's reference size, the mean of its log sizes, changing by k per doubling of N). The medians m are anchored where
they were measured: at the side (``anchor_side``: the factor off, or on, in which case the off side is the one the
effect moves) and at the size N_anchor. T is then read the way the rule reads it: rounded up to the window grid,
never below the rule's floor (windows x window_every), and censored at the budget. ``scenario_from`` reads a
scenario off a finished experiment's fit; power.py tests simulated designs as the real one is tested.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .design import Design

SPREAD_KEYS = ("median_steps", "sigma", "run_share", "size_slope", "family", "anchor_side", "anchor_log_size")


@dataclass(frozen=True)
class Scenario:
    """What is simulated: the design and the spread it is simulated from."""

    median_steps: tuple[float, ...]  # per judged stage, the factor-off side at the reference size
    sigma: tuple[float, ...]  # per judged stage, the spread of log steps between runs
    run_share: float  # share of the variance common to a run's stages
    seeds: int  # runs per side and size
    log_sizes: tuple[float, ...]  # log N of each size (one entry: no size axis)
    size_slope: tuple[float, ...]  # per stage, alpha in steps ~ N^-alpha
    budget: int | tuple[int, ...]  # one for every judged stage, or per judged stage (stages[].budget)
    window_every: int
    windows: int
    ratio: float = 1.0  # the pooled effect at the reference size (off/on)
    per_doubling: float = 1.0  # its change per doubling of N
    family: str = "lognormal"  # the declared model: the distribution of e
    anchor_side: str = "off"  # the side median_steps were measured on
    anchor_log_size: float | None = None  # log N where median_steps were measured (None: the reference size)
    after_censored: str = "continue"  # stop: a run censored at a judged stage has no row for the later ones

    @property
    def floor(self) -> int:
        return self.windows * self.window_every

    @classmethod
    def from_record(cls, spread: dict, **design) -> Scenario:
        """A spread as ``save_spread`` records it (the SPREAD_KEYS, per-stage values as JSON lists) on the ``design``
        given (seeds, log_sizes, budget, window_every, windows)."""
        return cls(**design, **{k: tuple(spread[k]) if isinstance(spread[k], list) else spread[k] for k in SPREAD_KEYS})


def _errors(sc: Scenario, rng: np.random.Generator, scale: np.ndarray) -> np.ndarray:
    """One run's per-stage errors of the declared model, with median 0: normal, or minimum extreme value (the Weibull
    AFT's e, log of an exponential) minus its median log(log 2)."""
    if sc.family == "lognormal":
        return rng.normal(0.0, scale)
    return scale * (np.log(rng.exponential(1.0, size=len(scale))) - math.log(math.log(2)))


def simulate(sc: Scenario, rng: np.random.Generator) -> Design:
    """One simulated experiment under the scenario, as the analysis would receive it."""
    q, sizes = len(sc.median_steps), np.asarray(sc.log_sizes, float)
    ref = sizes.mean()
    anchor = ref if sc.anchor_log_size is None else sc.anchor_log_size
    sigma = np.asarray(sc.sigma, float)
    rows = {"run": [], "stage": [], "z": [], "log_n": [], "steps": [], "censored": []}
    budget = np.broadcast_to(np.asarray(sc.budget), (q,))
    run = 0
    for log_n in sizes:
        for z in (0, 1):
            for _ in range(sc.seeds):
                u = rng.normal(0.0, math.sqrt(sc.run_share) * sigma.mean())
                e = _errors(sc, rng, np.sqrt(1 - sc.run_share) * sigma)
                effect = math.log(sc.ratio) + math.log(sc.per_doubling) * (log_n - ref) / math.log(2)
                moved = -effect * z if sc.anchor_side == "off" else effect * (1 - z)  # the side not anchored moves
                log_t = np.log(sc.median_steps) - np.asarray(sc.size_slope) * (log_n - anchor) + u + e + moved
                steps = np.maximum(sc.floor, np.ceil(np.exp(log_t) / sc.window_every) * sc.window_every)
                censored = steps > budget
                # curriculum.after_censored: stop leaves a run's stages after its first censored one unreached
                reached = int(np.argmax(censored)) + 1 if sc.after_censored == "stop" and censored.any() else q
                for s in range(reached):
                    for k, v in zip(rows, (run, s, z, log_n, min(steps[s], budget[s]), bool(censored[s])), strict=True):
                        rows[k].append(v)
                run += 1
    return Design.from_rows(*rows.values(), sc.window_every, budget[rows["stage"]], sc.floor)


def censored_counts(d: Design) -> np.ndarray:
    """(sizes, 2) censored cells of each size, factor off then on."""
    side, size = d.z[d.row_run], d.stratum[d.row_run]
    return np.array([[int((~d.graduated[(size == k) & (side == v)]).sum()) for v in (0, 1)] for k in range(d.sizes)])


def scenario_from(design: Design, family: str = "lognormal", seeds: int | None = None) -> Scenario:
    """The scenario a finished experiment's design and spread give, under the declared model ``family``: per stage the
    factor-off side's median steps at the design's own reference size (where they are anchored), the spread sigma and
    the size slope, from the fitted model; the share of the variance common to a run's stages from the fit's residuals
    (a one-way analysis of variance over runs, graduated rows only)."""
    from .survival import fit_batch, grid_floor

    on = design.z[design.row_run].astype(float)
    X = np.hstack([design.base(), on[:, None]])
    fit = fit_batch(family, design.y, X, design.stage_onehot(), grid_floor(design.y, design.stage))
    beta, sigma = fit.beta[0], np.exp(fit.log_sigma[0])
    q = design.stages
    slope = -beta[q : 2 * q] if design.sizes > 1 else np.zeros(q)
    mid = np.where(np.isfinite(design.y.lo), (design.y.lo + design.y.hi) / 2, design.y.hi)
    resid = (mid - X @ beta) / sigma[design.stage]
    share = _run_share(resid[design.graduated], design.row_run[design.graduated])
    floor = float(np.exp(design.y.start.max()))
    per_side = min(int(((design.z == v) & (design.stratum == k)).sum()) for v in (0, 1) for k in range(design.sizes))
    return Scenario(
        median_steps=tuple(float(np.exp(beta[s])) for s in range(q)),
        sigma=tuple(float(x) for x in sigma),
        run_share=share,
        seeds=seeds or max(per_side, 1),
        log_sizes=tuple(float(x) + design.log_size_mean for x in np.unique(design.log_size)),
        size_slope=tuple(float(x) for x in slope),
        budget=tuple(int(round(float(np.exp(design.y.limit[design.stage == s].min())))) for s in range(q)),
        window_every=int(design.window_every),
        windows=int(round(floor / design.window_every)),
        family=family,
        anchor_side="off",
        anchor_log_size=float(design.log_size_mean),
    )


def _run_share(resid: np.ndarray, runs: np.ndarray) -> float:
    """Intraclass correlation of standardised residuals within runs (clipped to [0, 0.9]): the share of the spread
    that a run's stages have in common."""
    groups = [resid[runs == r] for r in np.unique(runs)]
    groups = [g for g in groups if len(g) >= 2]
    if len(groups) < 3:
        return 0.0
    k = np.mean([len(g) for g in groups])
    grand = np.concatenate(groups).mean()
    msb = sum(len(g) * (g.mean() - grand) ** 2 for g in groups) / (len(groups) - 1)
    msw = sum(((g - g.mean()) ** 2).sum() for g in groups) / sum(len(g) - 1 for g in groups)
    icc = (msb - msw) / (msb + (k - 1) * msw) if msb + (k - 1) * msw > 0 else 0.0
    return float(np.clip(icc, 0.0, 0.9))
