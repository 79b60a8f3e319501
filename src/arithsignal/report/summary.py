"""results/summary.md: each claim of the write-up next to what this run measured, including claims that did not hold."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from ..analysis.outcomes import HOLD_DROP, failure_table, hold_measures, stage_end_accuracy, stage_measures
from ..analysis.stats import ALPHA, AT_FLOOR, UNDECIDED, sign_flip_p
from ..core.io import concat, write_parquet

CLAIMS = {
    "carry_mask": (
        "1. Carry mask",
        "A carry-mask line in the scratchpad cut convergence on 4-digit multiplication from about 120k to about 25k steps "
        "(ratio without/with about 4.8).",
    ),
    "commas": ("2. Commas", "Thousands separators (1,234) speed convergence a lot (ratio without/with well above 1)."),
    "mixed_lengths": (
        "3. Mixed operand lengths",
        "Mixing problems with a shorter operand into each stage makes training faster (ratio without/with above 1), "
        "though the problem space is larger.",
    ),
    "commute": (
        "4. Both orders (a x b and b x a)",
        "Training on both orders converges faster (ratio without/with above 1); a model trained on a x b only still gets "
        "over 90% on b x a while in distribution it is at 99.9999%.",
    ),
    "scratchpad": (
        "7. Scratchpad",
        "Without the scratchpad (the prompt, then the answer alone) the same problems take significantly longer to converge "
        "(ratio without/with above 1).",
    ),
    "optim.grad_clip": (
        "8. Gradient clipping",
        "Gradient clipping holds back the path from the weak generalised solution to the strong one: training converges "
        "faster without it (ratio without/with below 1; the verdict reads against this claim, so supported means slower "
        "with clipping). The write-up saw it in gradient norms and in how few weights were being updated.",
    ),
    "reverse": (
        "Reversed digits (Lee et al. 2023)",
        "Writing every number the model produces least-significant digit first makes arithmetic much easier to learn "
        "(ratio forwards/reversed above 1).",
    ),
    "optim.name": (
        "SNR-gated update (the 'SNR preconditioner' article)",
        "Damping the update along low-SNR directions (each coordinate's AdamW step scaled by min(1, SNR / threshold), "
        "docs/OPTIMIZERS.md) accelerates convergence (ratio AdamW/gated above 1).",
    ),
    "optim.vectors": (
        "Per-class learning rate and weight decay (the minimal-model paper)",
        "Regime-aware settings, vectors and scalars (signal-dominated) with their own learning rate and weight decay "
        "apart from the matrices (noise-dominated), speed convergence (ratio shared/own settings above 1).",
    ),
}
GRADUATION_MEANS = {
    "unseen": "**Graduating means generalising**: the rule decides on problems the model never trained on (each stage's "
    "unseen pool), as in the write-up, where 4x4 multiplication is far too large a space for a sampled problem to have "
    "been trained on; a stage too small to hold problems out (1-digit facts, pool 'train' in the tables) graduates on its "
    "training problems. Steps to fit (the same rule on training problems) are reported beside it, and their difference "
    "is the memorisation phase.",
    "train": "**Graduating means fitting**: this run's rule decides on training problems (graduation.pool: train), which a "
    "model can get right by memorising them; steps to generalise (the same rule on problems never trained on) are "
    "reported beside it.",
}
# the preset that measures a factor the config has no ablation of
NOT_MEASURED = {
    "optim.name": "presets/optimizers.yaml",
    "optim.vectors": "presets/optimizers.yaml",
    "carry_mask": "config.yaml",
    "commas": "presets/formats.yaml",
    "commute": "presets/formats.yaml",
    "mixed_lengths": "presets/formats.yaml",
}


def _median_text(x: float) -> str:
    return "> budget (censored)" if math.isinf(x) else f"{x:.0f}"


def _p_text(p: float, method: str) -> str:
    return "n/a" if math.isnan(p) else f"{p:.3f}" + (" (MC)" if method == "monte_carlo" else "")


def ratio_markdown(stats: pd.DataFrame) -> str:
    """Per stage: medians, the ratio with its interval, the exact test and the verdict (published rule)."""
    table = pd.DataFrame(
        {
            "stage": stats["stage"],
            "sides differ": stats["sides_differ"].map({True: "yes", False: "no"}),
            "median steps, on": stats["median_on"].map(_median_text),
            "median steps, off": stats["median_off"].map(_median_text),
            "ratio off/on [95% CI]": stats["ratio_text"],
            "Gehan U": stats["gehan_u"].map(lambda u: "n/a" if math.isnan(u) else f"{u:+.0f}"),
            "p (exact)": [_p_text(p, m) for p, m in zip(stats["p_value"], stats["p_method"], strict=True)],
            "censored on / off": [
                f"{a}/{b} / {c}/{d}" for a, b, c, d in stats[["censored_on", "n_on", "censored_off", "n_off"]].to_numpy()
            ],
            "verdict": stats["verdict"],
        }
    )
    return table.to_markdown(index=False, disable_numparse=True)


def hidden_measures_markdown(stats: pd.DataFrame) -> str:
    """The same comparison for the measures the all-or-nothing rule hides."""
    cols = {"stage": stats["stage"]}
    for prefix, name in (("fit_", "steps to fit"), ("answer_", "answer-only rule"), ("first_good_", "first window >= 0.9")):
        cols[f"{name}: ratio [95% CI]"] = stats[f"{prefix}ratio_text"]
        cols[f"{name}: p"] = [_p_text(p, m) for p, m in zip(stats[f"{prefix}p_value"], stats[f"{prefix}p_method"], strict=True)]
        cols[f"{name}: verdict"] = stats[f"{prefix}verdict"]
    for side in ("on", "off"):
        cols[f"held-out exact match at stage end, {side}"] = stats[f"stage_end_exact_match_{side}"].map(_share_text)
    return pd.DataFrame(cols).to_markdown(index=False, disable_numparse=True)


def _bound(x: float) -> str:
    return "unbounded" if math.isinf(x) else "n/a" if math.isnan(x) else f"{x:.2f}"


def _estimate(r: dict | pd.Series) -> str:
    return "no estimate" if pd.isna(r["estimate"]) else f"{r['bound']}{r['estimate']:.2f}"


def interval_text(r: dict | pd.Series) -> str:
    """'[low, high]' on the ratio scale; an open end reads 'unbounded below/above' the testable range's end."""
    low = f"unbounded below {r['testable_low']:.2f}" if r["ci_low_open"] else _bound(r["ci_low"])
    high = f"unbounded above {r['testable_high']:.2f}" if r["ci_high_open"] else _bound(r["ci_high"])
    return f"[{low}, {high}]"


