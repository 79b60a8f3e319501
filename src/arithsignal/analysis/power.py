"""Power of the confirmatory design, by simulation, before any CPU is spent on training.

A design (seeds per side and size, the judged stages, the sizes, the budget, the window grid and the rule's floor) is
simulated from a stated spread (simulation.py: the model of steps to generalise it draws from). Each simulated design
is tested exactly as the real one is (permutation.py: permutation of whole runs within size, signed root likelihood
ratio, the declared model); the power at an effect is the share of simulations that reject at alpha / m (Bonferroni,
the first step of Holm: a lower bound on Holm's power). Beside it: the censored cells each side and size can expect,
and the share of simulations whose interval (the inverted test, as the analysis reports it) is open at an end within
the testable range. The smallest detectable effect is the smallest r (or k) on a grid with power at least
``target``.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from . import threshold
from .confidence import intervals, testable_range
from .design import Design, Hypothesis, design_of, hypotheses, size_names
from .permutation import relabellings, statistics
from .simulation import SPREAD_KEYS, Scenario, censored_counts, scenario_from, simulate

EFFECTS = (1.0, 1.1, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0, 5.0)  # steps ratios off/on tried for the pooled effect
INTERACTIONS = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4)  # ratio change per doubling of N tried for the interaction


def open_ends(d: Design, kind: str, family: str, labels: np.ndarray, level: float) -> tuple[bool, bool]:
    """Whether the interval at ``level`` is open below and above on the term's scale: the test does not reject even
    at the testable range's ends (the analysis would print 'unbounded' there)."""
    est = statistics(d, kind, family, labels).estimate
    lo, hi = testable_range(d, kind, family, est if math.isfinite(est) and abs(est) < 10 else 0.0)
    a = (1 - level) / 2
    return statistics(d, kind, family, labels, lo).p_upper() > a, statistics(d, kind, family, labels, hi).p_lower() > a


# Simulated experiments (under no effect) on which the power analysis computes the analysis's own interval, by
# inverting the permutation test as confirm.py does: each takes seconds, so a sample, not every simulation. The normal
# approximation from the estimates' spread predicted x/1.28 for the 2026-12-07 default, which measured x/1.36 to
# x/1.63 (docs/RESULTS.md): the inverted interval is what the analysis reports, so that is what is simulated.
INTERVAL_SIMS = 20

# Relabellings enumerated exactly in a simulated experiment up to this many (5 runs a side: 252; 6: 924), as the
# real test enumerates them (up to 5,000): 199 Monte Carlo ones resolve p only to 1/200, which near alpha/m hides the
# smallest p an exact test reaches and caps the power below 1 however large the effect (at 6 a side, drawing the
# mirrored labelling gives p = 2/200, not below 0.01: power stalled at 0.70). Beyond it (7 a side: 3,432) the
# simulation still draws, and slightly understates power where the real test enumerates.
EXACT_IN_SIMULATION = 1000


def rejection_rate(sc: Scenario, kind: str, level: float, n_sims: int, n_mc: int = 199, seed: int = 0,
                   family: str | None = None, open_check: bool = False, interval_sims: int = 0) -> dict:  # fmt: skip
    """Share of ``n_sims`` simulated experiments whose two-sided permutation p is below ``level``; also the spread of
    the estimates (their standard deviation on the log scale), the mean censored cells per size and side,
    (``open_check``) the share whose 1 - level interval is open at an end, and (``interval_sims``) the median half
    width on the log scale of the 1 - level interval the analysis itself reports (inverted from the permutation test,
    confidence.intervals) over the first ``interval_sims`` simulated experiments, an interval open at an end (or an
    effect not identified) counted as infinitely wide, so that the median is not taken over the easy cases alone."""
    family = family or sc.family
    rng = np.random.default_rng(seed)
    rejected, estimates, opened, halves = 0, [], 0, []
    censored = np.zeros((len(sc.log_sizes), 2))
    for i in range(n_sims):
        d = simulate(sc, rng)
        censored += censored_counts(d)
        if not d.identified(kind)[0]:
            opened += open_check
            halves += [math.inf] if i < interval_sims else []
            continue
        labels, _ = relabellings(d.z, d.stratum, limit=max(n_mc + 1, EXACT_IN_SIMULATION), n_mc=n_mc, seed=seed + i)
        st = statistics(d, kind, family, labels)
        rejected += st.p_two_sided() < level
        if math.isfinite(st.estimate):
            estimates.append(st.estimate)
        if open_check:
            opened += any(open_ends(d, kind, family, labels, 1 - level))
        if i < interval_sims:
            (iv,) = intervals(d, kind, family, labels, [1 - level], st.estimate)
            halves.append(math.inf if iv.low_open or iv.high_open else (iv.high - iv.low) / 2)
    est = np.asarray(estimates)
    spread = float(np.std(np.clip(est, np.median(est) - 5, np.median(est) + 5))) if len(est) > 1 else math.nan
    return {"power": rejected / n_sims, "estimate_sd": spread, "simulations": n_sims, "censored": censored / n_sims,
            "open_share": opened / n_sims if open_check else math.nan,
            "interval_half": float(np.median(halves)) if halves else math.nan, "intervals": len(halves),
            "intervals_unbounded": int(np.isinf(halves).sum()) if halves else 0}  # fmt: skip


