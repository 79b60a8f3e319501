"""The map of one ablation's effect over model size and stage (config ``maps``; exploratory: the declared decision is
the family's, e.g. the size interaction): one cell per (model size, stage), read from the graduations and the
held-out evaluations of the ablation's runs at every size of a sweep.

Each cell has the steps ratio off/on (stats.median_ratio: medians with censored runs as slower than every graduated
one, a 95% percentile bootstrap interval over seeds, censoring taken at its least and most favourable) and a reading
of how far the data identify it:

* **identified**: both sides' medians observed, at most MAX_CENSORED censored run per side: the ratio is a number;
* **lower bound**: the factor-off side's median censored (or more than MAX_CENSORED of its runs), the on side's
  observed: the data say "at least" the interval's lower end; **upper bound**: the mirror image;
* **not identified**: both sides censored that far, or a side with fewer than MIN_RUNS runs at the stage (runs that
  stopped after a censored stage, curriculum.after_censored: stop, never reached it: they are left out, not read as
  slow).

Against the claimed size (the map's ``claimed``): *inside* the interval, *excluded from above* (the interval lies
below it: the claim is larger than the data allow), *excluded from below* (the interval lies above it), or, for a
bound, *not excluded* where the bound does not pass it. Beside it, held-out exact match at stage end per side and the
difference on - off with a 95% percentile bootstrap interval over seeds. Unadjusted across cells: a map, not a test.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .stats import format_ratio, median_ratio

MAX_CENSORED = 1  # censored runs a side may have in an identified cell (the issue's "at most 1 censored run per side")
MIN_RUNS = 2  # runs a side needs at a stage for the cell to be read at all
LEVEL = 0.95
N_BOOT = 2000
READINGS = ("identified", "lower bound", "upper bound", "not identified")
CLAIMED_READINGS = ("inside", "excluded from above", "excluded from below", "not excluded", "not identified")


def cell_reading(r: dict) -> str:
    """How far a cell's data identify its ratio (r: median_ratio's row)."""
    if min(r["n_on"], r["n_off"]) < MIN_RUNS or r["ratio_kind"] == "undefined":
        return "not identified"
    on_seen = r["ratio_kind"] in ("estimate", "lower_bound") and r["censored_on"] <= MAX_CENSORED
    off_seen = r["ratio_kind"] in ("estimate", "upper_bound") and r["censored_off"] <= MAX_CENSORED
    return {(True, True): "identified", (True, False): "lower bound", (False, True): "upper bound"}.get(
        (on_seen, off_seen), "not identified"
    )


def claimed_reading(reading: str, low: float, high: float, claimed: float | None) -> str:
    """Where the claimed size lies against a cell's interval (a bound's open end excludes nothing)."""
    if claimed is None or reading == "not identified":
        return "not identified" if reading == "not identified" else ""
    if reading != "upper bound" and low > claimed:
        return "excluded from below"
    if reading != "lower bound" and high < claimed:
        return "excluded from above"
    return "inside" if reading == "identified" else "not excluded"


def mean_difference(on: np.ndarray, off: np.ndarray, seed: int, n_boot: int = N_BOOT) -> tuple[float, float, float]:
    """mean(on) - mean(off) with a percentile bootstrap interval (seeds resampled within each side)."""
    if len(on) == 0 or len(off) == 0:
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    boot_on = on[rng.integers(0, len(on), (n_boot, len(on)))].mean(1)
    boot = boot_on - off[rng.integers(0, len(off), (n_boot, len(off)))].mean(1)
    lo, hi = np.quantile(boot, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return float(on.mean() - off.mean()), float(lo), float(hi)


def map_cell(steps: pd.DataFrame, accuracy: pd.DataFrame, seeds: list[int], claimed: float | None, seed: int) -> dict:
    """One cell from its rows: ``steps`` (side, seed, steps, censored, budget) and ``accuracy`` (side, seed,
    stage_end_exact_match); ``seeds`` the design's, so that the runs that never reached the stage are counted."""
    on, off = (steps[steps["side"] == s] for s in ("on", "off"))
    budgets = (int(on["budget"].max()) if len(on) else 0, int(off["budget"].max()) if len(off) else 0)
    r = median_ratio(on["steps"], on["censored"], off["steps"], off["censored"], budgets, N_BOOT, seed, LEVEL)
    reading = cell_reading(r)
    acc = {s: accuracy.loc[accuracy["side"] == s, "stage_end_exact_match"].to_numpy(float) for s in ("on", "off")}
    diff, lo, hi = mean_difference(acc["on"], acc["off"], seed)
    return {**r, "not_reached_on": len(seeds) - len(on), "not_reached_off": len(seeds) - len(off),
            "reading": reading, "claimed": claimed if claimed is not None else math.nan,
            "claimed_reading": claimed_reading(reading, r["ci_low"], r["ci_high"], claimed),
            "exact_match_on": float(acc["on"].mean()) if len(acc["on"]) else math.nan,
            "exact_match_off": float(acc["off"].mean()) if len(acc["off"]) else math.nan,
            "exact_match_diff": diff, "exact_match_low": lo, "exact_match_high": hi}  # fmt: skip


