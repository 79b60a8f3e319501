"""Power of the confirmatory design, by simulation, before any CPU is spent on training.

A design (seeds per side and size, the judged stages, the sizes, the budget, the window grid and the rule's floor) is
simulated from a stated spread: per run and stage,

    log T = log m[stage] - alpha[stage] * log(N / N_ref) + u[run] + e[run, stage] - log r(N) * z[run]

with u ~ N(0, share * sigma^2) common to a run's stages (a fast seed is fast everywhere), e ~ N(0, (1 - share) *
sigma[stage]^2), and r(N) = r * k ** log2(N / N_ref) the effect (steps ratio off/on r at the reference size, changing
by k per doubling of N). T is then read the way the rule reads it: rounded up to the window grid, never below the
rule's floor (windows x window_every), and censored at the budget. Each simulated design is tested exactly as the
real one is (confirm.py: permutation of whole runs within size, signed root likelihood ratio); the power at an effect
is the share of simulations that reject at alpha / m (Bonferroni, the first step of Holm: a lower bound on Holm's power).
The smallest detectable effect is the smallest r (or k) on a grid with power at least ``target``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from .confirm import Design, relabellings, statistics

EFFECTS = (1.0, 1.1, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0, 5.0)  # steps ratios off/on tried for the pooled effect
INTERACTIONS = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4)  # ratio change per doubling of N tried for the interaction


@dataclass(frozen=True)
class Scenario:
    """What is simulated: the design and the spread it is simulated from."""

    median_steps: tuple[float, ...]  # per judged stage, the factor-off side at the reference size
    sigma: tuple[float, ...]  # per judged stage, the spread of log steps between runs
    run_share: float  # share of the variance common to a run's stages
    seeds: int  # runs per side and size
    log_sizes: tuple[float, ...]  # log N of each size (one entry: no size axis)
    size_slope: tuple[float, ...]  # per stage, alpha in steps ~ N^-alpha
    budget: int
    window_every: int
    windows: int
    ratio: float = 1.0  # the pooled effect at the reference size (off/on)
    per_doubling: float = 1.0  # its change per doubling of N

    @property
    def floor(self) -> int:
        return self.windows * self.window_every


def simulate(sc: Scenario, rng: np.random.Generator) -> Design:
    """One simulated experiment under the scenario, as the analysis would receive it."""
    q, sizes = len(sc.median_steps), np.asarray(sc.log_sizes, float)
    ref = sizes.mean()
    sigma = np.asarray(sc.sigma, float)
    rows = {"run": [], "stage": [], "z": [], "log_n": [], "steps": [], "censored": []}
    run = 0
    for log_n in sizes:
        for z in (0, 1):
            for _ in range(sc.seeds):
                u = rng.normal(0.0, math.sqrt(sc.run_share) * sigma.mean())
                e = rng.normal(0.0, np.sqrt(1 - sc.run_share) * sigma)
                effect = math.log(sc.ratio) + math.log(sc.per_doubling) * (log_n - ref) / math.log(2)
                log_t = np.log(sc.median_steps) - np.asarray(sc.size_slope) * (log_n - ref) + u + e - effect * z
                steps = np.maximum(sc.floor, np.ceil(np.exp(log_t) / sc.window_every) * sc.window_every)
                censored = steps > sc.budget
                for s in range(q):
                    rows["run"].append(run)
                    rows["stage"].append(s)
                    rows["z"].append(z)
                    rows["log_n"].append(log_n)
                    rows["steps"].append(min(steps[s], sc.budget))
                    rows["censored"].append(bool(censored[s]))
                run += 1
    cols = [rows[k] for k in ("run", "stage", "z", "log_n", "steps", "censored")]
    return Design.from_rows(*cols, sc.window_every, sc.budget, sc.floor)


# Relabellings enumerated exactly in a simulated experiment up to this many (5 runs a side: 252), as the real test
# enumerates them: 199 Monte Carlo ones resolve p only to 1/200, which near alpha/m hides the smallest p an exact
# test reaches (at 5 a side, 2/252) and caps the power well below 1 however large the effect.
EXACT_IN_SIMULATION = 300


def rejection_rate(sc: Scenario, kind: str, level: float, n_sims: int, n_mc: int = 199, seed: int = 0,
                   family: str = "lognormal") -> dict:  # fmt: skip
    """Share of ``n_sims`` simulated experiments whose two-sided permutation p is below ``level``; also the spread of
    the estimates (their standard deviation on the log scale), from which an interval's width is predicted."""
    rng = np.random.default_rng(seed)
    rejected, estimates = 0, []
    for i in range(n_sims):
        d = simulate(sc, rng)
        if not d.identified(kind)[0]:
            continue
        labels, _ = relabellings(d.z, d.stratum, limit=max(n_mc + 1, EXACT_IN_SIMULATION), n_mc=n_mc, seed=seed + i)
        st = statistics(d, kind, family, labels)
        rejected += st.p_two_sided() < level
        if math.isfinite(st.estimate):
            estimates.append(st.estimate)
    est = np.asarray(estimates)
    spread = float(np.std(np.clip(est, np.median(est) - 5, np.median(est) + 5))) if len(est) > 1 else math.nan
    return {"power": rejected / n_sims, "estimate_sd": spread, "simulations": n_sims}