def power_curve(sc: Scenario, kind: str, level: float, n_sims: int, grid=None, n_mc: int = 199, seed: int = 0,
                target: float = 0.8, open_check: bool = False, interval_sims: int = 0) -> dict:  # fmt: skip
    """Power at each effect on the grid and the smallest effect detected with at least ``target`` (NaN if none); under
    no effect (1.0), also the analysis's own interval on ``interval_sims`` simulated experiments."""
    grid = grid or (EFFECTS if kind == "effect" else INTERACTIONS)
    rows = []
    for value in grid:
        s = replace(sc, ratio=value) if kind == "effect" else replace(sc, per_doubling=value)
        k = interval_sims if value == 1.0 else 0
        rows.append({"effect": value, **rejection_rate(s, kind, level, n_sims, n_mc, seed, open_check=open_check,
                                                       interval_sims=k)})  # fmt: skip
    reached = [r["effect"] for r in rows if r["power"] >= target and r["effect"] != 1.0]
    return {"curve": rows, "smallest_detectable": reached[0] if reached else math.nan}


def measured_scenario(config: dict, entry: dict, results: str | None) -> tuple[Scenario | None, str, dict]:
    """The spread of one family entry measured on its runs in ``results`` (an earlier run's folder), under the declared
    model: the scenario (None where no run is there), where it came from, and the censored cells it saw."""
    from ..config.experiment import analysis_runs
    from ..core.io import concat

    runs = analysis_runs(config, entry)
    model = config["analysis"].get("model", "lognormal")
    paths = sorted(str(p) for p in Path(results).glob("runs/*/seed*/graduations.parquet")) if results else []
    if not paths:
        return None, "", {}
    grads = concat(paths)
    present = [r for r in runs if r["run"] in set(grads["variant"])]
    if not present:
        return None, "", {}
    sides = {r["side"] for r in present}
    if len(sides) == 1:  # one side only (a calibration of the baseline): its medians, anchored at that side
        present = [{**r, "side": "off"} for r in present]
    grads = grads[grads["stage"].isin(entry["stages"])]
    design = design_of(grads, present, entry["stages"])
    sc = scenario_from(design, model)
    if len(sides) == 1:
        sc = replace(sc, anchor_side=next(iter(sides)))
    used = grads[grads["variant"].isin({r["run"] for r in present})]
    source = f"{used.groupby(['variant', 'seed']).ngroups} runs in {results}"
    return sc, source, {"censored_cells": design.censored_cells()}


