"""How steps to graduation scale with model size: a censoring-aware power-law fit per stage and variant.

    log steps = log a - alpha * log N + e,   e ~ Normal(0, sigma^2)

N is the model's non-embedding parameter count. A run censored at the stage budget c is kept as
what it is, a lower bound: it contributes P(steps > c) = Phi((mu - c) / sigma) to the likelihood
instead of a density (a Tobit model, fitted by maximum likelihood). No offset is fitted. The
intervals of alpha and a are percentile bootstraps over seeds: a seed's runs at every size are
resampled together, and the two variants of a comparison share the resampled seeds, so their
difference has an interval too. ``a`` is the steps at N = 1, far outside the data, so the
comparison of constants is made at a reference size inside it (the geometric mean of the sizes).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

MIN_SIGMA = 0.01  # steps are counted in windows; a fit may not claim more precision than that
N_BOOT = 400
FEW_SEEDS = 5  # below this many seeds the bootstrap's intervals come with a warning
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def non_embedding_params(model: dict) -> int:
    """Parameters of model.GPT outside the token and position embeddings (the output head is tied to the token
    embedding): per block, attention 4d^2 + 4d, MLP 8d^2 + 5d, two LayerNorms 4d; and the final LayerNorm, 2d.
    A test counts the real model's parameters against it."""
    d, layers = model["d_model"], model["n_layer"]
    return layers * (12 * d * d + 13 * d) + 2 * d


def tobit_fit(log_n, log_steps, censored) -> dict:
    """Maximum-likelihood fit of log steps = b0 - alpha * (log N - mean log N), censored runs as lower bounds.

    Returns alpha, log_a (at N = 1), sigma and b0 (log steps at the mean log N); NaN where the data
    cannot fix a slope (fewer than two sizes, or every run censored).
    """
    from scipy.optimize import minimize
    from scipy.special import log_ndtr

    x, y, c = np.asarray(log_n, float), np.asarray(log_steps, float), np.asarray(censored, bool)
    nan = {"alpha": math.nan, "log_a": math.nan, "sigma": math.nan, "b0": math.nan, "x_mean": math.nan}
    if len(np.unique(x)) < 2 or c.all():
        return nan
    xm = float(x.mean())
    xc = x - xm
    slope, intercept = np.polyfit(xc, y, 1)  # a start: censored runs at their bound
    start = np.array([intercept, -slope, math.log(max(MIN_SIGMA, float(np.std(y - intercept - slope * xc)) or 0.1))])

    def nll(theta: np.ndarray) -> float:
        b0, alpha, log_sigma = theta
        sigma = max(MIN_SIGMA, math.exp(log_sigma))
        z = (y - (b0 - alpha * xc)) / sigma
        # graduated: the normal log density of log steps; censored: log P(steps > bound) = log Phi(-z)
        return float(np.sum(0.5 * z[~c] ** 2 + math.log(sigma) + HALF_LOG_2PI) - np.sum(log_ndtr(-z[c])))

    res = minimize(nll, start, method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-9, "maxiter": 4000})
    b0, alpha, log_sigma = res.x
    return {"alpha": float(alpha), "log_a": float(b0 + alpha * xm), "sigma": max(MIN_SIGMA, math.exp(log_sigma)), "b0": float(b0),
            "x_mean": xm}  # fmt: skip


def _runs_of(d: pd.DataFrame, seeds) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    parts = [d[d["model_seed"] == s] for s in seeds]
    d = pd.concat(parts) if parts else d.iloc[:0]
    return np.log(d["n_params"].to_numpy(float)), np.log(d["steps"].to_numpy(float)), d["censored"].to_numpy(bool)