def power_curve(sc: Scenario, kind: str, level: float, n_sims: int, grid=None, n_mc: int = 199, seed: int = 0,
                target: float = 0.8) -> dict:  # fmt: skip
    """Power at each effect on the grid and the smallest effect detected with at least ``target`` (NaN if none)."""
    grid = grid or (EFFECTS if kind == "effect" else INTERACTIONS)
    rows = []
    for value in grid:
        s = replace(sc, ratio=value) if kind == "effect" else replace(sc, per_doubling=value)
        rows.append({"effect": value, **rejection_rate(s, kind, level, n_sims, n_mc, seed)})
    reached = [r["effect"] for r in rows if r["power"] >= target and r["effect"] != 1.0]
    return {"curve": rows, "smallest_detectable": reached[0] if reached else math.nan}


def scenario_from(design: Design, family: str = "lognormal", seeds: int | None = None) -> Scenario:
    """The scenario a finished experiment's design and spread give: per stage the factor-off side's median steps at
    the reference size, the spread sigma and the size slope, from the fitted model; the share of the variance common
    to a run's stages from the fit's residuals (a one-way analysis of variance over runs, graduated rows only)."""
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
        seeds=seeds or per_side,
        log_sizes=tuple(float(x) + design.log_size_mean for x in np.unique(design.log_size)),
        size_slope=tuple(float(x) for x in slope),
        budget=int(round(float(np.exp(design.y.limit.min())))),
        window_every=int(design.window_every),
        windows=int(round(floor / design.window_every)),
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


def design_scenario(config: dict, entry: dict, results: str | None, overrides: dict) -> tuple[Scenario, str]:
    """The scenario of one family entry of ``config``: its design (seeds, judged stages, sizes, budget, grid) with the
    spread, stage medians, size slopes and run share measured on the entry's runs in ``results`` (a results folder
    of an earlier run), each replaceable by ``overrides``. Returns the scenario and where its spread came from."""
    from pathlib import Path

    from .aggregate import concat
    from .config import analysis_runs, effective_settings
    from .confirm import design_of
    from .scaling import non_embedding_params

    runs = analysis_runs(config, entry)
    on = next(r for r in runs if r["side"] == "on")
    settings = effective_settings(config, on["variant"])
    g = settings["graduation"]
    sizes = sorted({math.log(non_embedding_params(r["model"])) for r in runs if r["side"] == "on"})
    source = "the overrides"
    measured = None
    paths = sorted(str(p) for p in Path(results).glob("runs/*/seed*/graduations.parquet")) if results else []
    if paths:
        grads = concat(paths)
        present = [r for r in runs if r["run"] in set(grads["variant"])]
        if present and len({r["side"] for r in present}) == 1:  # one side only (a calibration of the baseline): its spread
            present = [{**r, "side": "off"} for r in present]  # and medians stand for the off side's
        if present:
            grads = grads[grads["stage"].isin(entry["stages"])]
            measured = scenario_from(design_of(grads, present, entry["stages"]))
            used = grads[grads["variant"].isin({r["run"] for r in present})]
            source = f"{used.groupby(['variant', 'seed']).ngroups} runs in {results}"
    if measured is None and not {"median_steps", "sigma"} <= set(overrides):
        raise ValueError(f"no runs of {entry['ablation']}'s variants under {results}/runs to measure the spread on: run the design "
                         "once (or an earlier one), or give --median-steps and --sigma")  # fmt: skip
    q = len(entry["stages"])
    base = {
        "median_steps": measured.median_steps if measured else None,
        "sigma": measured.sigma if measured else None,
        "run_share": measured.run_share if measured else 0.0,
        "size_slope": measured.size_slope if measured and measured.size_slope and len(measured.log_sizes) > 1 else (0.2,) * q,
    }
    for k, v in overrides.items():
        base[k] = tuple(v) * (q if len(v) == 1 else 1) if isinstance(v, list | tuple) else v
    if measured and "median_steps" not in overrides:  # measured at other sizes: carried to this design's reference size
        shift = np.mean(measured.log_sizes) - np.mean(sizes)
        base["median_steps"] = tuple(m * math.exp(a * shift) for m, a in zip(base["median_steps"], base["size_slope"], strict=True))
    sc = Scenario(
        median_steps=tuple(base["median_steps"]),
        sigma=tuple(base["sigma"]),
        run_share=float(base["run_share"]),
        seeds=int(overrides.get("seeds", len(config["seeds"]))),
        log_sizes=tuple(sizes),
        size_slope=tuple(base["size_slope"]),
        budget=settings["curriculum"]["stage_budget"],
        window_every=g["window_every"],
        windows=g["windows"],
    )
    return sc, source


