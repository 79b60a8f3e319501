"""The confirmatory analysis: a family of primary hypotheses, declared in the config before any run, decided by one rule.

For an ablation (a factor on against off), the runs of both sides (at one model size or several) and the stages it is
judged on give one censored accelerated-failure-time model over all of them (survival.py), of the distribution the
config declares before the run (``analysis.model``: log-normal or Weibull; the other is fitted beside it as a
robustness check, never chosen after the fact):

    log T[run, stage] = mu[stage] + slope[stage] * log N[run] + beta * z[run] + gamma * z[run] * log N[run] + sigma[stage] e

z = 1 with the factor on, log N centred on the design's sizes (with one size there is no size term). Two hypotheses
per ablation: the pooled effect ``beta`` (reported as the steps ratio off/on = exp(-beta), above 1: the factor speeds
convergence) and, where the runs span several sizes, the size interaction ``gamma`` (reported as how much that ratio
changes per doubling of N, below 1: the factor helps smaller models more).

Inference is by permutation of whole runs' labels (every stage of a run moves with it; within model size), with the
signed root of the likelihood-ratio statistic: the stages of one run are not independent, and the permutation needs
no assumption about how they depend. Exact enumeration of the relabellings when there are at most EXACT_LIMIT of
them, a seeded Monte Carlo sample otherwise. Intervals invert the test: a value b of the term is in the interval when
the test of "the term is b" (the factor-on side's log times shifted by b, so that under the hypothesis the two sides
are exchangeable) does not reject. The interaction's test first removes the fitted pooled effect the same way (its
nuisance), and is checked for its size by simulation with a large planted pooled effect (tests/test_confirm.py).
After the shift both sides are read only within the window (highest floor, lowest budget) of their own stage and
model size, the only strata the relabellings need to be exchangeable in. Where that window is empty at some stage
and size, b cannot be tested: the values where it is not empty are the testable range, and an interval end that the
scan (a grid on the log scale outward from the estimate, then bisection) does not find inside it is open:
"unbounded below/above" the range's end, never a number.

Where a hypothesis spans model sizes, the factor's effect is also estimated at each size alone (the same test on that
size's runs), with intervals at 1 - alpha/(m x sizes); equivalence and the claimed size are judged per size, since a
size-averaged effect hides an interaction. Beside every decision (exploratory): leave-one-stage-out fits, the other
distribution, and the censored cells per side and size. A decision whose significance (or, for an effect, sign)
changes under one of them is marked fragile.

The decision rule, applied mechanically to every hypothesis of the family (m of them, FWER alpha):
* **effect**: Holm-corrected p < alpha;
* **equivalent**: the 1 - 2 alpha/m interval (two one-sided tests at alpha/m) lies inside the smallest effect of
  interest [1/m0, m0];
* **claimed size excluded from above** (the claim is larger than the data allow) or **from below**: the 1 - alpha/m
  (Bonferroni simultaneous) interval excludes the claimed size; **consistent with the claimed size**: it contains it
  and the effect is decided; **claimed size not excluded**: it contains it, the effect undecided;
* otherwise **undecided at this design**, with the smallest effect the design could detect at 80% power (power.py).
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass

import numpy as np

from .stats import holm
from .survival import FAMILIES, Intervals, fit_batch, grid_floor

EXACT_LIMIT = 5000  # relabellings enumerated exactly up to this many; a Monte Carlo sample beyond
MONTE_CARLO = 2000
OUTCOMES = ("effect", "equivalent", "claimed size excluded from above", "claimed size excluded from below",
            "consistent with the claimed size", "claimed size not excluded", "undecided at this design")  # fmt: skip
GRID_STEP = 0.1  # the interval scan's grid on the log scale of the term
LN2 = math.log(2)


@dataclass(frozen=True)
class Hypothesis:
    """One member of the primary family, as declared in the config's ``analysis.family``."""

    ablation: str
    kind: str  # effect | size_interaction
    stages: tuple[str, ...]
    smallest_effect: float  # the equivalence margin [1/m0, m0] on the ratio scale
    claimed: float | None = None  # the claim's own size, on the same scale (effect only)
    model: str = "lognormal"  # the AFT distribution declared before the run (analysis.model)

    @property
    def name(self) -> str:
        return f"{self.ablation}: {'pooled effect' if self.kind == 'effect' else 'effect x model size'}"

    @property
    def other_model(self) -> str:
        return next(f for f in FAMILIES if f != self.model)