def fit_stage(runs: pd.DataFrame, variants: list[str], ref_log_n: float, n_boot: int = N_BOOT, seed: int = 0) -> pd.DataFrame:
    """Per variant of one stage: the fit, bootstrap intervals of alpha, a and the steps at the reference size,
    and the censored count at each size. ``runs``: columns base (the variant), model_seed, n_params, steps, censored."""
    seeds = np.array(sorted(runs["model_seed"].unique()))
    rng = np.random.default_rng(seed)
    draws = [rng.choice(seeds, len(seeds)) for _ in range(n_boot)]
    rows = []
    for v in variants:
        d = runs[runs["base"] == v]
        fit = tobit_fit(*_runs_of(d, seeds))
        boots = np.array([[b["alpha"], b["log_a"], b["b0"] - b["alpha"] * (ref_log_n - b["x_mean"])]
                          for b in (tobit_fit(*_runs_of(d, s)) for s in draws)])  # fmt: skip
        ok = boots[~np.isnan(boots).any(axis=1)] if len(boots) else boots
        lo, hi = np.quantile(ok, [0.025, 0.975], axis=0) if len(ok) else np.full((2, 3), math.nan)
        at_ref = fit["b0"] - fit["alpha"] * (ref_log_n - fit["x_mean"])
        by_size = d.groupby("n_params")["censored"].agg(["sum", "count"])
        rows.append({
            "base": v, "alpha": fit["alpha"], "alpha_lo": lo[0], "alpha_hi": hi[0],
            "a": math.exp(fit["log_a"]) if not math.isnan(fit["log_a"]) else math.nan,
            "a_lo": math.exp(lo[1]), "a_hi": math.exp(hi[1]), "sigma": fit["sigma"],
            "ref_n_params": math.exp(ref_log_n), "steps_at_ref": math.exp(at_ref), "steps_at_ref_lo": math.exp(lo[2]),
            "steps_at_ref_hi": math.exp(hi[2]), "runs": len(d), "censored": int(d["censored"].sum()),
            "censored_by_size": ", ".join(f"{int(n)}: {int(r['sum'])}/{int(r['count'])}" for n, r in by_size.iterrows()),
            "seeds": len(seeds), "boot_ok": len(ok), "_boots": boots,
        })  # fmt: skip
    return pd.DataFrame(rows)


def compare(fits: pd.DataFrame, on: str, off: str) -> dict:
    """Differences (on - off) in alpha and in log steps at the reference size, with intervals from the shared bootstrap."""
    a, b = (fits.set_index("base").loc[v] for v in (on, off))
    diff = a["_boots"] - b["_boots"]
    diff = diff[~np.isnan(diff).any(axis=1)]
    lo, hi = np.quantile(diff, [0.025, 0.975], axis=0) if len(diff) else np.full((2, 3), math.nan)
    d_alpha = a["alpha"] - b["alpha"]
    d_ref = math.log(a["steps_at_ref"]) - math.log(b["steps_at_ref"])
    return {"d_alpha": d_alpha, "d_alpha_lo": lo[0], "d_alpha_hi": hi[0],
            "log_ratio_at_ref": d_ref, "log_ratio_at_ref_lo": lo[2], "log_ratio_at_ref_hi": hi[2]}  # fmt: skip


def _excludes_zero(lo: float, hi: float) -> bool:
    return not (math.isnan(lo) or math.isnan(hi)) and (lo > 0 or hi < 0)


def what_changes(cmp: dict) -> str:
    """Does the factor change the exponent, the constant (steps at the reference size), both or neither?"""
    slope = _excludes_zero(cmp["d_alpha_lo"], cmp["d_alpha_hi"])
    const = _excludes_zero(cmp["log_ratio_at_ref_lo"], cmp["log_ratio_at_ref_hi"])
    if math.isnan(cmp["d_alpha"]):
        return "not testable"
    return {(True, True): "both", (True, False): "the exponent", (False, True): "the constant", (False, False): "neither"}[(slope, const)]


REF_COLUMNS = ("steps_at_ref", "steps_at_ref_lo", "steps_at_ref_hi")
BAND_POINTS = 25  # sizes at which the fitted line's bootstrap band is stored (for the figure)


def scaling_runs(sweep: pd.DataFrame, sizes: dict[str, int]) -> pd.DataFrame:
    """The runs a fit reads, from the sweep table (aggregate.sweep_table): base (the variant the point starts from),
    point, n_params, model_seed, stage, steps, censored."""
    runs = sweep.assign(n_params=sweep["point"].map(sizes))
    return runs[["base", "point", "n_params", "model_seed", "stage", "stage_index", "steps", "censored", "budget"]]