def map_table(graduations: pd.DataFrame, accuracy: pd.DataFrame, runs: list[dict], sizes: dict[str, dict],
              stages: list[str], differs: dict[str, bool], seeds: list[int],
              claimed: float | None) -> pd.DataFrame:  # fmt: skip
    """Every (size, stage) cell of the map, sizes by their number of parameters, stages in curriculum order.
    ``runs``: {run, side} of every run of the ablation at every size; ``sizes``: run -> {size, n_params};
    ``differs``: stage -> whether the two sides' training data differ there (a stage where they do not is mapped,
    and marked: its ratio is not the factor's)."""
    side = {r["run"]: r["side"] for r in runs}
    g = graduations[graduations["variant"].isin(side)].assign(side=lambda d: d["variant"].map(side))
    a = accuracy[accuracy["variant"].isin(side)].assign(side=lambda d: d["variant"].map(side))
    rows = []
    for (size, n), group in sorted(_by_size(sizes).items(), key=lambda kv: kv[0][1]):
        for i, stage in enumerate(stages):
            cell_g = g[g["variant"].isin(group) & (g["stage"] == stage)]
            cell_a = a[a["variant"].isin(group) & (a["stage"] == stage)]
            cell = map_cell(cell_g, cell_a, seeds, claimed, seed=len(rows))
            rows.append({"size": size, "n_params": n, "stage": stage, "stage_index": i,
                         "sides_differ": differs.get(stage, True), **cell})  # fmt: skip
    return pd.DataFrame(rows)


def _by_size(sizes: dict[str, dict]) -> dict[tuple[str, int], list[str]]:
    """(size label, parameters) -> the runs (both sides) at that size."""
    out: dict[tuple[str, int], list[str]] = {}
    for run, s in sizes.items():
        out.setdefault((s["size"], int(s["n_params"])), []).append(run)
    return out


INTRO = """\
## Map: where the {ablation} ablation matters (exploratory)

Per (model size, stage) cell: the steps ratio off/on (above 1: the factor speeds learning) with its 95% percentile
bootstrap interval over seeds, unadjusted across cells (a map, not a test: a decision is the family's), read as
*identified* (both sides' medians observed, at most {max_censored} censored run a side), a *lower* or *upper bound*
(one side's median censored: the interval's finite end is what the data support), or *not identified*. The claimed
size {claimed} is read against each interval. Runs that stopped after a censored stage (curriculum.after_censored:
stop) never reached the later ones: counted as not reached and left out, not read as slow. Exact match: held-out, at
stage end, mean per side. The figure: {figure}.
"""


def _cell_row(r: pd.Series) -> dict:
    ratio = "same data on both sides" if not r["sides_differ"] else format_ratio(r)
    censored = f"{r['censored_on']}/{r['n_on']} / {r['censored_off']}/{r['n_off']}"
    return {"size": r["size"], "stage": r["stage"], "ratio off/on [95%]": ratio, "reading": r["reading"],
            "claimed": r["claimed_reading"] or "-", "censored on / off": censored,
            "not reached on / off": f"{r['not_reached_on']} / {r['not_reached_off']}",
            "exact match on / off": f"{r['exact_match_on']:.2f} / {r['exact_match_off']:.2f}"}  # fmt: skip


# The regime of the write-up's 4.8x (docs/DESIGN.md, claim 1), against which a map's largest cell is placed
WRITEUP_REGIME = ("4-digit multiplication, about 10^8 problems, about 25,000 steps with the mask and 120,000 "
                  "without; its model size is not stated (presets/paper.yaml reconstructs it as d_model 256, "
                  "6 layers)")  # fmt: skip


def problem_space(op: str, digits: list[int], shapes: str = "single") -> int:
    """The problems of a stage: every ordered pair of operands with its digit counts (as 'about 10^8' counts 4-digit
    multiplication's), over each shape it trains (``shapes: every``: every shape up to ``digits``)."""
    from ..data.splits import digit_range, stage_shapes

    total = 0
    for shape in stage_shapes(op, digits, shapes):
        (la, ha), (lb, hb) = (digit_range(d) for d in shape)
        total += (ha - la + 1) * (hb - lb + 1)
    return total


def _where(r: pd.Series) -> str:
    """A cell, and how far it is from the write-up's regime: its problems, its model's size, its steps."""
    steps = "censored" if math.isinf(r["median_on"]) else f"{r['median_on']:.0f}"
    return (f"{r['size']}, {r['stage']} ({r['problem_space']:,} problems; {r['n_params']:,} non-embedding parameters; "
            f"median steps with the factor on: {steps})")  # fmt: skip