@dataclass
class Design:
    """The rows of one ablation's analysis: one per run and judged stage."""

    y: Intervals  # (n,) log bounds of each row's steps
    row_run: np.ndarray  # (n,) which run a row belongs to, 0..R-1
    stage: np.ndarray  # (n,) stage index, 0..q-1
    z: np.ndarray  # (R,) 1: the factor on
    stratum: np.ndarray  # (R,) model size index (labels are permuted within it)
    log_size: np.ndarray  # (R,) log N, centred on the mean of the design's distinct sizes
    graduated: np.ndarray  # (n,) bool
    window_every: int  # the rule's window grid
    log_size_mean: float = 0.0  # what log_size is centred on
    stage_names: tuple[str, ...] = ()  # per stage index
    size_names: tuple[str, ...] = ()  # per stratum ("d_model 16"), in the order of log N

    @classmethod
    def from_rows(cls, run, stage, z, log_n, steps, censored, window_every, budget, floor, size_name=None) -> Design:
        """From per-row columns (run and stage labels of any type; z, log_n constant within a run; ``size_name``: a
        label of each row's model size, by default its N)."""
        run, stage = np.asarray(run), np.asarray(stage)
        runs, row_run = np.unique(run, return_inverse=True)
        stages, stage_ix = np.unique(stage, return_inverse=True)
        first = np.array([np.flatnonzero(row_run == r)[0] for r in range(len(runs))])
        z_run, log_n_run = np.asarray(z, int)[first], np.asarray(log_n, float)[first]
        sizes, stratum = np.unique(np.round(log_n_run, 9), return_inverse=True)
        names = np.asarray(size_name)[first] if size_name is not None else np.array([f"N {math.exp(x):,.0f}" for x in log_n_run])
        size_names = tuple(str(names[np.flatnonzero(stratum == k)[0]]) for k in range(len(sizes)))
        y = Intervals.from_steps(steps, censored, window_every, budget, floor)
        return cls(y, row_run, stage_ix, z_run, stratum, log_n_run - sizes.mean(), ~np.asarray(censored, bool), int(window_every),
                   float(sizes.mean()), tuple(str(x) for x in stages), size_names)  # fmt: skip

    def select(self, rows: np.ndarray) -> Design:
        """The design on a subset of its rows (a stage left out, or one model size), every index renumbered and the
        sizes centred again on the ones left."""
        rows = np.asarray(rows, bool)
        runs, row_run = np.unique(self.row_run[rows], return_inverse=True)
        stages, stage = np.unique(self.stage[rows], return_inverse=True)
        strata, stratum = np.unique(self.stratum[runs], return_inverse=True)
        log_n = self.log_size[runs] + self.log_size_mean
        mean = float(np.unique(np.round(log_n, 9)).mean())
        y = Intervals(self.y.lo[rows], self.y.hi[rows], self.y.limit[rows], self.y.start[rows])
        return Design(y, row_run, stage, self.z[runs], stratum, log_n - mean, self.graduated[rows], self.window_every, mean,
                      tuple(self.stage_names[i] for i in stages) if self.stage_names else (),
                      tuple(self.size_names[i] for i in strata) if self.size_names else ())  # fmt: skip

    def cell(self) -> np.ndarray:
        """(stage, model size) of each row, as one index: the strata within which the two sides are read alike."""
        return self.stage * self.sizes + self.stratum[self.row_run]

    def censored_cells(self) -> str:
        """How many (run, stage) cells are censored, per model size and side: what a decision rests on."""
        side, size = self.z[self.row_run], self.stratum[self.row_run]
        parts = []
        for k in range(self.sizes):
            name = self.size_names[k] if self.size_names else f"size {k}"
            counts = [f"{v} {int((~self.graduated[(size == k) & (side == s)]).sum())} of {int(((size == k) & (side == s)).sum())}"
                      for v, s in (("on", 1), ("off", 0))]  # fmt: skip
            parts.append(f"{name}: " + ", ".join(counts))
        return "; ".join(parts)

    @property
    def sizes(self) -> int:
        return int(self.stratum.max()) + 1

    @property
    def stages(self) -> int:
        return int(self.stage.max()) + 1

    def stage_onehot(self) -> np.ndarray:
        return np.eye(self.stages)[self.stage]

    def base(self) -> np.ndarray:
        """Stage means, and with several sizes a size slope per stage."""
        S = self.stage_onehot()
        return np.hstack([S, S * self.log_size[self.row_run][:, None]]) if self.sizes > 1 else S

    def identified(self, kind: str) -> tuple[bool, str]:
        """Can the data fix the term at all? The pooled effect needs a graduated run on some side; the interaction a
        stage where both sides graduated at two sizes or more."""
        if kind == "effect":
            ok = bool(self.graduated.any())
            return ok, "" if ok else "every run of both sides censored at every judged stage"
        if self.sizes < 2:
            return False, "the runs are of one model size"
        side, size = self.z[self.row_run], self.stratum[self.row_run]
        for s in range(self.stages):
            sizes_graduated = [len(set(size[(self.stage == s) & (side == v) & self.graduated])) for v in (0, 1)]
            if min(sizes_graduated) >= 2:
                return True, ""
        return False, "no judged stage where both sides graduated at two model sizes or more"