def plain_words(r: dict | pd.Series) -> str:
    """One sentence per hypothesis: what the estimate and its interval say."""
    if not r["identified"]:
        return f"Not identified: {r['not_identified_why']}."
    if pd.isna(r["estimate"]):
        return f"No estimate: one side never graduated and the interval {interval_text(r)} is open on its side."
    ci = interval_text(r)
    where = f" at {r['size']}" if r["size"] else f" (pooled over {r['stages']})"
    if r["kind"] != "size_interaction":
        fewer = r["estimate"] >= 1
        bound = "" if not r["bound"] else " at least" if (r["bound"] == ">=") == fewer else " at most"
        text = (f"Off/on steps ratio {r['bound']}{r['estimate']:.2f} {ci}: with the factor on, runs generalise in{bound} "
                + (f"{r['estimate']:.2f}x fewer steps" if fewer else f"{1 / r['estimate']:.2f}x more steps") + where)  # fmt: skip
        if not pd.isna(r["claimed"]) and (r["sizes"] == 1 or r["size"]):
            low, high = (0.0 if r["ci_low_open"] else r["ci_low"]), (math.inf if r["ci_high_open"] else r["ci_high"])
            side = "inside" if low <= r["claimed"] <= high else "above" if r["claimed"] > high else "below"
            text += f"; the claimed {r['claimed']:g}x is {side} the interval"
    else:
        text = f"Per doubling of model size the ratio changes by x{r['estimate']:.2f} {ci} " + (
            "(the factor helps smaller models more)" if r["estimate"] < 1 else "(the factor helps larger models more)"
        )
    return text + "."


