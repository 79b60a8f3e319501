"""The tables of results/summary.md, one per measure: per-stage readings and the hidden measures, clipping's mechanism,
steps to graduation, to fit and to generalise, the memorisation phase, both orders, the hold after the last stage,
and the progress measures. Every table is core/text.py's markdown table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..analysis.stats import ALPHA, AT_FLOOR, UNDECIDED, sign_flip_p
from ..core.text import md_table, number

PROGRESS_LEVEL = 0.9  # "reached": answer-token accuracy, or a window's exact match, at or above this


def _median_text(x: float) -> str:
    return "> budget (censored)" if math.isinf(x) else f"{x:.0f}"


def _p_text(p: float, method: str) -> str:
    """The exact test's p, '(MC)' where it comes from a Monte Carlo sample of the splits."""
    return number(p, ".3f") + (" (MC)" if method == "monte_carlo" and not math.isnan(p) else "")


def ratio_markdown(stats: pd.DataFrame) -> str:
    """Per stage: medians, the ratio with its interval, the exact test and the verdict (published rule)."""
    median = {side: stats[f"median_{side}"].map(_median_text) for side in ("on", "off")}
    censored = stats[["censored_on", "n_on", "censored_off", "n_off"]].to_numpy()
    return md_table(
        {
            "stage": stats["stage"],
            "sides differ": stats["sides_differ"].map({True: "yes", False: "no"}),
            "median steps, on": median["on"],
            "median steps, off": median["off"],
            "ratio off/on [95% CI]": stats["ratio_text"],
            "Gehan U": stats["gehan_u"].map(lambda u: number(u, "+.0f")),
            "p (exact)": [_p_text(p, m) for p, m in zip(stats["p_value"], stats["p_method"], strict=True)],
            "censored on / off": [f"{a}/{b} / {c}/{d}" for a, b, c, d in censored],
            "verdict": stats["verdict"],
        }
    )


def hidden_measures_markdown(stats: pd.DataFrame) -> str:
    """The same comparison for the measures the all-or-nothing rule hides."""
    cols = {"stage": stats["stage"]}
    for prefix, name in (
        ("fit_", "steps to fit"),
        ("answer_", "answer-only rule"),
        ("first_good_", "first window >= 0.9"),
    ):
        cols[f"{name}: ratio [95% CI]"] = stats[f"{prefix}ratio_text"]
        p = zip(stats[f"{prefix}p_value"], stats[f"{prefix}p_method"], strict=True)
        cols[f"{name}: p"] = [_p_text(*pm) for pm in p]
        cols[f"{name}: verdict"] = stats[f"{prefix}verdict"]
    for side in ("on", "off"):
        share = stats[f"stage_end_exact_match_{side}"]
        cols[f"held-out exact match at stage end, {side}"] = [number(x, ".1%") for x in share]
    return md_table(cols)


def verdicts_markdown(stats: pd.DataFrame) -> str:
    """Every (ablation, stage) where the two sides train differently, with its verdict, and the counts."""
    d = stats[stats["sides_differ"]]
    counts = d["verdict"].value_counts()
    order = ["supported", "contradicted", UNDECIDED, AT_FLOOR, "not testable"]
    decided = int(counts.get("supported", 0) + counts.get("contradicted", 0))
    text = (
        f"{len(d)} (ablation, stage) pairs where the two sides train differently (for a format factor: the data "
        "differ): "
        + ", ".join(f"{int(counts.get(v, 0))} {v}" for v in order)
        + f"; at p < {ALPHA} (supported or contradicted): {decided}. With no effect anywhere, {len(d)} tests at "
        f"p < {ALPHA} would still pass about {ALPHA * len(d):.1f} of them by chance: these readings are exploratory,"
        " not decisions."
    )
    cells = stats.assign(cell=stats["verdict"].where(stats["sides_differ"], "(same data)"))
    table = cells.pivot_table(index="ablation", columns="stage", values="cell", aggfunc="first", sort=False)
    stages = stats.drop_duplicates("stage").sort_values("stage_index")["stage"]
    table = table.reindex(index=stats["ablation"].unique(), columns=stages).fillna("(no runs on one side)")
    return text + "\n\n" + md_table(table.reset_index())


def clipping_markdown(logs: pd.DataFrame, runs: dict[str, str], stages: list[str]) -> str:
    """The mechanism beside the outcome: per stage and side, how often clipping fired, the gradient
    norm, and the share of weights each update moved by more than the threshold."""
    cols = {
        "clip_fraction": "steps clipped",
        "grad_norm": "grad norm",
        "update_share_matrices": "update share, matrices",
        "update_share_vectors": "update share, vectors",
    }
    rows = []
    for stage in stages:
        row = {"stage": stage}
        for side in ("on", "off"):
            d = logs[(logs["variant"] == runs[side]) & (logs["stage"] == stage)]
            for col, name in cols.items():
                x = d[col].median() if col in d else math.nan
                row[f"{name}, {side}"] = number(x, ".3g" if col == "grad_norm" else ".0%")
        rows.append(row)
    return md_table(rows)