def relabellings(z: np.ndarray, stratum: np.ndarray, limit: int = EXACT_LIMIT, n_mc: int = MONTE_CARLO, seed: int = 0):
    """Relabellings of the runs (P, R) within strata, the observed labelling first; exact enumeration when there are
    at most ``limit``, else the observed one and ``n_mc`` seeded random ones. Returns (labels, method)."""
    groups = [np.flatnonzero(stratum == s) for s in np.unique(stratum)]
    count = math.prod(math.comb(len(g), int(z[g].sum())) for g in groups)
    if count <= limit:
        per_group = []
        for g in groups:
            k = int(z[g].sum())
            per_group.append([set(c) for c in itertools.combinations(g.tolist(), k)])
        out = []
        for combo in itertools.product(*per_group):
            on = set().union(*combo)
            out.append([1 if r in on else 0 for r in range(len(z))])
        labels = np.array(out, dtype=int)
        observed = np.flatnonzero((labels == z).all(axis=1))[0]
        labels[[0, observed]] = labels[[observed, 0]]
        return labels, "exact"
    rng = np.random.default_rng(seed)
    labels = np.repeat(z[None], n_mc + 1, axis=0)
    for g in groups:
        for i in range(1, n_mc + 1):
            labels[i, g] = z[g][rng.permutation(len(g))]
    return labels, "monte_carlo"