def primary_section(table: pd.DataFrame, alpha: float = 0.05) -> list[str]:
    """The primary family's decisions, first in the summary: the family's table, the per-size effects, and the
    robustness of each decision."""
    members = table[table["member"]] if "member" in table else table
    m = len(members)
    rows = []
    for _, r in members.iterrows():
        method = r["p_method"].replace("_", " ")
        rows.append({
            "hypothesis": r["hypothesis"], "judged on": f"{r['stages']} ({r['runs']} runs, {r['sizes']} size(s); {r['model']} AFT)",
            f"estimate [{'simultaneous ' if m > 1 else ''}{100 * (1 - alpha / m):g}% CI]": "n/a" if not r["identified"] else
            f"{_estimate(r)} {interval_text(r)}",
            "p (permutation)": "n/a" if pd.isna(r["p_value"]) else f"{r['p_value']:.4f} ({r['relabellings']} {method})",
            "Holm p": f"{r['holm_p']:.4f}", "outcome": r["outcome"], "robustness": r.get("fragility", ""), "in words": plain_words(r),
        })  # fmt: skip
    out = [
        "## Decisions: the primary family (confirmatory)",
        "",
        f"The {m} hypotheses declared in the config before the run (analysis.family), decided by one rule with Holm's",
        "correction over the family (docs/STATISTICS.md). Each comes from one censored accelerated-failure-time model over",
        "every run and judged stage (steps to generalise, read on the window grid as intervals), of the distribution the",
        "config declares (analysis.model), tested by permuting whole runs between the sides within model size. Intervals",
        f"are simultaneous over the family (each at 1 - {alpha:g}/{m}) and invert the test; an end the test cannot reach",
        "inside the testable range (where every stage and size keeps a window after the shift) reads 'unbounded'.",
        f"**effect**: Holm p < {alpha:g}; **equivalent**: the two one-sided tests put the effect inside the smallest",
        "effect of interest; **claimed size excluded from above / below**, **consistent with** or **not excluded**: the",
        "interval against the claim's own size; otherwise **undecided at this design**, with the smallest effect it could",
        "detect at 80% power. Where the runs span model sizes, equivalence and the claimed size are judged at each size",
        "(next table), never on the size-averaged effect alone. **fragile**: the decision's significance (or an effect's",
        "direction) changes when one stage is left out or under the other distribution (the lines after the tables).",
        "",
        _md(rows),
        "",
    ]
    sizes = table[~table["member"]] if "member" in table else table.iloc[0:0]
    if len(sizes):
        k = int(members["sizes"].max())
        out += [f"**The effect at each model size** (the same test on one size's runs; intervals at 1 - {alpha:g}/({m} x {k}),",
                "Bonferroni over the family and the sizes; not members of the family, no Holm p):", "",
                _md([{"effect at": r["size"], "judged on": f"{r['runs']} runs", "estimate [CI]": "n/a" if not r["identified"] else
                      f"{_estimate(r)} {interval_text(r)}", "p": "n/a" if pd.isna(r["p_value"]) else f"{r['p_value']:.4f}",
                      "outcome at this size": r["outcome"], "in words": plain_words(r)} for _, r in sizes.iterrows()]), ""]  # fmt: skip
    out += [
        "**Robustness of each decision** (exploratory: the same test with one judged stage left out, and under the",
        "other distribution; the censored (run, stage) cells the decision rests on, per model size and side):",
        "",
    ]
    for _, r in members.iterrows():
        checks = json.loads(r["checks"]) if isinstance(r.get("checks"), str) else []
        parts = [f"{c['check']}: " + (f"{c['estimate']:.2f}, p {c['p_value']:.3f}" if c["identified"] else f"not identified ({c['why']})")
                 for c in checks]  # fmt: skip
        out.append(f"- {r['hypothesis']}: {r.get('fragility') or 'n/a'}. " + ("; ".join(parts) + ". " if parts else "")
                   + f"Censored cells: {r['censored_cells']}.")  # fmt: skip
    return out + [""]


def _share_text(x: float) -> str:
    return "n/a" if pd.isna(x) else f"{100 * x:.1f}%"


def verdicts_markdown(stats: pd.DataFrame) -> str:
    """Every (ablation, stage) where the two sides train differently, with its verdict, and the counts."""
    d = stats[stats["sides_differ"]]
    counts = d["verdict"].value_counts()
    order = ["supported", "contradicted", UNDECIDED, AT_FLOOR, "not testable"]
    lines = [
        f"{len(d)} (ablation, stage) pairs where the two sides train differently (for a format factor: the data differ): "
        + ", ".join(f"{int(counts.get(v, 0))} {v}" for v in order)
        + f"; at p < {ALPHA} (supported or contradicted): {int(counts.get('supported', 0) + counts.get('contradicted', 0))}."
        + f" With no effect anywhere, {len(d)} tests at p < {ALPHA} would still pass about {ALPHA * len(d):.1f} of them by chance:"
        " these readings are exploratory, not decisions.",
        "",
    ]
    cells = stats.assign(cell=stats["verdict"].where(stats["sides_differ"], "(same data)"))
    table = cells.pivot_table(index="ablation", columns="stage", values="cell", aggfunc="first", sort=False)
    stages = stats.drop_duplicates("stage").sort_values("stage_index")["stage"]
    table = table.reindex(index=stats["ablation"].unique(), columns=stages).fillna("(no runs on one side)")
    lines.append(table.to_markdown(disable_numparse=True))
    return "\n".join(lines)