def save_spread(config: dict, results: str, folder: str) -> list[str]:
    """Record each family entry's measured spread as ``folder/{ablation}.json``, naming its source run, so that the
    power analysis works from a fresh clone (``power`` reads it where no runs are at hand)."""
    written = []
    for entry in config["analysis"]["family"]:
        if "threshold" in entry:  # its spread: the sd over seeds of the runs' held-out readings
            h = next(x for x in hypotheses(config["analysis"]) if x.ablation == entry["name"])
            spread = _threshold_spread(config, h, results, None)
            if spread is not None:
                path = Path(folder) / f"{entry['name']}.json"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps({"name": entry["name"], "stages": entry["stages"], "source": spread[1],
                                            "sd": spread[0]}, indent=1) + "\n")  # fmt: skip
                written.append(str(path))
            continue
        sc, source, seen = measured_scenario(config, entry, results)
        if sc is None:
            continue
        path = Path(folder) / f"{entry['ablation']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {"ablation": entry["ablation"], "stages": entry["stages"], "source": source, **seen,
                  "scenario": {k: getattr(sc, k) for k in SPREAD_KEYS}}  # fmt: skip
        path.write_text(json.dumps(record, indent=1) + "\n")
        written.append(str(path))
    return written


def design_scenario(config: dict, entry: dict, results: str | None, overrides: dict,
                    spreads: str | None = None) -> tuple[Scenario, str]:  # fmt: skip
    """The scenario of one family entry of ``config``: its design (seeds, judged stages, sizes, budget, grid, declared
    model) with the spread, stage medians, size slopes and run share measured on the entry's runs in ``results``, or,
    where there are none, recorded in ``spreads/{ablation}.json`` from an earlier run; each replaceable by
    ``overrides`` (given medians are anchored by ``median_side`` and ``median_log_size``, by default the factor-off
    side at the design's reference size). Returns the scenario and where its spread came from."""
    from ..config.experiment import analysis_runs, effective_settings
    from ..model.size import non_embedding_params
    from ..train.settings import stage_budget

    runs = analysis_runs(config, entry)
    settings = effective_settings(config, next(r for r in runs if r["side"] == "on")["variant"])
    sizes = sorted({math.log(non_embedding_params(r["model"])) for r in runs if r["side"] == "on"})
    design = {"seeds": int(overrides.get("seeds", len(config["seeds"]))), "log_sizes": tuple(sizes),
              "budget": tuple(stage_budget(settings, st) for st in entry["stages"]),
              "window_every": settings["graduation"]["window_every"],
              "windows": settings["graduation"]["windows"],
              "after_censored": settings["curriculum"].get("after_censored", "continue")}  # fmt: skip
    model = config["analysis"].get("model", "lognormal")
    measured, source = _measured_or_recorded(config, entry, results, overrides, spreads, design)
    spread, source = _spread(measured, source, overrides, len(entry["stages"]), model)
    return Scenario(**design, family=model, **spread), source


def _measured_or_recorded(config: dict, entry: dict, results: str | None, overrides: dict, spreads: str | None,
                          design: dict) -> tuple[Scenario | None, str]:  # fmt: skip
    """The entry's spread measured on its runs in ``results``, else (unless the overrides give the medians and sigma)
    the one recorded in ``spreads``, with where it came from; None where the overrides stand in for it."""
    measured, source, _ = measured_scenario(config, entry, results)
    if measured is not None or {"median_steps", "sigma"} <= set(overrides):
        return measured, source
    recorded = Path(spreads) / f"{entry['ablation']}.json" if spreads else None
    if recorded is None or not recorded.exists():
        raise ValueError(f"no runs of {entry['ablation']}'s variants under {results}/runs to measure the spread on, "
                         f"and no recorded spread {recorded}: run the design once (or an earlier one), "
                         "or give --median-steps and --sigma")  # fmt: skip
    rec = json.loads(recorded.read_text())
    if rec["stages"] != list(entry["stages"]):
        raise ValueError(f"{recorded} was measured at stages {rec['stages']}, the family entry is judged at "
                         f"{entry['stages']}")  # fmt: skip
    source = f"{recorded} (recorded from {rec['source']}; no runs under {results})"
    return Scenario.from_record(rec["scenario"], **design), source