def scaling_fit_table(runs: pd.DataFrame, stage_order: list[str], comparisons: list[dict],
                      n_boot: int = N_BOOT) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """Fits per stage and variant (``scaling_runs``) and, per stage, each comparison [{name, on, off}] of two variants."""
    log_sizes = np.log(np.unique(runs["n_params"].to_numpy(float)))
    ref = float(log_sizes.mean())
    grid = np.linspace(log_sizes.min(), log_sizes.max(), BAND_POINTS)
    fits, cmps = [], []
    for i, stage in enumerate(stage_order):
        d = runs[runs["stage"] == stage]
        f = fit_stage(d, sorted(d["base"].unique()), ref, n_boot=n_boot, seed=i)
        f["band_log_n"] = [grid.tolist()] * len(f)
        f["band_lo"], f["band_hi"] = zip(*(_band(b, grid) for b in f["_boots"]), strict=True) if len(f) else ([], [])
        uniform = _uniform_steps(d)
        cmps += [{"stage": stage, **c, **compare(f, c["on"], c["off"]), "uniform_steps": uniform} for c in comparisons]
        fits.append(f.drop(columns="_boots").assign(stage=stage, stage_index=i))
    fit = pd.concat(fits, ignore_index=True) if fits else pd.DataFrame()
    cmp = pd.DataFrame(cmps)
    if len(cmp):
        cmp["changes"] = [f"not testable: every run graduated at {r['uniform_steps']:.0f} steps" if not math.isnan(r["uniform_steps"])
                          else what_changes(r) for r in cmp.to_dict("records")]  # fmt: skip
    return fit, cmp


def _uniform_steps(runs: pd.DataFrame) -> float:
    """The steps every run of a stage graduated at, when they all did so at the same count (else NaN). Such a stage
    (typically at the rule's floor: the fewest windows it allows) carries no information about size: its fit is flat
    with an interval of width zero, which is not evidence that nothing changes."""
    if len(runs) and not runs["censored"].any() and runs["steps"].nunique() == 1:
        return float(runs["steps"].iat[0])
    return math.nan


def _band(boots: np.ndarray, grid: np.ndarray) -> tuple[list[float], list[float]]:
    """2.5% and 97.5% quantiles of the bootstrap lines' steps at each grid size."""
    ok = boots[~np.isnan(boots).any(axis=1)]
    if not len(ok):
        return [math.nan] * len(grid), [math.nan] * len(grid)
    # each draw's line: log steps = log_a - alpha * log N
    lines = ok[:, 1][:, None] - ok[:, 0][:, None] * grid[None, :]
    lo, hi = np.quantile(lines, [0.025, 0.975], axis=0)
    return np.exp(lo).tolist(), np.exp(hi).tolist()


def _interval(x: float, lo: float, hi: float, fmt: str = "{:.3f}") -> str:
    return "n/a" if math.isnan(x) else f"{fmt.format(x)} [{fmt.format(lo)}, {fmt.format(hi)}]"