def clipping_markdown(logs: pd.DataFrame, runs: dict[str, str], stages: list[str]) -> str:
    """The mechanism beside the outcome: per stage and side, how often clipping fired, the gradient
    norm, and the share of weights each update moved by more than the threshold."""
    cols = {"clip_fraction": "steps clipped", "grad_norm": "grad norm", "update_share_matrices": "update share, matrices",
            "update_share_vectors": "update share, vectors"}  # fmt: skip
    rows = []
    for stage in stages:
        row = {"stage": stage}
        for side in ("on", "off"):
            d = logs[(logs["variant"] == runs[side]) & (logs["stage"] == stage)]
            for col, name in cols.items():
                x = d[col].median() if col in d else math.nan
                row[f"{name}, {side}"] = "n/a" if pd.isna(x) else (f"{100 * x:.0f}%" if col != "grad_norm" else f"{x:.3g}")
        rows.append(row)
    return _md(rows)


def _steps_text(steps: pd.Series, censored: pd.Series) -> str:
    """Per seed, steps with '+' where censored (not reached by then)."""
    return ", ".join(f"{x:.0f}{'+' if c else ''}" for x, c in zip(steps, censored, strict=True))


def memorisation_markdown(measures: pd.DataFrame, stages: list[str]) -> str:
    """Per variant and stage with an unseen pool: steps to fit, steps to generalise and the memorisation phase between
    them, per seed, and how many runs had a phase (generalised at least one window after fitting)."""
    rows = []
    for (variant, stage), d in measures.groupby(["variant", "stage"], sort=False):
        d = d.sort_values("seed")
        rows.append({"variant": variant, "stage": stage, "stage_index": stages.index(stage),
                     "steps to fit (per seed)": _steps_text(d["fit_steps"], d["fit_censored"]),
                     "steps to generalise": _steps_text(d["generalise_steps"], d["generalise_censored"]),
                     "memorisation phase, steps": _steps_text(d["memorisation_steps"], d["memorisation_censored"]),
                     "runs with a phase": f"{int((d['memorisation_steps'] > 0).sum())}/{len(d)}"})  # fmt: skip
    table = pd.DataFrame(rows).sort_values(["variant", "stage_index"]).drop(columns="stage_index")
    return _md(table)


def stage_end_markdown(measures: pd.DataFrame, accuracy: pd.DataFrame, stages: list[str]) -> str:
    """Per variant and stage: median steps to fit and to generalise (censored runs count as slower than every graduated
    one; a censored median reads "not by stage end", since a stage that moved on under the other pool ended before its
    budget), and held-out exact match at stage end (mean over seeds), side by side."""
    d = measures.merge(accuracy, on=["variant", "seed", "stage"], how="left")
    rows = []
    for (variant, stage), g in d.groupby(["variant", "stage"], sort=False):
        row = {"variant": variant, "stage": stage, "stage_index": stages.index(stage), "pool": ", ".join(sorted(g["pool"].unique()))}
        for name in ("fit", "generalise"):
            x = np.where(g[f"{name}_censored"], np.inf, g[f"{name}_steps"])
            median = float(np.median(x))
            row[f"median steps to {name}"] = "not by stage end (censored)" if math.isinf(median) else f"{median:.0f}"
        row["held-out exact match at stage end"] = _share_text(g["stage_end_exact_match"].mean())
        rows.append(row)
    return _md(pd.DataFrame(rows).sort_values(["variant", "stage_index"]).drop(columns="stage_index"))


def commutation_markdown(evals: pd.DataFrame, variants: list[str]) -> str:
    """Held-out exact match per variant and stage, a x b (test) and b x a (commute), at stage end and after the last stage."""
    d = evals[evals["variant"].isin(variants)]
    acc = d.groupby(["variant", "stage", "when", "split"], sort=False)["correct"].mean().unstack(["when", "split"])
    cols = {"variant": acc.index.get_level_values("variant"), "stage": acc.index.get_level_values("stage")}
    for when in ("stage_end", "final"):
        for split, name in (("test", "a x b (test)"), ("commute", "b x a (commute)")):
            x = acc[(when, split)] if (when, split) in acc else pd.Series(math.nan, index=acc.index)  # no commutative stage
            cols[f"{name}, {when.replace('_', ' ')}"] = ["n/a" if pd.isna(v) else f"{100 * v:.1f}%" for v in x]
    return pd.DataFrame(cols).to_markdown(index=False, disable_numparse=True)


PROGRESS_LEVEL = 0.9  # "reached": answer-token accuracy, or a window's exact match, at or above this


def _first_step_at(df: pd.DataFrame, col: str) -> pd.Series:
    """Per (variant, seed, stage): the first stage step where ``col`` reaches PROGRESS_LEVEL (absent if never)."""
    hit = df[df[col] >= PROGRESS_LEVEL]
    return hit.groupby(["variant", "seed", "stage"])["stage_step"].min()