def _spread(measured: Scenario | None, source: str, overrides: dict, q: int, model: str) -> tuple[dict, str]:
    """The spread a scenario of ``q`` stages is simulated from, and where it came from: the measured (or recorded)
    one, with a size slope of 0.2 per stage where it has none (measured at one size), each value replaced by
    ``overrides`` (a single value: every stage); given medians are anchored where the overrides say, by default at
    the factor-off side at the design's reference size."""
    spread = {"median_steps": None, "sigma": None, "run_share": 0.0, "size_slope": (0.2,) * q, "anchor_side": "off",
              "anchor_log_size": None}  # fmt: skip
    if measured is not None:
        spread.update({k: getattr(measured, k) for k in spread})
        if not any(measured.size_slope):  # measured at one size: no slope to take over
            spread["size_slope"] = (0.2,) * q
        if measured.family != model:
            source += f" (its spread fitted under the {measured.family}, simulated under the declared {model})"
    for k, v in overrides.items():
        if k in spread:  # seeds belong to the design
            spread[k] = tuple(v) * (q if len(v) == 1 else 1) if isinstance(v, list | tuple) else v
    if "median_steps" in overrides:  # anchored where the flags say, by default the off side at the reference size
        spread["anchor_side"] = overrides.get("anchor_side", "off")
        spread["anchor_log_size"] = overrides.get("anchor_log_size")
        source = "the overrides" if measured is None else source + ", medians from the overrides"
    per_stage = {k: tuple(spread[k]) for k in ("median_steps", "sigma", "size_slope")}
    return spread | per_stage | {"run_share": float(spread["run_share"])}, source


def _size_text(log_n: float, names: dict[float, str]) -> str:
    return names.get(round(log_n, 6), f"N {math.exp(log_n):,.0f}")


def power_report(config: dict, results: str | None, overrides: dict, n_sims: int, seed: int = 0, log=print,
                 spreads: str | None = None, interval_sims: int = INTERVAL_SIMS) -> str:  # fmt: skip
    """The power analysis of a config's primary family: per hypothesis, power against the effect at Bonferroni's
    alpha / m, the censored cells each side and size can expect, the share of open intervals, the smallest effect
    detected with 80% power, and the interval width the design predicts."""
    from ..config.experiment import analysis_runs, entry_name
    from ..model.size import non_embedding_params

    analysis = config.get("analysis")
    if not analysis or not analysis.get("family"):
        raise ValueError("the config declares no primary family (analysis.family): there is nothing to design for")
    family = hypotheses(analysis)
    m, alpha = len(family), analysis["alpha"]
    entries = {entry_name(e): e for e in analysis["family"]}
    out = [f"Power of the primary family: {m} hypotheses, each tested at alpha / m = {alpha / m:.4f} (Bonferroni, the "
           f"first step of Holm), under the declared {analysis.get('model', 'lognormal')} AFT; {n_sims} simulated "
           f"experiments per effect, each with its relabellings enumerated where there are at most "
           f"{EXACT_IN_SIMULATION}, else 199 drawn.", ""]  # fmt: skip
    for h in family:
        if h.kind == "threshold":
            n = len(config["seeds"]) if "seeds" not in overrides else overrides["seeds"]
            out += threshold.power_lines(h, n, _threshold_spread(config, h, results, spreads), alpha, m)
            continue
        sc, source = design_scenario(config, entries[h.ablation], results, overrides, spreads)
        runs = analysis_runs(config, entries[h.ablation])
        names = {round(math.log(non_embedding_params(r["model"])), 6): size_names(runs)[r["run"]] for r in runs}
        log(f"{h.name}: simulating ({source})")
        curve = power_curve(sc, h.kind, alpha / m, n_sims, seed=seed, grid=None, open_check=True,
                            interval_sims=min(interval_sims, n_sims))  # fmt: skip
        out += _section(h, sc, source, curve, names, alpha, m)
    return "\n".join(out)


def _threshold_spread(config: dict, h: Hypothesis, results: str | None,
                      spreads: str | None) -> tuple[float, str] | None:  # fmt: skip
    """The per-seed spread of a threshold hypothesis's measure in an earlier run's folder (its runs' evaluations),
    else the one recorded in ``spreads`` at the same stages (None where neither is at hand)."""
    import pandas as pd

    from ..config.experiment import canonical_variants, key, run_keys

    run, folder = canonical_variants(config)[h.variant], run_keys(config)[h.variant]
    pattern = f"runs/{folder}/seed*/eval_{key(config['evaluation'])}.parquet"
    paths = sorted(Path(results).glob(pattern)) if results else []
    evals = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True) if paths else pd.DataFrame()
    measured = threshold.measured_spread(evals, h, run) if results else None
    if measured is not None:
        measured = (measured[0], f"{measured[1]} in {results}")
    recorded = Path(spreads or "") / f"{h.ablation}.json"
    if measured is not None or spreads is None or not recorded.exists():
        return measured
    rec = json.loads(recorded.read_text())
    if rec["stages"] != list(h.stages):
        return None
    return rec["sd"], f"{recorded} (recorded from {rec['source']})"