def scaling_markdown(fit: pd.DataFrame, cmp: pd.DataFrame, sweep_name: str) -> str:
    """The scaling section: the fit per stage and variant, and what the compared factor changes."""
    out = [
        "## Scaling of steps to graduation with model size",
        "",
        f"Sweep `{sweep_name}`. Per stage and variant, log steps = log a - alpha log N (N: non-embedding parameters), fitted",
        "by maximum likelihood with censored runs as lower bounds (Tobit; a run censored at the budget only says its steps",
        "exceed it), no offset. 95% percentile bootstrap intervals over seeds (a seed's runs at every size together). The",
        "constant a is the steps at N = 1, far outside the data; the constants are therefore compared at the reference",
        "size (the geometric mean of the sizes). A stage where every run of a variant is censored has no fit.",
        "",
    ]
    if fit.empty:
        return "\n".join(out + ["No runs."]) + "\n"
    table = pd.DataFrame({
        "stage": fit["stage"], "variant": fit["base"],
        "alpha [95% CI]": [_interval(*r) for r in fit[["alpha", "alpha_lo", "alpha_hi"]].to_numpy()],
        "a [95% CI]": [_interval(*r, fmt="{:.3g}") for r in fit[["a", "a_lo", "a_hi"]].to_numpy()],
        "steps at reference N [95% CI]": [_interval(*r, fmt="{:.0f}") for r in fit[list(REF_COLUMNS)].to_numpy()],
        "sigma": fit["sigma"].map(lambda s: "n/a" if math.isnan(s) else f"{s:.2f}"),
        "censored (N: censored/runs)": fit["censored_by_size"],
    })  # fmt: skip
    ref = fit["ref_n_params"].iat[0]
    seeds = int(fit["seeds"].max())
    out += [f"Reference N = {ref:,.0f}. {seeds} seeds: the bootstrap draws from {math.comb(2 * seeds - 1, seeds)} distinct "
            "resamples of them." + (" With so few, percentile intervals are too narrow (they cover less than 95%): read"
            " what they decide as suggestive." if seeds < FEW_SEEDS else ""), "",
            table.to_markdown(index=False, disable_numparse=True), ""]  # fmt: skip
    if len(cmp):
        rows = pd.DataFrame({
            "comparison": [f"{r['name']} ({r['on']} - {r['off']})" for _, r in cmp.iterrows()], "stage": cmp["stage"],
            "alpha difference [95% CI]": [_interval(*r) for r in cmp[["d_alpha", "d_alpha_lo", "d_alpha_hi"]].to_numpy()],
            "steps ratio at reference N [95% CI]": [_interval(*np.exp(r), fmt="{:.2f}") for r in
                                                    cmp[["log_ratio_at_ref", "log_ratio_at_ref_lo", "log_ratio_at_ref_hi"]].to_numpy()],
            "changes": [c if differ else f"{c} (the stage's own data are the same on both sides)"
                        for c, differ in zip(cmp["changes"], cmp["sides_differ"], strict=True)],
        })  # fmt: skip
        out += [
            "Does the factor change the exponent, the constant, both or neither? An interval of the difference (on minus off,",
            "from the same bootstrap draws of seeds) that excludes 0 (for the ratio: 1) decides; otherwise the change is not",
            "detected, and the interval bounds what is not excluded. Where a stage's own data are the same on both sides",
            "(1-digit multiplication has no addition to mask), a difference comes from the stages before it and from",
            "replaying them, not from the stage.",
            "",
            rows.to_markdown(index=False, disable_numparse=True),
            "",
        ]
        for name, d in cmp.groupby("name", sort=False):
            by_answer = d.groupby("changes", sort=False)["stage"].agg(", ".join)
            out += [f"**{name}** changes " + "; ".join(f"{answer} at {stages}" for answer, stages in by_answer.items()) + ".", ""]
    return "\n".join(out) + "\n"


def scaling_job(sweep_table: str, data: dict[str, list[str]], points: list[dict], models: dict[str, dict], comparisons: list[dict],
                stage_order: list[str], sweep_name: str, outputs: dict[str, str]) -> None:  # fmt: skip
    """Job entry point: results/metrics/scaling_{runs,fit,compare}.parquet and results/scaling.md. ``data``: the
    training sets of each side ("on", "off") of every comparison, comparison by comparison, stage by stage."""
    from .aggregate import sides_differ
    from .io import provenance, read_parquet, stable_hash, write_parquet

    sizes = {p["variant"]: non_embedding_params(models[p["variant"]]) for p in points}
    print("non-embedding parameters per point: " + ", ".join(f"{k}: {v:,}" for k, v in sizes.items()), flush=True)
    runs = scaling_runs(read_parquet(sweep_table), sizes)
    fit, cmp = scaling_fit_table(runs, stage_order, comparisons)
    n, differ = len(stage_order), {}
    for i, c in enumerate(comparisons):  # ``data`` lists each comparison's stages in turn
        on, off = (data[side][i * n : (i + 1) * n] for side in ("on", "off"))
        differ |= {(c["name"], stage): d for stage, d in zip(stage_order, sides_differ(c["factor"], on, off), strict=True)}
    if len(cmp):
        cmp.insert(cmp.columns.get_loc("changes"), "sides_differ", [differ[(r["name"], r["stage"])] for _, r in cmp.iterrows()])
    settings = {"sweep": sweep_name, "points": points, "models": models, "comparisons": comparisons}
    prov = provenance(f"scaling_{sweep_name}", None, settings, stable_hash(settings))
    write_parquet(runs, outputs["runs"], prov)
    write_parquet(fit, outputs["fit"], prov)
    write_parquet(cmp, outputs["compare"], prov)
    text = scaling_markdown(fit, cmp, sweep_name)
    with open(outputs["markdown"], "w") as f:
        f.write(text)
    print(text)