def _md(rows: list[dict] | pd.DataFrame) -> str:
    return pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True)


def time_share(logs: pd.DataFrame, clock: str) -> pd.Series:
    """Per run (indexed by variant, seed): the share of its training wall time that ``clock`` (a cumulative
    train_log column: measure_time_s, window_time_s) took, from the run's last row."""
    last = logs.sort_values("step").groupby(["variant", "seed"]).tail(1).set_index(["variant", "seed"])
    return last[clock] / last["wall_time_s"]


def _share_sentence(what: str, share: pd.Series) -> str:
    return (f"{what} took {100 * share.min():.1f}% to {100 * share.max():.1f}% of each run's training time "
            f"(median {100 * share.median():.1f}%, {len(share)} runs).")  # fmt: skip


def progress_markdown(logs: pd.DataFrame, windows: pd.DataFrame) -> str:
    """Does per-token accuracy rise before exact match, and do matrices and vectors differ in gradient SNR?"""
    token = _first_step_at(logs, "answer_token_accuracy").rename("token")
    exact = _first_step_at(windows, "exact_match").rename("exact")
    both = pd.concat([token, exact], axis=1).reset_index()
    snr = logs.dropna(subset=["grad_snr_matrices", "grad_snr_vectors"])
    overhead = time_share(logs, "measure_time_s").groupby(level="variant").median()
    rows = []
    for v in sorted(logs["variant"].unique()):
        b, sv = both[both["variant"] == v], snr[snr["variant"] == v]
        reached = b.dropna(subset=["token"])
        lead = (reached["exact"] - reached["token"]).dropna()
        rows.append(
            {
                "variant": v,
                f"run-stages with answer-token accuracy >= {PROGRESS_LEVEL}": str(len(reached)),
                f"of those, with window exact match >= {PROGRESS_LEVEL}": str(int(reached["exact"].notna().sum())),
                "median steps from the first to the second": f"{lead.median():.0f}",
                "median gradient SNR, matrices": f"{sv['grad_snr_matrices'].median():.3g}",
                "vectors": f"{sv['grad_snr_vectors'].median():.3g}",
                "measurements where vectors' SNR is higher": f"{100 * (sv['grad_snr_vectors'] > sv['grad_snr_matrices']).mean():.0f}%",
                "progress measures, share of training time": f"{100 * overhead.get(v, float('nan')):.1f}%",
            }
        )
    return _md(rows)


def steps_markdown(graduations: pd.DataFrame, stages: list[str]) -> str:
    """One row per run, one column per stage: steps to graduation, '+' where censored."""
    cells = graduations.assign(cell=graduations["steps"].astype(int).astype(str) + graduations["censored"].map({True: "+", False: ""}))
    table = cells.pivot_table(index=["variant", "seed"], columns="stage", values="cell", aggfunc="first")
    return _md(table.reindex(columns=stages).fillna("").reset_index().astype(str))


def progress_by_stage_markdown(logs: pd.DataFrame, stages: list[str]) -> str:
    """Gradient SNR per class, B_simple and the clipping rate per stage; the progress measures' time share per run."""
    med = logs.groupby("stage")[["grad_snr_matrices", "grad_snr_vectors", "noise_scale_b_simple", "clip_fraction"]].median()
    med = med.reindex([s for s in stages if s in med.index])
    table = pd.DataFrame(
        {
            "stage": med.index,
            "SNR matrices": [f"{x:.3g}" for x in med["grad_snr_matrices"]],
            "SNR vectors": [f"{x:.3g}" for x in med["grad_snr_vectors"]],
            "B_simple": [f"{x:.3g}" for x in med["noise_scale_b_simple"]],
            "share of steps clipped": [f"{100 * x:.0f}%" for x in med["clip_fraction"]],
        }
    )
    return _md(table) + "\n\n" + _share_sentence("Progress measures", time_share(logs, "measure_time_s"))


