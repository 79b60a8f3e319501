"""The confirmatory test of one term: the model, the relabellings and the statistic.

For an ablation (a factor on against off), the runs of both sides (at one model size or several) and the stages it is
judged on give one censored accelerated-failure-time model over all of them (survival.py), of the distribution the
config declares before the run (``analysis.model``: log-normal or Weibull; the other is fitted beside it as a
robustness check, never chosen after the fact):

    log T[run, stage] = mu[stage] + slope[stage] * log N[run] + beta * z[run] + gamma * z[run] * log N[run]
                        + sigma[stage] e

z = 1 with the factor on, log N centred on the design's sizes (with one size there is no size term). The tested term
is the pooled effect ``beta`` or, where the runs span several sizes, the size interaction ``gamma`` (confirm.py
reports both on the ratio scale).

Inference is by permutation of whole runs' labels (every stage of a run moves with it; within model size), with the
signed root of the likelihood-ratio statistic: the stages of one run are not independent, and the permutation needs
no assumption about how they depend. Exact enumeration of the relabellings when there are at most
MAX_EXACT_RELABELLINGS of them, a seeded Monte Carlo sample otherwise. A value b of the term is tested by shifting
the factor-on side's log times by b, so that under the hypothesis the two sides are exchangeable (``shifted``); the
interaction's test first removes the fitted pooled effect the same way (its nuisance), and is checked for its size by
simulation with a large planted pooled effect (tests/test_confirm.py).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from .design import Design
from .survival import Intervals, fit_batch, grid_floor

MAX_EXACT_RELABELLINGS = 5000  # relabellings enumerated exactly up to this many; a Monte Carlo sample beyond
DRAWN_RELABELLINGS = 2000  # the size of that sample (the default of analysis.permutations)


def relabellings(z: np.ndarray, stratum: np.ndarray, limit: int = MAX_EXACT_RELABELLINGS,
                 n_mc: int = DRAWN_RELABELLINGS, seed: int = 0) -> tuple[np.ndarray, str]:  # fmt: skip
    """Relabellings of the runs (P, R) within strata, the observed labelling first; exact enumeration when there are
    at most ``limit``, else the observed one and ``n_mc`` seeded random ones. Returns (labels, method)."""
    groups = [np.flatnonzero(stratum == s) for s in np.unique(stratum)]
    count = math.prod(math.comb(len(g), int(z[g].sum())) for g in groups)
    if count <= limit:
        per_group = [[set(c) for c in itertools.combinations(g.tolist(), int(z[g].sum()))] for g in groups]
        on_sides = (set().union(*combo) for combo in itertools.product(*per_group))
        labels = np.array([[int(r in on) for r in range(len(z))] for on in on_sides], dtype=int)
        observed = np.flatnonzero((labels == z).all(axis=1))[0]
        labels[[0, observed]] = labels[[observed, 0]]
        return labels, "exact"
    rng = np.random.default_rng(seed)
    labels = np.repeat(z[None], n_mc + 1, axis=0)
    for g in groups:
        for i in range(1, n_mc + 1):
            labels[i, g] = z[g][rng.permutation(len(g))]
    return labels, "monte_carlo"


def scan_labels(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """At most ``n`` + 1 relabellings (the observed one first, the rest a seeded sample) for the interval scans and the
    robustness checks, which test many values: a Monte Carlo permutation test is as valid, only less fine-grained."""
    if len(labels) <= n + 1:
        return labels
    pick = np.random.default_rng(seed).choice(np.arange(1, len(labels)), size=n, replace=False)
    return labels[np.concatenate([[0], np.sort(pick)])]


def _designs(design: Design, kind: str, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Reduced and full design matrices for every labelling (P, n, k), and the tested column's index in the full."""
    z = labels[:, design.row_run].astype(float)  # (P, n)
    base = np.broadcast_to(design.base(), (len(labels), *design.base().shape))
    x = design.log_size[design.row_run][None]
    if kind == "effect":
        red = base
        full = np.concatenate([base, z[..., None]], axis=2)
    else:
        red = np.concatenate([base, z[..., None]], axis=2)
        full = np.concatenate([red, (z * x)[..., None]], axis=2)
    return red, full, full.shape[2] - 1