def _designs(design: Design, kind: str, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Reduced and full design matrices for every labelling (P, n, k), and the index of the tested column in the full."""
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
    y, testable = _shifted(design, kind, family, value)
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


def _shifted(design: Design, kind: str, family: str, value: float) -> tuple[Intervals, bool]:
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


@dataclass(frozen=True)
class Interval:
    """An inverted-test interval of the term on its log scale. An open end (not reached inside the testable range)
    holds the range's end, with its flag set: "unbounded below/above that value", never a number of its own."""

    low: float
    high: float
    low_open: bool
    high_open: bool
    testable: tuple[float, float]


def testable_range(design: Design, kind: str, family: str, centre: float, span: float = 6.0, tol: float = 1e-3) -> tuple[float, float]:
    """The values of the term, around ``centre``, at which every stage and size keeps a non-empty window after the
    shift (``_shifted``): walked outward on the grid, then bisected; at most ``span`` from the centre."""

    def ok(b: float) -> bool:
        return _shifted(design, kind, family, b)[1]

    ends = []
    for direction in (-1, 1):
        inside, outside = centre, None
        for k in range(1, int(span / GRID_STEP) + 1):
            b = centre + direction * k * GRID_STEP
            if not ok(b):
                outside = b
                break
            inside = b
        if outside is None:
            ends.append(inside)
            continue
        while abs(outside - inside) > tol:
            mid = (inside + outside) / 2
            inside, outside = (mid, outside) if ok(mid) else (inside, mid)
        ends.append(inside)
    return ends[0], ends[1]


def intervals(design: Design, kind: str, family: str, labels: np.ndarray, levels: list[float], estimate: float,
              tol: float = 2e-3) -> list[Interval]:  # fmt: skip
    """The term's intervals at each of ``levels`` by inverting the permutation test: each end where a one-sided p
    falls to (1 - level) / 2, found by a scan on a grid of GRID_STEP outward from the estimate (one scan serves every
    level), then bisection. An end the scan does not reach inside the testable range is open."""
    probe = estimate if math.isfinite(estimate) else 0.0
    lo_range, hi_range = testable_range(design, kind, family, 0.0 if not _shifted(design, kind, family, probe)[1] else probe)
    centre = min(max(probe, lo_range), hi_range)
    cache: dict[float, tuple[float, float]] = {}

    def p(b: float) -> tuple[float, float]:  # (p_upper, p_lower): evidence the term is above / below b
        if b not in cache:
            st = statistics(design, kind, family, labels, b)
            cache[b] = (st.p_upper(), st.p_lower())
        return cache[b]

    alphas = [(1 - lv) / 2 for lv in levels]
    ends: dict[tuple[int, int], tuple[float, bool]] = {}
    for direction, side in ((-1, 0), (1, 1)):
        edge = lo_range if direction < 0 else hi_range
        accepted = {i: centre for i in range(len(levels))}
        rejected: dict[int, float] = {}
        b = centre
        while len(rejected) < len(levels):
            nxt = b + direction * GRID_STEP
            if (nxt - edge) * direction > 0:  # past the testable range: probe its end once, then stop
                nxt = edge
            if nxt == b:
                break
            b = nxt
            for i, a in enumerate(alphas):
                if i not in rejected:
                    if p(b)[side] > a:
                        accepted[i] = b
                    else:
                        rejected[i] = b
            if b == edge:
                break
        for i, a in enumerate(alphas):
            if i not in rejected:
                ends[(i, side)] = (edge, True)
                continue
            inside, outside = accepted[i], rejected[i]
            while abs(outside - inside) > tol:
                mid = (inside + outside) / 2
                inside, outside = (mid, outside) if p(mid)[side] > a else (inside, mid)
            ends[(i, side)] = ((inside + outside) / 2, False)
    return [Interval(ends[(i, 0)][0], ends[(i, 1)][0], ends[(i, 0)][1], ends[(i, 1)][1], (lo_range, hi_range))
            for i in range(len(levels))]  # fmt: skip


def interval(design: Design, kind: str, family: str, labels: np.ndarray, level: float, estimate: float) -> tuple[float, float]:
    """One interval at ``level`` as (low, high) on the log scale, an open end as -inf or +inf."""
    iv = intervals(design, kind, family, labels, [level], estimate)[0]
    return (-math.inf if iv.low_open else iv.low), (math.inf if iv.high_open else iv.high)


def to_ratio(kind: str, log_value: float) -> float:
    """The reported scale: the steps ratio off/on exp(-beta); for the interaction its change per doubling of N."""
    return math.exp(-log_value * (1 if kind == "effect" else LN2))


def outcome(kind: str, holm_p: float, ci: tuple[float, float], tost: tuple[float, float], smallest: float,
            claimed: float | None, alpha: float, judge_size: bool = True) -> str:  # fmt: skip
    """The decision rule (module docstring) on the ratio scale: the parts that hold, joined by '; '. An open interval
    end is passed as 0 (below) or inf (above). ``judge_size`` False: equivalence and the claimed size are judged per
    model size elsewhere (a hypothesis whose runs span sizes), so only the effect is decided here."""
    parts = []
    if holm_p < alpha:
        parts.append("effect")
    if judge_size and 1 / smallest <= tost[0] and tost[1] <= smallest:
        parts.append("equivalent")
    if judge_size and claimed is not None and kind != "size_interaction":
        if claimed > ci[1]:
            parts.append("claimed size excluded from above")
        elif claimed < ci[0]:
            parts.append("claimed size excluded from below")
        elif holm_p < alpha:
            parts.append("consistent with the claimed size")
        else:
            parts.append("claimed size not excluded")
    if not judge_size and not parts:
        return "undecided at this design (equivalence and the claimed size: per model size)"
    decided = [x for x in parts if x != "claimed size not excluded"]
    return "; ".join(parts) if decided else "; ".join(["undecided at this design", *parts])


def _ratio_columns(kind: str, estimate: float, ci: Interval, tost: Interval) -> dict:
    """An estimate and its intervals on the ratio scale, where a larger term is a smaller ratio (the ends swap). An
    open end holds the testable range's end and its ``*_open`` flag."""
    ratio = lambda v: to_ratio(kind, v)  # noqa: E731
    return {"estimate": ratio(estimate), "ci_low": ratio(ci.high), "ci_high": ratio(ci.low), "ci_low_open": ci.high_open,
            "ci_high_open": ci.low_open, "tost_low": ratio(tost.high), "tost_high": ratio(tost.low),
            "tost_low_open": tost.high_open, "tost_high_open": tost.low_open, "testable_low": ratio(ci.testable[1]),
            "testable_high": ratio(ci.testable[0])}  # fmt: skip


def closed(row: dict, name: str) -> tuple[float, float]:
    """An interval of a row (``ci`` or ``tost``) with its open ends as 0 and inf, for comparisons."""
    return (0.0 if row[f"{name}_low_open"] else row[f"{name}_low"]), (math.inf if row[f"{name}_high_open"] else row[f"{name}_high"])


NAN_COLUMNS = {"estimate": math.nan, "ci_low": math.nan, "ci_high": math.nan, "ci_low_open": False, "ci_high_open": False,
               "tost_low": math.nan, "tost_high": math.nan, "tost_low_open": False, "tost_high_open": False,
               "testable_low": math.nan, "testable_high": math.nan, "p_value": math.nan, "detectable": math.nan,
               "other_model_estimate": math.nan, "other_model_p": math.nan, "bound": "", "checks": "[]"}  # fmt: skip


def scan_labels(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """At most ``n`` + 1 relabellings (the observed one first, the rest a seeded sample) for the interval scans and the
    robustness checks, which test many values: a Monte Carlo permutation test is as valid, only less fine-grained."""
    if len(labels) <= n + 1:
        return labels
    pick = np.random.default_rng(seed).choice(np.arange(1, len(labels)), size=n, replace=False)
    return labels[np.concatenate([[0], np.sort(pick)])]


def assess(design: Design, h: Hypothesis, m: int, alpha: float, n_mc: int = MONTE_CARLO, seed: int = 0) -> dict:
    """Everything the primary table reports for one hypothesis of a family of ``m``, before the Holm correction
    (``decide`` applies it): estimate, permutation p, the simultaneous and TOST intervals on the ratio scale, and the
    robustness checks (``checks``: leave-one-stage-out and the other distribution)."""
    ok, why = design.identified(h.kind)
    labels, method = relabellings(design.z, design.stratum, n_mc=n_mc, seed=seed)
    row = {"hypothesis": h.name, "ablation": h.ablation, "kind": h.kind, "member": True, "size": "", "stages": ", ".join(h.stages),
           "smallest_effect": h.smallest_effect, "claimed": h.claimed, "model": h.model, "runs": len(design.z),
           "sizes": design.sizes, "relabellings": len(labels), "p_method": method, "identified": ok, "not_identified_why": why,
           "censored_cells": design.censored_cells()}  # fmt: skip
    if not ok:
        return {**row, **NAN_COLUMNS}
    stats = statistics(design, h.kind, h.model, labels)
    few = scan_labels(labels, n_mc, seed)
    ci, tost = intervals(design, h.kind, h.model, few, [1 - alpha / m, 1 - 2 * alpha / m], stats.estimate)
    row.update(_ratio_columns(h.kind, stats.estimate, ci, tost))
    row.update({"p_value": stats.p_two_sided(), "detectable": to_ratio(h.kind, -stats.detectable(alpha / m))})
    row["bound"] = _bound_of(design) if h.kind == "effect" else ""
    _bound_estimate(row)
    checks = robustness_checks(design, h, few)
    other = next(c for c in checks if c["check"].startswith(h.other_model))
    row.update({"other_model_estimate": other["estimate"], "other_model_p": other["p_value"], "checks": json.dumps(checks)})
    return row


def robustness_checks(design: Design, h: Hypothesis, labels: np.ndarray) -> list[dict]:
    """The hypothesis refitted with each judged stage left out (where more than one is judged) and under the other
    distribution: estimate (ratio scale) and two-sided permutation p of each (exploratory)."""
    variants = [(f"without {design.stage_names[s]}", design.select(design.stage != s), h.model) for s in range(design.stages)
                if design.stages > 1]  # fmt: skip
    variants.append((f"{h.other_model} AFT", design, h.other_model))
    out = []
    for name, d, family in variants:
        ok, why = d.identified(h.kind)
        if not ok:
            out.append({"check": name, "identified": False, "estimate": math.nan, "p_value": math.nan, "why": why})
            continue
        st = statistics(d, h.kind, family, labels)  # leaving a stage out keeps every run: the same relabellings
        out.append({"check": name, "identified": True, "estimate": to_ratio(h.kind, st.estimate), "p_value": st.p_two_sided(), "why": ""})
    return out


def per_size(design: Design, h: Hypothesis, m: int, alpha: float, n_mc: int = MONTE_CARLO, seed: int = 0) -> list[dict]:
    """The factor's effect at each model size alone (a hypothesis whose runs span sizes): estimate, p and intervals at
    1 - alpha/(m x sizes), with equivalence and the claimed size judged at that size. Not members of the family: they
    say where a size-averaged effect holds, and they enter no Holm correction."""
    k = design.sizes
    rows = []
    for size in range(k):
        d = design.select(design.stratum[design.row_run] == size)
        sub = Hypothesis(h.ablation, "effect", h.stages, h.smallest_effect, h.claimed, h.model)
        r = assess_alone(d, sub, m * k, alpha, n_mc, seed + size)
        r.update({"hypothesis": f"{h.ablation}: effect at {design.size_names[size]}", "kind": "effect at size", "member": False,
                  "size": design.size_names[size]})  # fmt: skip
        rows.append(r)
    return rows


def assess_alone(design: Design, h: Hypothesis, m: int, alpha: float, n_mc: int, seed: int) -> dict:
    """One effect with its own outcome at ``alpha / m`` (no Holm): for the per-size rows."""
    ok, why = design.identified("effect")
    labels, method = relabellings(design.z, design.stratum, n_mc=n_mc, seed=seed)
    row = {"ablation": h.ablation, "stages": ", ".join(h.stages), "smallest_effect": h.smallest_effect, "claimed": h.claimed,
           "model": h.model, "runs": len(design.z), "sizes": 1, "relabellings": len(labels), "p_method": method,
           "identified": ok, "not_identified_why": why, "censored_cells": design.censored_cells(), "holm_p": math.nan,
           "fragility": ""}  # fmt: skip
    if not ok:
        return {**row, **NAN_COLUMNS, "outcome": f"undecided at this design (not identified: {why})"}
    stats = statistics(design, "effect", h.model, labels)
    ci, tost = intervals(design, "effect", h.model, scan_labels(labels, n_mc, seed), [1 - alpha / m, 1 - 2 * alpha / m], stats.estimate)
    row.update({**NAN_COLUMNS, **_ratio_columns("effect", stats.estimate, ci, tost), "p_value": stats.p_two_sided()})
    row["bound"] = _bound_of(design)
    _bound_estimate(row)
    row["outcome"] = outcome("effect", 1.0, closed(row, "ci"), closed(row, "tost"), h.smallest_effect, h.claimed, alpha)
    return row


def _bound_estimate(row: dict) -> None:
    """One side never graduated: the fit runs off to +-MAX_COEF, and what the data say is the interval's end (a bound,
    '>=' or '<='); where that end is open too, the data bound nothing and there is no estimate."""
    if row["bound"]:
        low = row["bound"] == ">="
        row["estimate"] = math.nan if row["ci_low_open" if low else "ci_high_open"] else row["ci_low" if low else "ci_high"]


def _bound_of(design: Design) -> str:
    """'>=' where only the factor-on side graduated anywhere (the ratio off/on is only bounded below), '<=' where only
    the off side did, '' where both did."""
    side = design.z[design.row_run]
    on, off = (bool(design.graduated[side == v].any()) for v in (1, 0))
    return "" if on == off else (">=" if on else "<=")


def fragility(row: dict, alpha: float) -> str:
    """'robust', or 'fragile: ...' naming each check under which the decision's significance (Holm p < alpha, the
    check's p scaled by the same Holm factor) or, for an effect, the direction of the estimate changes."""
    if not row["identified"]:
        return ""
    decided = row["holm_p"] < alpha
    factor = row["holm_p"] / row["p_value"] if row["p_value"] > 0 else 1.0
    moved = []
    for c in json.loads(row["checks"]):
        if not c["identified"]:
            if decided:  # a decision that one check cannot even reproduce rests on what that check leaves out
                moved.append(f"{c['check']} (not identified)")
            continue
        significant = min(1.0, factor * c["p_value"]) < alpha
        if significant != decided:
            moved.append(f"{c['check']} ({'significant' if significant else 'not significant'}, p {c['p_value']:.3f})")
        elif decided and (c["estimate"] - 1) * (row["estimate"] - 1) < 0:
            moved.append(f"{c['check']} (the estimate changes side: {c['estimate']:.2f})")
    return "fragile: " + "; ".join(moved) if moved else "robust"


def decide(rows: list[dict], alpha: float) -> list[dict]:
    """Holm over the family's p-values (a hypothesis that is not identified counts with p = 1), then each outcome and
    its fragility. A pooled effect whose runs span model sizes leaves equivalence and the claimed size to ``per_size``."""
    p = [r["p_value"] if r["identified"] else 1.0 for r in rows]
    adjusted = holm(p) if rows else []
    out = []
    for r, hp in zip(rows, adjusted, strict=True):
        r = {**r, "holm_p": float(hp)}
        if not r["identified"]:
            r["outcome"] = f"undecided at this design (not identified: {r['not_identified_why']})"
        else:
            r["outcome"] = outcome(r["kind"], hp, closed(r, "ci"), closed(r, "tost"), r["smallest_effect"], r["claimed"], alpha,
                                   judge_size=not (r["kind"] == "effect" and r["sizes"] > 1))  # fmt: skip
            if r["outcome"].startswith("undecided at this design") and math.isfinite(r["detectable"]):
                r["outcome"] += f" (detectable at 80% power: {detectable_text(r['kind'], r['detectable'])})"
        r["fragility"] = fragility(r, alpha)
        out.append(r)
    return out


def outcome_parts(text: str) -> list[str]:
    """The categories an outcome is made of (each one of OUTCOMES)."""
    return [p.split(" (")[0] for p in text.split("; ")]


def detectable_text(kind: str, ratio: float) -> str:
    """The smallest detectable effect (a ratio above 1, or its reciprocal) in words."""
    what = "a steps ratio" if kind == "effect" else "a change of the ratio per doubling of model size"
    return f"{what} below {1 / ratio:.2f} or above {ratio:.2f}"


# ---------------------------------------------------------------- the workflow job


def size_names(runs: list[dict]) -> dict[str, str]:
    """A label of each run's model size from the model keys that differ between the runs ("d_model 16"), else N."""
    from ..model.size import non_embedding_params

    keys = sorted({k for r in runs for k in r["model"]})
    varying = [k for k in keys if len({json.dumps(r["model"].get(k)) for r in runs}) > 1]
    return {r["run"]: ", ".join(f"{k} {r['model'][k]}" for k in varying) or f"N {non_embedding_params(r['model']):,}" for r in runs}


def design_rows(graduations, runs: list[dict], stages: list[str]):
    """The graduations rows of a family entry's runs at its stages, in a fixed order."""
    meta = {r["run"]: r for r in runs}
    d = graduations[graduations["variant"].isin(meta) & graduations["stage"].isin(stages)]
    return d.sort_values(["variant", "seed", "stage_index"])


def data_hash(graduations, runs: list[dict], stages: list[str]) -> str:
    """A hash of exactly the data a hypothesis is decided on (run, seed, stage, steps, censored): the same runs read
    again give the same hash, on any machine, so the ledger can tell a new attempt from a re-reading."""
    from ..core.io import stable_hash

    d = design_rows(graduations, runs, stages)
    return stable_hash([[str(v), int(s), str(st), int(n), bool(c)] for v, s, st, n, c in
                        d[["variant", "seed", "stage", "steps", "censored"]].itertuples(index=False)])  # fmt: skip


def design_of(graduations, runs: list[dict], stages: list[str]) -> Design:
    """The design of a family entry from the gathered graduations table: its runs ({run, side, model}) at its stages."""
    from ..model.size import non_embedding_params

    meta = {r["run"]: r for r in runs}
    d = design_rows(graduations, runs, stages)
    settings = [json.loads(x) for x in d["settings"]]
    windows = {(g["graduation"]["window_every"], g["graduation"]["windows"]) for g in settings}
    if len(windows) != 1:
        raise ValueError(f"the runs of one hypothesis must share the window grid; they have {sorted(windows)}")
    ((every, count),) = windows
    names = size_names([meta[v] for v in sorted(set(d["variant"]))])
    return Design.from_rows(
        [f"{v}/{s}" for v, s in zip(d["variant"], d["seed"], strict=True)],
        d["stage"].to_numpy(),
        [int(meta[v]["side"] == "on") for v in d["variant"]],
        [math.log(non_embedding_params(meta[v]["model"])) for v in d["variant"]],
        d["steps"].to_numpy(),
        d["censored"].to_numpy(),
        every,
        [g["curriculum"]["stage_budget"] for g in settings],
        every * count,
        [names[v] for v in d["variant"]],
    )


def hypotheses(analysis: dict) -> list[Hypothesis]:
    """The family's hypotheses in declaration order: each entry's pooled effect, then (with sizes) its interaction,
    under the distribution the analysis declares."""
    out = []
    model = analysis.get("model", "lognormal")
    for h in analysis["family"]:
        stages = tuple(h["stages"])
        out.append(Hypothesis(h["ablation"], "effect", stages, h["smallest_effect"], h.get("claimed"), model))
        if "sizes" in h:
            out.append(Hypothesis(h["ablation"], "size_interaction", stages, h["smallest_effect"], None, model))
    return out


def _ends(r: dict) -> str:
    low = f"<{r['testable_low']:.2f}" if r["ci_low_open"] else f"{r['ci_low']:.3f}"
    high = f">{r['testable_high']:.2f}" if r["ci_high_open"] else f"{r['ci_high']:.3f}"
    return f"[{low}, {high}]"


def confirm_job(graduation_paths: list[str], analysis: dict, runs: dict[str, list[dict]], output: str) -> None:
    """Job entry point: results/metrics/confirmatory.parquet, one row per hypothesis of the family (``member``), then
    the per-size effects of each entry whose runs span model sizes."""
    import pandas as pd

    from ..core.io import concat, provenance, stable_hash, write_parquet

    graduations = concat(graduation_paths)
    family = hypotheses(analysis)
    alpha, n_mc = analysis["alpha"], analysis.get("permutations", MONTE_CARLO)
    rows, sizes = [], []
    for i, h in enumerate(family):
        design = design_of(graduations, runs[h.ablation], list(h.stages))
        print(f"{h.name}: {len(design.z)} runs, {design.sizes} size(s), stages {', '.join(h.stages)}, {h.model} AFT", flush=True)
        seed = analysis.get("seed", 0) + i
        hashed = data_hash(graduations, runs[h.ablation], list(h.stages))
        rows.append({**assess(design, h, len(family), alpha, n_mc, seed), "data_hash": hashed})
        r = rows[-1]
        print(f"  estimate {r['estimate']:.3f} {_ends(r)}, p {r['p_value']:.4f} ({r['relabellings']} relabellings, "
              f"{r['p_method']}); censored cells {r['censored_cells']}", flush=True)  # fmt: skip
        if h.kind == "effect" and design.sizes > 1:
            sizes += [{**x, "data_hash": r["data_hash"]} for x in per_size(design, h, len(family), alpha, n_mc, seed)]
            for x in sizes[-design.sizes :]:
                print(f"  {x['hypothesis']}: {x['estimate']:.3f} {_ends(x)}: {x['outcome']}", flush=True)
    table = pd.DataFrame(decide(rows, alpha) + sizes)
    settings = {"analysis": analysis, "runs": runs}
    write_parquet(table, output, provenance("confirmatory", None, settings, stable_hash(settings)))
    print(table[["hypothesis", "estimate", "ci_low", "ci_high", "holm_p", "outcome", "fragility"]].to_string())