def summary_markdown(
    stats: pd.DataFrame,
    evals: pd.DataFrame,
    graduations: pd.DataFrame,
    meta: dict,
    logs: pd.DataFrame,
    windows: pd.DataFrame,
    confirmatory: pd.DataFrame | None = None,
    ledger: pd.DataFrame | None = None,
) -> str:
    g = meta["graduation"]
    out = [
        "# What this run measured",
        "",
        f"Stages: {', '.join(meta['stages'])}. Seeds: {meta['seeds']}. Stage budget: {meta['stage_budget']} steps.",
        f"Graduation rule: {g['problems_per_window']} problems x {g['windows']} consecutive perfect windows, "
        f"{g['window_every']} steps apart (published: 25 x 6 x 600), on the {g['pool']} pool.",
        "",
        GRADUATION_MEANS[g["pool"]],
        "",
    ]
    if confirmatory is not None:
        out += primary_section(confirmatory, meta.get("alpha", ALPHA))
        if ledger is not None:
            from ..analysis.attempts import markdown as attempts_markdown

            out += attempts_markdown(ledger, confirmatory[confirmatory["member"]], meta.get("alpha", ALPHA))
    out += [
        "## Exploratory analyses",
        "",
        "Everything from here on is **exploratory**: per-stage tests, the answer-only rule, steps to fit, the first good",
        "window, memorisation, scaling per stage. Each test is at p < 0.05 on its own, **unadjusted** for the many that",
        "are made, so a few are expected to pass by chance; none of them is a decision of this run."
        + ("" if confirmatory is not None else " (No primary family is declared in this config: analysis.family.)"),
        "",
        "Ratios are median steps to graduation with the factor off over with it on (above 1: the factor speeds convergence),",
        "with a 95% percentile bootstrap interval over seeds. A run that did not graduate within the budget is censored:",
        "it counts as slower than every graduated run, so a censored median turns the ratio into a bound (>= or <=).",
        "",
        "**Per-stage reading**, applied to every (ablation, stage): Gehan's generalised Wilcoxon statistic U compares every",
        "run with the factor on against every run with it off (+1 where the on run surely graduated first, -1 where the",
        "off run did, 0 where tied or unknown under censoring); its two-sided p-value is exact, from every split of the",
        f"pooled runs into two sides (a seeded Monte Carlo sample when there are too many). **supported**: p < {ALPHA} and",
        "U > 0 (the factor speeds convergence; U < 0 where the claim is that it slows convergence: clipping);",
        f"**contradicted**: p < {ALPHA} and U of the other sign; **at the floor**: every run of both sides graduated in",
        "the first window the rule allows, so the rule cannot tell them apart; **not testable**: every run on both sides",
        "censored; otherwise **undecided (unadjusted)**.",
        "",
    ]
    if len(stats):
        out += ["## Per-stage readings (exploratory)", "", verdicts_markdown(stats), ""]

    def claim_sections(factors: list[str]) -> list[str]:
        lines = []
        for factor in factors:
            title, claim = CLAIMS[factor]
            s = stats[stats["factor"] == factor] if len(stats) else stats
            lines += [f"## {title}", "", f"Claim: {claim}", ""]
            if s.empty:
                where = NOT_MEASURED.get(factor, "presets/new_claims.yaml")
                lines += [f"Not measured: no ablation of this factor in the config ({where} has it).", ""]
                continue
            for ab, sa in s.groupby("ablation", sort=False):
                lines += [f"Ablation `{ab}`, published rule:", "", ratio_markdown(sa), ""]
                lines += ["The measures the all-or-nothing rule hides, from the same windows:", "", hidden_measures_markdown(sa), ""]
                runs = meta["ablation_runs"][ab]
                if factor == "optim.grad_clip" and len(logs):
                    lines += ["The mechanism, medians over seeds and logged steps of each stage (on: clipping, off: none):", ""]
                    lines += [clipping_markdown(logs, runs, meta["stages"]), ""]
            if factor == "commute":
                runs = sorted({r for ab in s["ablation"].unique() for r in meta["ablation_runs"][ab].values()})
                lines += ["Held-out exact match after training (mean over seeds):", "", commutation_markdown(evals, runs), ""]
        return lines

    out += claim_sections(["carry_mask", "commas", "mixed_lengths", "commute"])
    out += [
        "## 5. Graduation",
        "",
        "Claim: a stage is passed at 100% exact match under greedy decoding on 25 fresh problems in 6 consecutive windows 600 steps apart.",
        "",
        f"This run used {g['problems_per_window']} x {g['windows']} x {g['window_every']}. Stages graduated / censored per variant:",
        "",
        _md(graduations.groupby("variant")[["graduated", "censored"]].sum().reset_index().astype(str)),
    ]
    out += ["", "Steps to graduation of every run (+ = censored at the budget):", "", steps_markdown(graduations, meta["stages"])]
    if len(graduations):
        out += [
            "",
            "Steps to fit (the rule on training problems), to generalise (on unseen problems; where a stage has no unseen",
            "pool the two are the same) and held-out exact match on the stage's test problems with the model as it was",
            "when the stage ended, before the next stage trained:",
            "",
            stage_end_markdown(stage_measures(graduations, windows), stage_end_accuracy(evals), meta["stages"]),
        ]
    f = failure_table(evals[evals["when"] == "stage_end"])
    out += [
        "",
        "## 6. Early failures",
        "",
        "Claim: typical failures are off by one in a single digit (the right digit is the runner-up),",
        "doubling or halving, or adding or subtracting 1 and then doubling or halving.",
        "",
    ]
    if f.empty:
        out += ["No held-out problem was answered wrongly.", ""]
    else:
        shares = f["error_group"].value_counts(normalize=True)
        runner_up = float((f["target_rank"] == 2).mean())
        classes = ", ".join(f"{k} {100 * v:.1f}%" for k, v in shares.items())
        out += [f"{len(f)} wrong held-out answers at stage end. Error classes: {classes}."]
        out += [f"At the first wrong token the correct token was the runner-up in {100 * runner_up:.1f}% of failures.", ""]
    out += claim_sections(["scratchpad", "optim.grad_clip"])
    out += memorisation_section(graduations, windows, logs, meta)
    out += claim_sections(["reverse", "optim.name", "optim.vectors"])
    out += hold_section(windows) + overhead_section(logs)
    out += [
        "## Progress measures",
        "",
        "Exact match is all or nothing. Per stage of each run: when answer-token accuracy in training first reached",
        f"{PROGRESS_LEVEL}, when a graduation window's exact match first did, and the steps between (a negative median would",
        "mean exact match came first). Gradient SNR per coordinate from k micro-batches, over all measurements",
        "(progress_<variant>.pdf shows them against step).",
        "",
        progress_markdown(logs, windows) if len(logs) else "No training logs.",
        "",
    ]
    if len(logs):
        out += ["By stage, medians over every variant, seed and measurement:", "", progress_by_stage_markdown(logs, meta["stages"]), ""]
    return "\n".join(out) + "\n"