def _steps_text(steps: pd.Series, censored: pd.Series) -> str:
    """Per seed, steps with '+' where censored (not reached by then)."""
    return ", ".join(f"{x:.0f}{'+' if c else ''}" for x, c in zip(steps, censored, strict=True))


def memorisation_markdown(measures: pd.DataFrame, stages: list[str]) -> str:
    """Per variant and stage with an unseen pool: steps to fit, steps to generalise and the memorisation phase between
    them, per seed, and how many runs had a phase (generalised at least one window after fitting)."""
    rows = []
    for (variant, stage), d in measures.groupby(["variant", "stage"], sort=False):
        d = d.sort_values("seed")
        row = {"variant": variant, "stage": stage, "stage_index": stages.index(stage)}
        for m, name in (("fit", "steps to fit (per seed)"), ("generalise", "steps to generalise"),
                        ("memorisation", "memorisation phase, steps")):  # fmt: skip
            row[name] = _steps_text(d[f"{m}_steps"], d[f"{m}_censored"])
        rows.append(row | {"runs with a phase": f"{int((d['memorisation_steps'] > 0).sum())}/{len(d)}"})
    return md_table(pd.DataFrame(rows).sort_values(["variant", "stage_index"]).drop(columns="stage_index"))


def carry_phase_markdown(measures: pd.DataFrame, runs: dict[str, str], stages: list[str]) -> str:
    """Per stage, one carry ablation's two sides (``runs``: on, off): the median memorisation phase and how many runs
    had one."""
    rows = []
    for stage in stages:
        row = {"stage": stage}
        for side in ("on", "off"):
            d = measures[(measures["variant"] == runs[side]) & (measures["stage"] == stage)]
            row[f"median phase, carry {side}"] = f"{d['memorisation_steps'].median():.0f}" if len(d) else "n/a"
            row[f"runs with a phase, carry {side}"] = f"{int((d['memorisation_steps'] > 0).sum())}/{len(d)}"
        rows.append(row)
    return md_table(rows)


def stage_end_markdown(measures: pd.DataFrame, accuracy: pd.DataFrame, stages: list[str]) -> str:
    """Per variant and stage: median steps to fit and to generalise (censored runs count as slower than every graduated
    one; a censored median reads "not by stage end", since a stage that moved on under the other pool ended before its
    budget), and held-out exact match at stage end (mean over seeds), side by side."""
    d = measures.merge(accuracy, on=["variant", "seed", "stage"], how="left")
    rows = []
    for (variant, stage), g in d.groupby(["variant", "stage"], sort=False):
        row = {"variant": variant, "stage": stage, "stage_index": stages.index(stage),
               "pool": ", ".join(sorted(g["pool"].unique()))}  # fmt: skip
        for name in ("fit", "generalise"):
            median = float(np.median(np.where(g[f"{name}_censored"], np.inf, g[f"{name}_steps"])))
            row[f"median steps to {name}"] = "not by stage end (censored)" if math.isinf(median) else f"{median:.0f}"
        row["held-out exact match at stage end"] = number(g["stage_end_exact_match"].mean(), ".1%")
        rows.append(row)
    return md_table(pd.DataFrame(rows).sort_values(["variant", "stage_index"]).drop(columns="stage_index"))


def commutation_markdown(evals: pd.DataFrame, variants: list[str]) -> str:
    """Held-out exact match per variant and stage, a x b (test) and b x a (commute), at stage end and after the last
    stage."""
    d = evals[evals["variant"].isin(variants)]
    acc = d.groupby(["variant", "stage", "when", "split"], sort=False)["correct"].mean().unstack(["when", "split"])
    cols = {"variant": acc.index.get_level_values("variant"), "stage": acc.index.get_level_values("stage")}
    for when in ("stage_end", "final"):
        for split, name in (("test", "a x b (test)"), ("commute", "b x a (commute)")):
            missing = pd.Series(math.nan, index=acc.index)  # no commutative stage
            cols[f"{name}, {when.replace('_', ' ')}"] = [number(v, ".1%") for v in acc.get((when, split), missing)]
    return md_table(cols)


def hold_markdown(h: pd.DataFrame) -> str:
    """Per variant (analysis.outcomes.hold_measures' rows): unseen exact match at the hold's start and end, the runs
    that degraded, the sign-flip p that it fell, and the verdict: degrades (most runs), holds (none) or mixed."""
    rows = []
    for variant, d in h.groupby("variant", sort=False):
        fell = int(d["degraded"].sum())
        rows.append(
            {
                "variant": variant,
                "optimiser": d["optimiser"].iat[0],
                "runs": len(d),
                "hold steps": f"{int(d['hold_steps'].median())}",
                "unseen start": f"{d['unseen_start'].mean():.3f}",
                "unseen end": f"{d['unseen_end'].mean():.3f}",
                "median change": f"{d['unseen_change'].median():+.3f}",
                "lowest window": f"{d['unseen_lowest'].min():.2f}",
                "training sample end": f"{d['train_end'].mean():.3f}",
                "runs degraded": f"{fell}/{len(d)}",
                "p (fell)": f"{sign_flip_p(d['unseen_change']):.3f}",
                "verdict": "degrades" if fell * 2 > len(d) else ("holds" if fell == 0 else "mixed"),
            }
        )
    return md_table(rows)


