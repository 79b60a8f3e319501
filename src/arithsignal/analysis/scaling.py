"""How steps to graduation scale with model size, per stage: the confirmatory model's size axis, stage by stage.

For each stage and each compared ablation, one censored accelerated-failure-time fit (log-normal, survival.py) over
the runs of both sides at every size of the sweep:

    log T = mu + slope * x + beta * z + gamma * z * x + sigma * e,      x = log N - (mean log N of the sizes)

N is the model's non-embedding parameter count, z = 1 with the factor on. Steps are read as the rule reads them:
windows of the grid, the floor and the budget as censoring (survival.Intervals). Each side's exponent alpha (steps ~
N^-alpha) is -slope for the off side and -(slope + gamma) for the on side; the factor's steps ratio off/on at size N
is r(N) = exp(-(beta + gamma x)), drawn with its band; where the fitted lines cross inside the sizes the crossing
size is given. Within one stage every row is a different run, so the model's own (Wald) intervals apply; they are
exploratory, one stage at a time and unadjusted. The decision on the interaction pooled over the judged stages is the
confirmatory family's (confirm.py).

A side that graduated at fewer than two sizes at a stage does not fix its exponent there: that stage is **not
identified**, and no number is given for it.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from ..core.text import interval, md_table, number
from ..model.size import non_embedding_params
from .outcomes import rule_reading
from .survival import Intervals, fit_batch, grid_floor, loglik

BAND_POINTS = 25  # sizes at which the ratio curve's band is stored (for the figure)
Z95 = 1.959963984540054
LN2 = math.log(2)


SCALING_RUN_COLUMNS = ["base", "point", "n_params", "model_seed", "stage", "stage_index", "steps", "censored", "budget",
                       "window_every", "floor"]  # fmt: skip


def scaling_runs(sweep: pd.DataFrame, sizes: dict[str, int]) -> pd.DataFrame:
    """The runs a fit reads, from the sweep table (sweeps.sweep_table): base (the variant the point starts from),
    point, n_params, model_seed, stage, steps, censored and how the rule reads them (budget, window_every, floor)."""
    runs = sweep.assign(n_params=sweep["point"].map(sizes))
    return runs[SCALING_RUN_COLUMNS]


def base_runs(graduations: pd.DataFrame, bases: list[dict], sizes: dict[str, int]) -> pd.DataFrame:
    """The runs of the variants a sweep starts from, as scaling_runs gives them: their own model size is a point of
    the size axis too (a grid of d_model [32] from variants at 64 has two sizes). ``bases``: {variant, run}; a base
    whose run is also a sweep point's (its grid holds the base's own settings) is left to the sweep table."""
    rows = []
    for b in bases:
        for _, g in graduations[graduations["variant"] == b["run"]].iterrows():
            rows.append({"base": b["variant"], "point": b["variant"], "n_params": sizes[b["variant"]],
                         "model_seed": int(g["seed"]), "stage": g["stage"], "stage_index": int(g["stage_index"]),
                         "steps": int(g["steps"]), "censored": bool(g["censored"]),
                         **rule_reading(json.loads(g["settings"]), g["budget"])})  # fmt: skip
    return pd.DataFrame(rows, columns=SCALING_RUN_COLUMNS)


def _covariance(y: Intervals, X: np.ndarray, theta: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """The inverse of the observed information at the maximum (central differences of the log-likelihood)."""
    k = len(theta)
    S = np.ones((len(y.lo), 1))

    def ll(t: np.ndarray) -> float:
        return float(loglik("lognormal", y, X, S, t[None, :-1], t[None, -1:])[0])

    hess = np.empty((k, k))
    for i in range(k):
        for j in range(i, k):
            ei, ej = np.eye(k)[i] * h, np.eye(k)[j] * h
            hess[i, j] = hess[j, i] = (
                ll(theta + ei + ej) - ll(theta + ei - ej) - ll(theta - ei + ej) + ll(theta - ei - ej)
            ) / (4 * h * h)
    try:
        return np.linalg.inv(-hess)
    except np.linalg.LinAlgError:
        return np.full((k, k), math.nan)


def _graduated_sizes(d: pd.DataFrame) -> int:
    return int(d.loc[~d["censored"], "n_params"].nunique())


def stage_fit(d: pd.DataFrame, on: str, off: str, ref_log_n: float, log_n_range: tuple[float, float]) -> dict:
    """One stage of one comparison: the model of the module docstring fitted on both sides' runs (``d``: columns base,
    n_params, steps, censored, budget, window_every, floor). NaN everywhere where a side is not identified."""
    sides = {"on": d[d["base"] == on], "off": d[d["base"] == off]}
    out = {f"graduated_sizes_{s}": _graduated_sizes(v) for s, v in sides.items()}
    out["identified"] = min(out.values()) >= 2
    keys = ["alpha_on", "alpha_off", "ratio_at_ref", "per_doubling"]
    out |= {f"{k}{end}": math.nan for k in keys for end in ("", "_lo", "_hi")} | {
        "crossing_n": math.nan,
        "sigma": math.nan,
    }
    out |= {"band_log_n": [], "band_ratio": [], "band_lo": [], "band_hi": []}
    if not out["identified"]:
        return out
    d = pd.concat(sides.values())
    x = np.log(d["n_params"].to_numpy(float)) - ref_log_n
    z = (d["base"] == on).to_numpy(float)
    X = np.column_stack([np.ones(len(d)), x, z, z * x])
    y = Intervals.from_steps(d["steps"], d["censored"], d["window_every"], d["budget"], d["floor"])
    stage = np.zeros(len(d), dtype=int)
    f = fit_batch("lognormal", y, X, np.ones((len(d), 1)), grid_floor(y, stage))
    theta = np.concatenate([f.beta[0], f.log_sigma[0]])
    cov = _covariance(y, X, theta)
    mu, slope, beta, gamma = f.beta[0]
    se = np.sqrt(np.maximum(np.diag(cov), 0.0))

    def ci(value: float, sd: float, scale: float = 1.0) -> tuple[float, float, float]:
        """A log-scale coefficient's estimate and Wald interval, reported as exp(-scale * coefficient)."""
        lo, hi = value - Z95 * sd, value + Z95 * sd
        return math.exp(-scale * value), math.exp(-scale * hi), math.exp(-scale * lo)

    sd_on = math.sqrt(max(cov[1, 1] + cov[3, 3] + 2 * cov[1, 3], 0.0))
    out.update(alpha_off=-slope, alpha_off_lo=-slope - Z95 * se[1], alpha_off_hi=-slope + Z95 * se[1],
               alpha_on=-(slope + gamma), alpha_on_lo=-(slope + gamma) - Z95 * sd_on,
               alpha_on_hi=-(slope + gamma) + Z95 * sd_on,
               sigma=math.exp(f.log_sigma[0, 0]))  # fmt: skip
    out["ratio_at_ref"], out["ratio_at_ref_lo"], out["ratio_at_ref_hi"] = ci(beta, se[2])
    out["per_doubling"], out["per_doubling_lo"], out["per_doubling_hi"] = ci(gamma, se[3], LN2)
    if gamma != 0 and log_n_range[0] <= ref_log_n - beta / gamma <= log_n_range[1]:
        out["crossing_n"] = math.exp(ref_log_n - beta / gamma)  # r(N) = 1: the fitted lines cross inside the sizes
    grid = np.linspace(*log_n_range, BAND_POINTS) - ref_log_n
    log_r = -(beta + gamma * grid)
    sd = np.sqrt(np.maximum(cov[2, 2] + grid**2 * cov[3, 3] + 2 * grid * cov[2, 3], 0.0))
    out.update(band_log_n=(grid + ref_log_n).tolist(), band_ratio=np.exp(log_r).tolist(),
               band_lo=np.exp(log_r - Z95 * sd).tolist(), band_hi=np.exp(log_r + Z95 * sd).tolist(), mu=mu)  # fmt: skip
    return out