def memorisation_section(graduations: pd.DataFrame, windows: pd.DataFrame, logs: pd.DataFrame, meta: dict) -> list[str]:
    """Claim 9: the memorisation phase (steps to generalise minus steps to fit) per variant and stage, carry on against off."""
    out = [
        "## 9. Memorisation",
        "",
        "Claim: with a strong enough signal and a small enough solution space the model goes from the weak to the strong",
        "generalised solution without a memorisation phase (right on training problems, wrong on held-out ones).",
        "",
        "Measure: every graduation window decodes a fresh sample of the stage's training problems and one of its unseen",
        "problems. Steps to fit: the first time the training sample passes the rule; steps to generalise: the first time the",
        "unseen sample does. The memorisation phase is the difference ('+': a lower bound, the stage ended fitted but not",
        "generalised; 0: no phase, both in the same window or generalised before the training sample passed the rule).",
        "Stages without an unseen pool (1-digit facts) are left out.",
        "",
    ]
    if len(logs) and "window_time_s" in logs:
        out += [_share_sentence("The graduation windows (both pools)", time_share(logs, "window_time_s")), ""]
    measures = stage_measures(graduations, windows).dropna(subset=["memorisation_steps"]) if len(graduations) else pd.DataFrame()
    if measures.empty:
        return out + ["No phase to measure: no stage both has an unseen pool and fitted its training problems.", ""]
    out += [memorisation_markdown(measures, meta["stages"]), ""]
    carry = [ab for ab, r in meta["ablation_runs"].items() if r["factor"] == "carry_mask"]
    for ab in carry:
        runs = meta["ablation_runs"][ab]
        rows = []
        for stage in meta["stages"]:
            row = {"stage": stage}
            for side in ("on", "off"):
                d = measures[(measures["variant"] == runs[side]) & (measures["stage"] == stage)]
                row[f"median phase, carry {side}"] = f"{d['memorisation_steps'].median():.0f}" if len(d) else "n/a"
                row[f"runs with a phase, carry {side}"] = f"{int((d['memorisation_steps'] > 0).sum())}/{len(d)}"
            rows.append(row)
        out += [f"Carry mask on ({runs['on']}) against off ({runs['off']}), ablation `{ab}` (exploratory):", "", _md(rows), ""]
    return out