def power_report(config: dict, results: str | None, overrides: dict, n_sims: int, seed: int = 0, log=print) -> str:
    """The power analysis of a config's primary family: per hypothesis, power against the effect at Bonferroni's
    alpha / m, the smallest effect detected with 80% power, and the interval width the design predicts."""
    from scipy.stats import norm

    from .confirm import hypotheses

    analysis = config.get("analysis")
    if not analysis or not analysis.get("family"):
        raise ValueError("the config declares no primary family (analysis.family): there is nothing to design for")
    family = hypotheses(analysis["family"])
    m, alpha = len(family), analysis["alpha"]
    entries = {e["ablation"]: e for e in analysis["family"]}
    out = [f"Power of the primary family: {m} hypotheses, each tested at alpha / m = {alpha / m:.4f} (Bonferroni, the first step of "
           f"Holm); {n_sims} simulated experiments per effect, each with its relabellings enumerated where there are at "
           f"most {EXACT_IN_SIMULATION}, else 199 drawn.", ""]  # fmt: skip
    for h in family:
        sc, source = design_scenario(config, entries[h.ablation], results, overrides)
        log(f"{h.name}: simulating ({source})")
        curve = power_curve(sc, h.kind, alpha / m, n_sims, seed=seed, grid=None)
        null_sd = curve["curve"][0]["estimate_sd"]
        half = (norm.ppf(1 - alpha / (2 * m))) * null_sd * (1 if h.kind == "effect" else math.log(2))
        out += [
            f"## {h.name}",
            "",
            f"Design: {sc.seeds} runs per side and size, {len(sc.log_sizes)} size(s) (N = "
            + ", ".join(f"{math.exp(x):,.0f}" for x in sc.log_sizes) + f"), stages {', '.join(h.stages)}, budget {sc.budget}, "
            f"windows {sc.windows} x {sc.window_every}. Spread from {source}: sigma "
            + ", ".join(f"{x:.2f}" for x in sc.sigma) + ", median steps (off side) " + ", ".join(f"{x:.0f}" for x in sc.median_steps)
            + f", share common to a run's stages {sc.run_share:.2f}, size slope " + ", ".join(f"{x:.2f}" for x in sc.size_slope) + ".",
            "",
            "| " + ("steps ratio off/on" if h.kind == "effect" else "ratio change per doubling of N") + " | power |",
            "| --- | --- |",
            *(f"| {r['effect']:g} | {r['power']:.2f} |" for r in curve["curve"]),
            "",
            f"Smallest effect detected with 80% power: {curve['smallest_detectable']:g}" if math.isfinite(curve["smallest_detectable"])
            else "No effect on the grid is detected with 80% power.",
            f"Predicted {100 * (1 - alpha / m):.1f}% interval under no effect: x/ {math.exp(half):.2f} around the estimate "
            f"(the estimates' spread over the simulations, {null_sd:.3f} on the log scale).",
            "",
        ]  # fmt: skip
    return "\n".join(out)