def scaling_fit_table(runs: pd.DataFrame, stage_order: list[str], comparisons: list[dict]) -> pd.DataFrame:
    """Per comparison [{name, on, off}] and stage: ``stage_fit``, with the runs' censored counts by size and side."""
    log_sizes = np.log(np.unique(runs["n_params"].to_numpy(float)))
    ref, span = float(log_sizes.mean()), (float(log_sizes.min()), float(log_sizes.max()))
    rows = []
    for c in comparisons:
        for i, stage in enumerate(stage_order):
            d = runs[(runs["stage"] == stage) & runs["base"].isin([c["on"], c["off"]])]
            censored = {
                s: d[d["base"] == c[s]].groupby("n_params")["censored"].agg(["sum", "count"]) for s in ("on", "off")
            }
            text = {
                s: ", ".join(f"{int(n)}: {int(r['sum'])}/{int(r['count'])}" for n, r in t.iterrows())
                for s, t in censored.items()
            }
            rows.append({"name": c["name"], "on": c["on"], "off": c["off"], "stage": stage, "stage_index": i,
                         "ref_n_params": math.exp(ref), "censored_on": text["on"], "censored_off": text["off"],
                         **stage_fit(d, c["on"], c["off"], ref, span)})  # fmt: skip
    return pd.DataFrame(rows)


def reading(r: dict | pd.Series) -> str:
    """One clause per stage: what the size interaction says, or why it says nothing."""
    if not r["identified"]:
        side = "on" if r["graduated_sizes_on"] < 2 else "off"
        return f"not identified: the factor-{side} side graduated at {int(r[f'graduated_sizes_{side}'])} size(s)"
    lo, hi = r["per_doubling_lo"], r["per_doubling_hi"]
    if hi < 1:
        what = "the factor helps smaller models more"
    elif lo > 1:
        what = "the factor helps larger models more"
    else:
        what = "no change with size detected"
    cross = "" if math.isnan(r["crossing_n"]) else f"; the fitted lines cross at N = {r['crossing_n']:,.0f}"
    return f"{what} (x{r['per_doubling']:.2f} per doubling {interval(lo, hi)}){cross}"