def _section(h: Hypothesis, sc: Scenario, source: str, curve: dict, names: dict[float, str], alpha: float,
             m: int) -> list[str]:  # fmt: skip
    """One hypothesis's part of the report: the design and the spread simulated, the power curve, the smallest effect
    detected with 80% power and the interval the design predicts under no effect."""
    from scipy.stats import norm

    null = curve["curve"][0]  # the effect 1.0: no effect
    null_sd = null["estimate_sd"]
    half = (norm.ppf(1 - alpha / (2 * m))) * null_sd * (1 if h.kind == "effect" else math.log(2))
    size_cols = [_size_text(x, names) for x in sc.log_sizes]
    anchor = "the reference size" if sc.anchor_log_size is None else _size_text(sc.anchor_log_size, names)
    design = (f"Design: {sc.seeds} runs per side and size, {len(sc.log_sizes)} size(s) ({', '.join(size_cols)}), "
              f"stages {', '.join(h.stages)}, budget {sc.budget}, windows {sc.windows} x {sc.window_every}, "
              f"{sc.family} AFT. Spread from {source}: sigma {_listed(sc.sigma, '.2f')}, median steps (the "
              f"factor-{sc.anchor_side} side at {anchor}) {_listed(sc.median_steps, '.0f')}, share common to a run's "
              f"stages {sc.run_share:.2f}, size slope {_listed(sc.size_slope, '.2f')}.")  # fmt: skip
    smallest = curve["smallest_detectable"]
    found = (f"Smallest effect detected with 80% power: {smallest:g}" if math.isfinite(smallest)
             else "No effect on the grid is detected with 80% power.")  # fmt: skip
    scale = 1 if h.kind == "effect" else math.log(2)
    width = (
        "unbounded" if math.isinf(null.get("interval_half", 0)) else f"x/ {math.exp(null['interval_half'] * scale):.2f}"
    )
    inverted = (f"{width} (median over {null['intervals']} simulated experiments of the interval the analysis "
                f"reports, inverted from the permutation test; {null['intervals_unbounded']} of them open at an end or "
                "not identified, counted as unbounded)" if null.get("intervals") else "not simulated")  # fmt: skip
    predicted = (f"Predicted {100 * (1 - alpha / m):.1f}% interval under no effect: {inverted}; the normal "
                 f"approximation from the estimates' spread ({null_sd:.3f} on the log scale) gives x/ "
                 f"{math.exp(half):.2f} (docs/STATISTICS.md compares both with measured intervals). Open at an end "
                 f"(unbounded within the testable range) in {null['open_share']:.0%} of them.")  # fmt: skip
    return [f"## {h.name}", "", design, "", *_curve_table(h, sc, curve, size_cols), "", found, predicted, ""]


def _listed(values, spec: str) -> str:
    return ", ".join(format(x, spec) for x in values)


def _curve_table(h: Hypothesis, sc: Scenario, curve: dict, size_cols: list[str]) -> list[str]:
    """The power curve as a markdown table: per effect, the power, the share of open intervals and the censored
    cells each size can expect per side."""
    cells = len(h.stages) * sc.seeds
    effect = "steps ratio off/on" if h.kind == "effect" else "ratio change per doubling of N"
    censored = " | ".join(f"censored cells off / on, {n} (of {cells})" for n in size_cols)
    rows = [f"| {r['effect']:g} | {r['power']:.2f} | {r['open_share']:.2f} | "
            + " | ".join(f"{c[0]:.1f} / {c[1]:.1f}" for c in r["censored"]) + " |" for r in curve["curve"]]  # fmt: skip
    header = f"| {effect} | power | share of open intervals | {censored} |"
    return [header, "| --- " * (3 + len(size_cols)) + "|", *rows]