def _first_step_at(df: pd.DataFrame, col: str) -> pd.Series:
    """Per (variant, seed, stage): the first stage step where ``col`` reaches PROGRESS_LEVEL (absent if never)."""
    return df[df[col] >= PROGRESS_LEVEL].groupby(["variant", "seed", "stage"])["stage_step"].min()


def time_share(logs: pd.DataFrame, clock: str, run: str = "variant") -> pd.Series:
    """Per run (indexed by the ``run`` column, the variant by default, and the seed): the share of its training wall
    time that ``clock`` (a cumulative train_log column: measure_time_s, window_time_s) took, from the run's last row."""
    last = logs.sort_values("step").groupby([run, "seed"]).tail(1).set_index([run, "seed"])
    return last[clock] / last["wall_time_s"]


def share_sentence(what: str, share: pd.Series) -> str:
    """'<what> took a% to b% of each run's training time (median c%, n runs).'"""
    return (f"{what} took {100 * share.min():.1f}% to {100 * share.max():.1f}% of each run's training time "
            f"(median {100 * share.median():.1f}%, {len(share)} runs).")  # fmt: skip


def progress_markdown(logs: pd.DataFrame, windows: pd.DataFrame) -> str:
    """Does per-token accuracy rise before exact match, and do matrices and vectors differ in gradient SNR?"""
    token = _first_step_at(logs, "answer_token_accuracy").rename("token")
    both = pd.concat([token, _first_step_at(windows, "exact_match").rename("exact")], axis=1).reset_index()
    snr = logs.dropna(subset=["grad_snr_matrices", "grad_snr_vectors"])
    overhead = time_share(logs, "measure_time_s").groupby(level="variant").median()
    rows = []
    for v in sorted(logs["variant"].unique()):
        b, sv = both[both["variant"] == v], snr[snr["variant"] == v]
        reached = b.dropna(subset=["token"])
        higher = (sv["grad_snr_vectors"] > sv["grad_snr_matrices"]).mean()
        lead = (reached["exact"] - reached["token"]).dropna()
        rows.append(
            {
                "variant": v,
                f"run-stages with answer-token accuracy >= {PROGRESS_LEVEL}": str(len(reached)),
                f"of those, with window exact match >= {PROGRESS_LEVEL}": str(int(reached["exact"].notna().sum())),
                "median steps from the first to the second": f"{lead.median():.0f}",
                "median gradient SNR, matrices": f"{sv['grad_snr_matrices'].median():.3g}",
                "vectors": f"{sv['grad_snr_vectors'].median():.3g}",
                "measurements where vectors' SNR is higher": f"{higher:.0%}",
                "progress measures, share of training time": f"{100 * overhead.get(v, float('nan')):.1f}%",
            }
        )
    return md_table(rows)


def steps_markdown(graduations: pd.DataFrame, stages: list[str]) -> str:
    """One row per run, one column per stage: steps to graduation, '+' where censored, 'not reached' where the run
    has no row for the stage (it stopped after a censored stage: curriculum.after_censored)."""
    plus = graduations["censored"].map({True: "+", False: ""})
    cells = graduations.assign(cell=graduations["steps"].astype(int).astype(str) + plus)
    table = cells.pivot_table(index=["variant", "seed"], columns="stage", values="cell", aggfunc="first")
    return md_table(table.reindex(columns=stages).fillna("not reached").reset_index().astype(str))


def progress_by_stage_markdown(logs: pd.DataFrame, stages: list[str]) -> str:
    """Gradient SNR per class, B_simple and the clipping rate per stage; the progress measures' time share per run."""
    cols = ["grad_snr_matrices", "grad_snr_vectors", "noise_scale_b_simple", "clip_fraction"]
    med = logs.groupby("stage")[cols].median()
    med = med.reindex([s for s in stages if s in med.index])
    table = {
        "stage": med.index,
        "SNR matrices": [f"{x:.3g}" for x in med["grad_snr_matrices"]],
        "SNR vectors": [f"{x:.3g}" for x in med["grad_snr_vectors"]],
        "B_simple": [f"{x:.3g}" for x in med["noise_scale_b_simple"]],
        "share of steps clipped": [f"{x:.0%}" for x in med["clip_fraction"]],
    }
    return md_table(table) + "\n\n" + share_sentence("Progress measures", time_share(logs, "measure_time_s"))