@dataclass
class Statistics:
    """The permutation distribution of the statistic for one tested value of the term."""

    r: np.ndarray  # (P,) signed root likelihood ratio of each labelling; r[0] is the observed
    estimates: np.ndarray  # (P,) the tested term fitted on each labelling (log time)
    testable: bool = True  # False: the tested value leaves some stage and size with an empty window (p = 1)

    @property
    def estimate(self) -> float:
        return float(self.estimates[0])

    def detectable(self, level: float, power: float = 0.8) -> float:
        """The smallest term (log scale, magnitude) detected with ``power`` at two-sided ``level``, in the normal
        approximation: (z_level + z_power) times the spread of the term over the relabellings (its null spread)."""
        from scipy.stats import norm

        est = self.estimates[1:][np.isfinite(self.estimates[1:])]
        if len(est) < 2:
            return math.nan
        mad = 1.4826 * float(np.median(np.abs(est - np.median(est))))  # robust: a few relabellings separate perfectly
        return (norm.ppf(1 - level / 2) + norm.ppf(power)) * mad

    def p_two_sided(self) -> float:
        return float(np.mean(np.abs(self.r) >= abs(self.r[0]) - 1e-9))

    def p_upper(self) -> float:
        """Evidence that the term is above the tested value (large r)."""
        return float(np.mean(self.r >= self.r[0] - 1e-9))

    def p_lower(self) -> float:
        return float(np.mean(self.r <= self.r[0] + 1e-9))


def statistics(design: Design, kind: str, family: str, labels: np.ndarray, value: float = 0.0) -> Statistics:
    """The permutation distribution of the signed root LR for "the term equals ``value``". Outside the testable range
    (an empty window at some stage and size) the test says nothing: r = 0 for every labelling, p = 1."""
    y, testable = shifted(design, kind, family, value)
    if not testable:
        return Statistics(np.zeros(len(labels)), np.full(len(labels), math.nan), testable=False)
    S = design.stage_onehot()
    floor = grid_floor(design.y, design.stage)
    red, full, col = _designs(design, kind, labels)
    if kind == "effect":  # the reduced model does not depend on the labels: one fit serves all
        f_red = fit_batch(family, y, red[0], S, floor)
        ll_red = np.repeat(f_red.loglik, len(labels))
        start = (np.concatenate([f_red.beta[0], [0.0]]), f_red.log_sigma[0])
    else:
        f_red = fit_batch(family, y, red, S, floor)
        ll_red = f_red.loglik
        start = None
    f_full = fit_batch(family, y, full, S, floor, start=start)
    lr = np.maximum(0.0, 2 * (f_full.loglik - ll_red))
    term = f_full.beta[:, col]
    r = np.sign(term) * np.sqrt(lr)
    return Statistics(np.where(np.isfinite(r), r, 0.0), term)  # a fit the data cannot bound says nothing either way


def shifted(design: Design, kind: str, family: str, value: float) -> tuple[Intervals, bool]:
    """The rows' bounds with the factor-on side moved by the hypothesised term, so that the two sides are exchangeable
    under it: for the interaction, the pooled effect fitted under the hypothesis is removed too. The shift moves the
    on side's budget and floor as well, so every row is then observed only between the highest floor and the lowest
    budget of its own stage and model size (the strata the relabellings stay within): the two sides are then observed
    alike (otherwise a large effect would leave one side censored, or at the floor, far more often than the other).
    Also returns whether every such window is non-empty, i.e. whether ``value`` is testable at all."""
    on = design.z[design.row_run].astype(float)
    if kind == "effect":
        y = design.y.shifted(-value * on)
    else:
        x = design.log_size[design.row_run]
        y = design.y.shifted(-value * on * x)
        red = np.hstack([design.base(), on[:, None]])
        f = fit_batch(family, y, red, design.stage_onehot(), grid_floor(design.y, design.stage))
        y = y.shifted(-f.beta[0, -1] * on)
    cell = design.cell()
    ncell = int(cell.max()) + 1

    def per_cell(values, pick):
        return np.array([pick(values[cell == c]) if (cell == c).any() else 0.0 for c in range(ncell)])

    start, limit = per_cell(y.start, np.max), per_cell(y.limit, np.min)
    present = np.array([(cell == c).any() for c in range(ncell)])
    testable = bool((limit[present] > start[present] + 1e-9).all())
    return y.observed_within(start[cell], limit[cell]), testable