def largest_lines(table: pd.DataFrame) -> list[str]:
    """The largest identified ratio and the largest lower bound, each with its interval and cell, and the write-up's
    regime to compare them with."""
    t = table[table["sides_differ"]]
    ident, bounds = t[t["reading"] == "identified"], t[t["reading"] == "lower bound"]
    lines = [f"Identified cells: {len(ident)} of {len(t)} where the sides' data differ."]
    if len(ident):
        r = ident.loc[ident["ratio"].idxmax()]
        lines.append(f"The largest identified ratio: {format_ratio(r)} at {_where(r)}.")
    if len(bounds):
        r = bounds.loc[bounds["ci_low"].idxmax()]
        lines.append(f"The largest lower bound: at least {r['ci_low']:.2f} (95%) at {_where(r)}.")
    if len(ident) or len(bounds):
        lines.append(f"The write-up's regime: {WRITEUP_REGIME}.")
    return lines


def map_markdown(table: pd.DataFrame, figure: str) -> list[str]:
    """The map's section of summary.md: what a cell says, every cell, and the largest ratios the data support."""
    from ..core.text import md_table

    claimed = table["claimed"].iat[0] if len(table) else math.nan
    size = "(none declared)" if math.isnan(claimed) else f"{claimed:g}"
    intro = INTRO.format(ablation=table["ablation"].iat[0] if len(table) else "", max_censored=MAX_CENSORED,
                         claimed=size, figure=figure)  # fmt: skip
    rows = [_cell_row(r) for _, r in table.iterrows()]
    return [*intro.split("\n"), md_table(rows), "", *[f"- {x}" for x in largest_lines(table)], ""]


def pilot_budgets(graduations: pd.DataFrame, stages: list[str], margin: float = 1.5, least: int = 6000,
                  most: int = 30000) -> pd.DataFrame:  # fmt: skip
    """The map's stage budgets by the rule declared before its pilot ran (docs/CALIBRATION.md): per stage, the larger
    of ``least`` and ``margin`` x the slowest pilot run that generalised the stage (either side, any size), rounded up
    to a multiple of 1,000 and at most ``most``; a stage no pilot run generalised gets ``most``. Beside it, how many
    of the pilot's runs reached the stage and how many were censored there."""
    rows = []
    for stage in stages:
        d = graduations[graduations["stage"] == stage]
        done = d.loc[~d["censored"], "steps"]
        slowest = int(done.max()) if len(done) else None
        budget = most if slowest is None else min(most, max(least, 1000 * math.ceil(margin * slowest / 1000)))
        rows.append({"stage": stage, "runs reached": len(d), "censored": int(d["censored"].sum()),
                     "slowest generalised": "none" if slowest is None else str(slowest), "budget": budget})  # fmt: skip
    return pd.DataFrame(rows)


def map_job(graduation_paths: list[str], eval_paths: list[str], entry: dict, runs: list[dict], stages: list[dict],
            on_data: list[str], off_data: list[str], seeds: list[int], output: str) -> None:  # fmt: skip
    """Job entry point: results/metrics/map_<ablation>.parquet, one row per (model size, stage) cell (``stages``: the
    config's, in curriculum order)."""
    from ..core.io import concat, provenance, stable_hash, write_parquet
    from ..model.size import non_embedding_params
    from .design import size_names
    from .outcomes import sides_differ, stage_end_accuracy

    names = size_names(runs)
    sizes = {r["run"]: {"size": names[r["run"]], "n_params": non_embedding_params(r["model"])} for r in runs}
    names = [s["name"] for s in stages]
    differs = dict(zip(names, sides_differ(entry["factor"], on_data, off_data), strict=True))
    graduations, evals = concat(graduation_paths), concat(eval_paths)
    table = map_table(graduations, stage_end_accuracy(evals), runs, sizes, names, differs, seeds, entry.get("claimed"))
    table.insert(0, "ablation", entry["ablation"])
    table.insert(
        5,
        "problem_space",
        table["stage"].map({s["name"]: problem_space(s["op"], s["digits"], s.get("shapes", "single")) for s in stages}),
    )
    settings = {"map": entry, "runs": runs, "seeds": seeds}
    write_parquet(table, output, provenance(f"map_{entry['ablation']}", None, settings, stable_hash(settings)))
    for r in table.itertuples():
        print(f"{r.size:>14} {r.stage:>8}: ratio {r.ratio:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}] {r.reading}; "
              f"censored on {r.censored_on}/{r.n_on}, off {r.censored_off}/{r.n_off}; claimed {r.claimed_reading}",
              flush=True)  # fmt: skip
