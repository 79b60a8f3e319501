"""The confirmatory analysis: a family of primary hypotheses, declared in the config before any run, decided by one rule.

For an ablation (a factor on against off), the runs of both sides (at one model size or several) and the stages it is
judged on give one censored accelerated-failure-time model over all of them (survival.py):

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

The decision rule, applied mechanically to every hypothesis of the family (m of them, FWER alpha):
* **effect**: Holm-corrected p < alpha;
* **equivalent**: the 1 - 2 alpha/m interval (two one-sided tests at alpha/m) lies inside the smallest effect of
  interest [1/m0, m0];
* **claimed size excluded**: the 1 - alpha/m (Bonferroni simultaneous) interval excludes the claimed size; **consistent
  with the claimed size**: it contains it and the effect is decided;
* otherwise **undecided at this design**, with the smallest effect the design could detect at 80% power (power.py).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from .survival import FAMILIES, Intervals, fit_batch, grid_floor, lifelines_fit

EXACT_LIMIT = 5000  # relabellings enumerated exactly up to this many; a Monte Carlo sample beyond
MONTE_CARLO = 2000
KINDS = ("effect", "size_interaction")
OUTCOMES = ("effect", "equivalent", "claimed size excluded", "consistent with the claimed size", "undecided at this design")
LN2 = math.log(2)


@dataclass(frozen=True)
class Hypothesis:
    """One member of the primary family, as declared in the config's ``analysis.family``."""

    ablation: str
    kind: str  # effect | size_interaction
    stages: tuple[str, ...]
    smallest_effect: float  # the equivalence margin [1/m0, m0] on the ratio scale
    claimed: float | None = None  # the claim's own size, on the same scale (effect only)

    @property
    def name(self) -> str:
        return f"{self.ablation}: {'pooled effect' if self.kind == 'effect' else 'effect x model size'}"


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

    @classmethod
    def from_rows(cls, run, stage, z, log_n, steps, censored, window_every, budget, floor) -> Design:
        """From per-row columns (run and stage labels of any type; z, log_n constant within a run)."""
        run, stage = np.asarray(run), np.asarray(stage)
        runs, row_run = np.unique(run, return_inverse=True)
        stages, stage_ix = np.unique(stage, return_inverse=True)
        first = np.array([np.flatnonzero(row_run == r)[0] for r in range(len(runs))])
        z_run, log_n_run = np.asarray(z, int)[first], np.asarray(log_n, float)[first]
        sizes, stratum = np.unique(np.round(log_n_run, 9), return_inverse=True)
        y = Intervals.from_steps(steps, censored, window_every, budget, floor)
        return cls(y, row_run, stage_ix, z_run, stratum, log_n_run - sizes.mean(), ~np.asarray(censored, bool), int(window_every),
                   float(sizes.mean()))  # fmt: skip

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
    """The permutation distribution of the signed root LR for "the term equals ``value``"."""
    y = _shifted(design, kind, family, value)
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


def _shifted(design: Design, kind: str, family: str, value: float) -> Intervals:
    """The rows' bounds with the factor-on side moved by the hypothesised term, so that the two sides are exchangeable
    under it: for the interaction, the pooled effect fitted under the hypothesis is removed too. The shift moves the
    on side's budget and floor as well, so every row is then observed only between its stage's highest floor and
    lowest budget: the two sides are observed alike (otherwise a large effect would leave one side censored, or at
    the floor, far more often than the other)."""
    on = design.z[design.row_run].astype(float)
    if kind == "effect":
        y = design.y.shifted(-value * on)
    else:
        x = design.log_size[design.row_run]
        y = design.y.shifted(-value * on * x)
        red = np.hstack([design.base(), on[:, None]])
        f = fit_batch(family, y, red, design.stage_onehot(), grid_floor(design.y, design.stage))
        y = y.shifted(-f.beta[0, -1] * on)

    def per_stage(values, pick):
        return np.array([pick(values[design.stage == s]) for s in range(design.stages)])[design.stage]

    return y.observed_within(per_stage(y.start, np.max), per_stage(y.limit, np.min))