# the section's opening, line for line as summary.md prints it
INTRO = """\
## Scaling of steps to graduation with model size (exploratory)

Sweep `{sweep}`. Per stage, one censored log-normal AFT fit over both sides' runs at every size: log steps
= mu + slope log N + beta z + gamma z log N (z = 1: factor on). alpha is each side's exponent (steps ~ N^-alpha);
the ratio is steps off/on at the reference size N (the geometric mean of the sizes), and how it changes per
doubling of N. 95% Wald intervals from the fit (one stage at a time, unadjusted: exploratory; the decision on the
interaction is the primary family's). A stage where a side graduated at fewer than two sizes is **not
identified**: its exponent is not fixed by the data and no number is given.
"""


def scaling_markdown(table: pd.DataFrame, sweep_name: str) -> str:
    """The scaling section: per comparison and stage, each side's exponent, the ratio at the reference size, its change
    per doubling of N and where the lines cross."""
    out = INTRO.format(sweep=sweep_name).split("\n")
    if table.empty:
        return "\n".join(out + ["No runs."]) + "\n"

    def estimates(name: str) -> list[str]:
        """Column ``name`` with its interval (``name``_lo, _hi); 'n/a' where a side is not identified."""
        rows = table[[name, f"{name}_lo", f"{name}_hi"]].to_numpy()
        return ["n/a" if math.isnan(x) else interval(lo, hi, estimate=x) for x, lo, hi in rows]

    same = " (the stage's own data are the same on both sides)"
    rows = {
        "comparison": [f"{r['name']} ({r['on']} vs {r['off']})" for _, r in table.iterrows()],
        "stage": table["stage"],
        "alpha, on": estimates("alpha_on"),
        "alpha, off": estimates("alpha_off"),
        "ratio off/on at reference N": estimates("ratio_at_ref"),
        "ratio change per doubling": estimates("per_doubling"),
        "lines cross at N": [number(x, ",.0f", missing="") for x in table["crossing_n"]],
        "censored on (N: censored/runs)": table["censored_on"],
        "censored off": table["censored_off"],
        "reading": [reading(r) + ("" if r["sides_differ"] else same) for _, r in table.iterrows()],
    }
    out += [f"Reference N = {table['ref_n_params'].iat[0]:,.0f}.", "", md_table(rows), ""]
    for name, d in table.groupby("name", sort=False):
        out += [f"**{name}**: " + "; ".join(f"{r['stage']}: {reading(r)}" for _, r in d.iterrows()) + ".", ""]
    return "\n".join(out) + "\n"


def scaling_job(sweep_table: str, base_graduations: list[str], data: dict[str, list[str]], points: list[dict],
                bases: list[dict], models: dict[str, dict], comparisons: list[dict], stage_order: list[str],
                sweep_name: str, outputs: dict[str, str]) -> None:  # fmt: skip
    """Job entry point: results/metrics/scaling_{runs,fit}.parquet and results/scaling.md. ``data``: the training sets
    of each side ("on", "off") of every comparison, comparison by comparison, stage by stage; ``bases``: the variants
    the sweep starts from ({variant, run}), whose own runs (``base_graduations``) are sizes of the axis too."""
    from ..core.io import concat, provenance, read_parquet, stable_hash, write_parquet
    from .outcomes import sides_differ

    sweep = read_parquet(sweep_table)
    bases = [b for b in bases if b["run"] not in set(sweep["run"])]
    sizes = {p["variant"]: non_embedding_params(models[p["variant"]]) for p in points + bases}
    print("non-embedding parameters per point: " + ", ".join(f"{k}: {v:,}" for k, v in sizes.items()), flush=True)
    runs = scaling_runs(sweep, sizes)
    if bases:
        runs = pd.concat([base_runs(concat(base_graduations), bases, sizes), runs], ignore_index=True)
    table = scaling_fit_table(runs, stage_order, comparisons)
    n, differ = len(stage_order), {}
    for i, c in enumerate(comparisons):  # ``data`` lists each comparison's stages in turn
        on, off = (data[side][i * n : (i + 1) * n] for side in ("on", "off"))
        differ |= {
            (c["name"], stage): d for stage, d in zip(stage_order, sides_differ(c["factor"], on, off), strict=True)
        }
    if len(table):
        table["sides_differ"] = [differ[(r["name"], r["stage"])] for _, r in table.iterrows()]
    settings = {"sweep": sweep_name, "points": points, "bases": bases, "models": models, "comparisons": comparisons}
    prov = provenance(f"scaling_{sweep_name}", None, settings, stable_hash(settings))
    write_parquet(runs, outputs["runs"], prov)
    write_parquet(table, outputs["fit"], prov)
    text = scaling_markdown(table, sweep_name)
    with open(outputs["markdown"], "w") as f:
        f.write(text)
    print(text)