def hold_section(windows: pd.DataFrame) -> list[str]:
    """The article's 'no early stopping needed': does exact match on unseen problems degrade when training goes on
    after the last stage ends (curriculum.hold_steps), per variant (optimiser)?"""
    out = [
        "## No early stopping needed",
        "",
        "Claim (the 'SNR preconditioner' article): with the SNR-gated update, training past convergence does not",
        "degrade held-out performance, so early stopping is not needed. Measured for every variant alike.",
        "",
    ]
    h = hold_measures(windows)
    if h.empty:
        return out + ["Not measured: curriculum.hold_steps is 0 (presets/optimizers.yaml holds 1500 steps).", ""]
    out += [
        "After the last stage graduated (or was censored), training went on for the hold on the same batches (that stage",
        "with replay, its learning-rate schedule going on), with a window of training and unseen problems every",
        "window_every steps. Start: the mean of the last graduation windows before the hold; end: the mean of as many",
        f"windows at its end. A run **degraded** when its exact match on unseen problems fell by {HOLD_DROP} or more (two",
        "standard errors of a difference of two 100-problem means near 0.9). p: exact one-sided paired sign-flip test that",
        "it fell (the smallest p is 1/32 at 5 runs, 1/16 at 4: there it cannot reach 0.05).",
        "",
    ]
    rows = []
    for variant, d in h.groupby("variant", sort=False):
        p = sign_flip_p(d["unseen_change"])
        fell = int(d["degraded"].sum())
        verdict = "degrades" if fell * 2 > len(d) else ("holds" if fell == 0 else "mixed")
        rows.append({
            "variant": variant, "optimiser": d["optimiser"].iat[0], "runs": len(d), "hold steps": f"{int(d['hold_steps'].median())}",
            "unseen start": f"{d['unseen_start'].mean():.3f}", "unseen end": f"{d['unseen_end'].mean():.3f}",
            "median change": f"{d['unseen_change'].median():+.3f}", "lowest window": f"{d['unseen_lowest'].min():.2f}",
            "training sample end": f"{d['train_end'].mean():.3f}", "runs degraded": f"{fell}/{len(d)}",
            "p (fell)": f"{p:.3f}", "verdict": verdict,
        })  # fmt: skip
    out += [_md(rows), "", "Verdict per variant: **degrades** (most runs degraded; p says how surely), **holds** (no run degraded),",
            "else **mixed**. The claim is supported for the gated update if it holds there; it is specific to that",
            "update only if AdamW degrades where the gated update holds.", ""]  # fmt: skip
    return out


def overhead_section(logs: pd.DataFrame) -> list[str]:
    """Cost per step by optimiser, from this run's clocks (indicative: concurrent jobs share the machine)."""
    out = ["## Overhead of the SNR gate", "", "Claim (the article): the gated update costs under 5% per step over AdamW.", ""]
    if logs.empty or "settings" not in logs:
        return out + ["No training logs.", ""]
    last = logs.sort_values("step").groupby(["variant", "seed"]).tail(1)
    name = last["settings"].map(lambda s: json.loads(s)["optim"]["name"])
    if name.nunique() < 2:
        return out + [f"Not measured here: every run used {name.iat[0]} (presets/optimizers.yaml trains both).", ""]
    per_step = (last["wall_time_s"] - last["measure_time_s"] - last["window_time_s"]) / last["step"]
    ms = (1000 * per_step).groupby(name).median()
    out += [
        "Training wall time per step in this run (median over runs, progress measures and graduation windows left out):",
        f"AdamW {ms['adamw']:.2f} ms, SNR-gated {ms['snr_gated']:.2f} ms, ratio",
        f"{ms['snr_gated'] / ms['adamw']:.3f}. Indicative only: the jobs ran concurrently on a shared machine. The verdict",
        "comes from the side-by-side benchmark, `python benchmarks/bench.py --only optimizer` (docs/OPTIMIZERS.md).",
        "",
    ]
    return out


def summary_job(inputs: dict, meta: dict, outputs: dict, scaling: str | None = None, confirmatory: str | None = None,
                length: dict[str, str] | None = None, attempts: str | None = None) -> None:  # fmt: skip
    """Job entry point: results/summary.md and results/metrics/ablation_stats.parquet (with ``confirmatory``, the
    primary family's table first; with ``length`` (its ``scores``, ``runs`` and ``ablations`` tables), the length section; with
    ``scaling``, results/scaling.md, the scaling section, appended)."""
    from ..analysis.length import cell_table
    from ..analysis.length import markdown as length_markdown
    from ..core.io import read_parquet

    stats = concat(inputs["stats"])
    write_parquet(stats, outputs["table"])
    tables = [concat(inputs[k]) for k in ("eval", "graduations")]
    primary = read_parquet(confirmatory) if confirmatory is not None else None
    ledger = None
    if attempts is not None:
        from ..analysis.attempts import read as read_ledger

        ledger = read_ledger(attempts)
    text = summary_markdown(stats, *tables, meta, concat(inputs["train_log"]), concat(inputs["windows"]), primary, ledger)
    if length is not None:
        runs, table, cells = read_parquet(length["runs"]), read_parquet(length["ablations"]), cell_table(read_parquet(length["scores"]))
        text += "\n" + "\n".join(length_markdown(runs, table, meta["length_solved_at"], cells))
    if scaling is not None:
        with open(scaling) as f:
            text += "\n" + f.read()
    with open(outputs["markdown"], "w") as f:
        f.write(text)
    print(text)