def interval(design: Design, kind: str, family: str, labels: np.ndarray, level: float, estimate: float,
             span: float = 6.0, tol: float = 2e-3) -> tuple[float, float]:  # fmt: skip
    """The term's interval at ``level`` by inverting the permutation test (each end where a one-sided p crosses
    (1 - level) / 2); an end not reached within ``span`` of the estimate (log scale) is unbounded."""
    alpha = (1 - level) / 2

    def accepted_low(b: float) -> bool:  # b is inside, seen from below
        return statistics(design, kind, family, labels, b).p_upper() > alpha

    def accepted_high(b: float) -> bool:
        return statistics(design, kind, family, labels, b).p_lower() > alpha

    def end(accepted, direction: int) -> float:
        inside, outside = estimate, estimate + direction * 0.25
        while accepted(outside):
            inside, outside = outside, estimate + 2 * (outside - estimate)
            if abs(outside - estimate) > span:
                return direction * math.inf
        while abs(outside - inside) > tol:
            mid = (inside + outside) / 2
            inside, outside = (mid, outside) if accepted(mid) else (inside, mid)
        return (inside + outside) / 2

    return end(accepted_low, -1), end(accepted_high, +1)


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values (each at most 1): FWER control over the family, no assumption on dependence."""
    p = np.asarray(p_values, float)
    order = np.argsort(p)
    m = len(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def to_ratio(kind: str, log_value: float) -> float:
    """The reported scale: the steps ratio off/on exp(-beta); for the interaction its change per doubling of N."""
    return math.exp(-log_value * (1 if kind == "effect" else LN2))


def outcome(kind: str, holm_p: float, ci: tuple[float, float], tost: tuple[float, float], smallest: float,
            claimed: float | None, alpha: float) -> str:  # fmt: skip
    """The decision rule (module docstring) on the ratio scale: the parts that hold, joined by '; '."""
    parts = []
    if holm_p < alpha:
        parts.append("effect")
    if 1 / smallest <= tost[0] and tost[1] <= smallest:
        parts.append("equivalent")
    if claimed is not None and kind == "effect":
        if not ci[0] <= claimed <= ci[1]:
            parts.append("claimed size excluded")
        elif holm_p < alpha:
            parts.append("consistent with the claimed size")
    return "; ".join(parts) or "undecided at this design"


def choose_family(design: Design, kind: str) -> dict:
    """Both families fitted by lifelines on the observed labelling (the full model): coefficient of the term and AIC
    of each, and the family with the lower AIC."""
    on = design.z[design.row_run].astype(float)
    columns = {f"size_{s}": design.stage_onehot()[:, s] * design.log_size[design.row_run] for s in range(design.stages)}
    columns = columns if design.sizes > 1 else {}
    columns["z"] = on
    if kind == "size_interaction":
        columns["z_size"] = on * design.log_size[design.row_run]
    term = "z" if kind == "effect" else "z_size"
    fits = {f: lifelines_fit(f, design.y, columns, design.stage) for f in FAMILIES}
    best = min(FAMILIES, key=lambda f: fits[f][2])
    return {"family": best, **{f"{f}_{k}": v for f in FAMILIES for k, v in (("estimate", fits[f][0][term]), ("aic", fits[f][2]))}}


def assess(design: Design, h: Hypothesis, m: int, alpha: float, n_mc: int = MONTE_CARLO, seed: int = 0) -> dict:
    """Everything the primary table reports for one hypothesis of a family of ``m``, before the Holm correction
    (``decide`` applies it): estimates, permutation p, the simultaneous and TOST intervals, on the ratio scale."""
    ok, why = design.identified(h.kind)
    labels, method = relabellings(design.z, design.stratum, n_mc=n_mc, seed=seed)
    row = {"hypothesis": h.name, "ablation": h.ablation, "kind": h.kind, "stages": ", ".join(h.stages),
           "smallest_effect": h.smallest_effect, "claimed": h.claimed, "runs": len(design.z), "sizes": design.sizes,
           "relabellings": len(labels), "p_method": method, "identified": ok, "not_identified_why": why}  # fmt: skip
    nan = {"estimate": math.nan, "ci_low": math.nan, "ci_high": math.nan, "tost_low": math.nan, "tost_high": math.nan,
           "p_value": math.nan, "family": "", "lognormal_estimate": math.nan, "weibull_estimate": math.nan,
           "lognormal_aic": math.nan, "weibull_aic": math.nan, "detectable": math.nan}  # fmt: skip
    if not ok:
        return {**row, **nan, "bound": ""}
    try:
        fam = choose_family(design, h.kind)
    except Exception as e:  # lifelines does not converge where the data do not bound the fit: keep the log-normal
        print(f"  lifelines could not fit both families ({type(e).__name__}: {e}); the log-normal is used", flush=True)
        fam = {"family": "lognormal", **{k: math.nan for k in nan if k.startswith(FAMILIES)}}
    stats = statistics(design, h.kind, fam["family"], labels)
    ci = interval(design, h.kind, fam["family"], labels, 1 - alpha / m, stats.estimate)
    tost = interval(design, h.kind, fam["family"], labels, 1 - 2 * alpha / m, stats.estimate)
    # on the ratio scale a larger term is a smaller ratio: the ends swap
    ratio = lambda v: to_ratio(h.kind, v)  # noqa: E731
    row.update(fam)
    row.update({"estimate": ratio(stats.estimate), "ci_low": ratio(ci[1]), "ci_high": ratio(ci[0]), "tost_low": ratio(tost[1]),
                "tost_high": ratio(tost[0]), "p_value": stats.p_two_sided(),
                "detectable": ratio(-stats.detectable(alpha / m))})  # fmt: skip
    for f in FAMILIES:
        row[f"{f}_estimate"] = ratio(row[f"{f}_estimate"])
    row["bound"] = _bound_of(design) if h.kind == "effect" else ""
    if row["bound"]:  # one side never graduated: the fit runs off to +-MAX_COEF; what the data say is the interval's end
        row["estimate"] = row["ci_low"] if row["bound"] == ">=" else row["ci_high"]
    return row


def _bound_of(design: Design) -> str:
    """'>=' where only the factor-on side graduated anywhere (the ratio off/on is only bounded below), '<=' where only
    the off side did, '' where both did."""
    side = design.z[design.row_run]
    on, off = (bool(design.graduated[side == v].any()) for v in (1, 0))
    return "" if on == off else (">=" if on else "<=")


def decide(rows: list[dict], alpha: float) -> list[dict]:
    """Holm over the family's p-values (a hypothesis that is not identified counts with p = 1), then each outcome."""
    p = [r["p_value"] if r["identified"] else 1.0 for r in rows]
    adjusted = holm(p) if rows else []
    out = []
    for r, hp in zip(rows, adjusted, strict=True):
        r = {**r, "holm_p": float(hp)}
        if not r["identified"]:
            r["outcome"] = f"undecided at this design (not identified: {r['not_identified_why']})"
        else:
            r["outcome"] = outcome(r["kind"], hp, (r["ci_low"], r["ci_high"]), (r["tost_low"], r["tost_high"]), r["smallest_effect"],
                                   r["claimed"], alpha)  # fmt: skip
            if r["outcome"] == "undecided at this design" and math.isfinite(r["detectable"]):
                r["outcome"] += f" (detectable at 80% power: {detectable_text(r['kind'], r['detectable'])})"
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


def design_of(graduations, runs: list[dict], stages: list[str]) -> Design:
    """The design of a family entry from the gathered graduations table: its runs ({run, side, model}) at its stages."""
    import json

    from .scaling import non_embedding_params

    meta = {r["run"]: r for r in runs}
    d = graduations[graduations["variant"].isin(meta) & graduations["stage"].isin(stages)].sort_values(["variant", "seed", "stage_index"])
    settings = [json.loads(x) for x in d["settings"]]
    windows = {(g["graduation"]["window_every"], g["graduation"]["windows"]) for g in settings}
    if len(windows) != 1:
        raise ValueError(f"the runs of one hypothesis must share the window grid; they have {sorted(windows)}")
    ((every, count),) = windows
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
    )


def hypotheses(family: list[dict]) -> list[Hypothesis]:
    """The family's hypotheses in declaration order: each entry's pooled effect, then (with sizes) its interaction."""
    out = []
    for h in family:
        stages = tuple(h["stages"])
        out.append(Hypothesis(h["ablation"], "effect", stages, h["smallest_effect"], h.get("claimed")))
        if "sizes" in h:
            out.append(Hypothesis(h["ablation"], "size_interaction", stages, h["smallest_effect"]))
    return out


def confirm_job(graduation_paths: list[str], analysis: dict, runs: dict[str, list[dict]], output: str) -> None:
    """Job entry point: results/metrics/confirmatory.parquet, one row per hypothesis of the family."""
    import pandas as pd

    from .aggregate import concat
    from .io import provenance, stable_hash, write_parquet

    graduations = concat(graduation_paths)
    family = hypotheses(analysis["family"])
    rows = []
    for i, h in enumerate(family):
        design = design_of(graduations, runs[h.ablation], list(h.stages))
        print(f"{h.name}: {len(design.z)} runs, {design.sizes} size(s), stages {', '.join(h.stages)}", flush=True)
        rows.append(
            assess(design, h, len(family), analysis["alpha"], analysis.get("permutations", MONTE_CARLO), analysis.get("seed", 0) + i)
        )
        r = rows[-1]
        print(f"  estimate {r['estimate']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}], p {r['p_value']:.4f} ({r['relabellings']} "
              f"relabellings, {r['p_method']}), family {r['family']}", flush=True)  # fmt: skip
    table = pd.DataFrame(decide(rows, analysis["alpha"]))
    settings = {"analysis": analysis, "runs": runs}
    write_parquet(table, output, provenance("confirmatory", None, settings, stable_hash(settings)))
    print(table[["hypothesis", "estimate", "ci_low", "ci_high", "holm_p", "outcome"]].to_string())
