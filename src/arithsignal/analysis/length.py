"""Length generalisation: how far past the trained lengths each run solves, and whether a factor changes that.

Per run and operation, from the final model's scores on the length split (evaluate.length_job):

* ``solved``: the longest length n solved at exact match ``solved_at``, read on the diagonal (n x n cells) so that an
  unseen operand order (1x3 where only 3x1 is trained) does not count against length, and counted upward from the
  longest trained length: when that cell reaches the bar, n is the longest length such that every cell from it up
  to n does; otherwise n is the longest trained length whose cell reaches the bar (0 when none does). The cells
  below the trained length do not break the count: the 1x1 cell holds the held-out one-digit facts, which are never
  trained on and cannot be inferred from the others. ``censored`` when n is the longest length tested (the run may
  solve longer ones);
* ``extension``: solved / the longest operand the curriculum trains (Lee et al. 2023 report 1.0 for learned
  absolute positions, McLeish et al. 2024 about 6 with abacus embeddings);
* ``beyond_exact_match``: exact match over every extrapolation cell, a reading that does not depend on the bar;
* ``beyond_stopped_short``: of the wrong answers there, the share that ends too early (:func:`stopped_short`).

Per ablation, the factor's effect on ``solved`` is read with the rules steps to graduation are read with
(stats.py): the ratio of medians (on / off) with its bootstrap interval, a censored median read as a bound, and
Gehan's exact permutation test; the p-values of every (ablation, operation) comparison of the config are corrected
with Holm's method (the family is every ablation the config declares, fixed before the run), and the outcome is
applied mechanically (:func:`outcome_of`).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.text import md_table
from .stats import format_ratio, gehan_test, holm, median_ratio

RUN_OP_KEYS = ["variant", "seed", "op"]


def cell_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Per run and cell: exact match, per-digit accuracy and the cell's kind."""
    keys = [
        *RUN_OP_KEYS,
        *[c for c in ("side", "shown_as") if c in scores],
        "digits_a",
        "digits_b",
        "kind",
    ]  # sides: a figure's
    return scores.groupby(keys, as_index=False).agg(
        exact_match=("correct", "mean"), digit_accuracy=("digit_accuracy", "mean")
    )


def longest_solved(diagonal: pd.Series, trained: int, tested: int, solved_at: float) -> int:
    """The longest length solved (module docstring): from the longest trained length up, without a gap."""
    passed = [n for n in range(1, trained + 1) if diagonal.get(n, 0.0) >= solved_at]
    solved = max(passed, default=0)
    if solved == trained:
        while solved < tested and diagonal.get(solved + 1, 0.0) >= solved_at:
            solved += 1
    return solved


def extension_runs(scores: pd.DataFrame, solved_at: float) -> pd.DataFrame:
    """One row per run and operation: solved, censored, trained, tested, extension, beyond_exact_match,
    beyond_stopped_short (NaN where the scores hold no predictions) and the run's provenance columns."""
    cells = cell_table(scores)
    short = stopped_short(scores)
    rows = []
    for (variant, seed, op), g in cells.groupby(RUN_OP_KEYS):
        trained = int(g.loc[g["kind"] == "trained", ["digits_a", "digits_b"]].to_numpy().max())
        tested = int(g["digits_a"].max())
        diagonal = g[g["digits_a"] == g["digits_b"]].set_index("digits_a")["exact_match"]
        solved = longest_solved(diagonal, trained, tested, solved_at)
        beyond = g[g["kind"] == "extrapolation"]
        rows.append(
            {"variant": variant, "seed": int(seed), "op": op, "solved": solved, "censored": solved == tested,
             "trained": trained, "tested": tested, "extension": solved / trained,
             "beyond_exact_match": float(beyond["exact_match"].mean()),
             "beyond_stopped_short": short.get((variant, seed, op), math.nan)}
        )  # fmt: skip
    out = pd.DataFrame(rows)
    prov = [c for c in ("config_hash", "settings", "package_version") if c in scores]  # each run's provenance, kept
    if prov and len(out):
        out = out.merge(scores.groupby(RUN_OP_KEYS, as_index=False)[prov].first(), on=RUN_OP_KEYS, how="left")
    return out


def stopped_short(scores: pd.DataFrame) -> pd.Series:
    """Per run and operation, of the wrong answers beyond the trained lengths, the share whose prediction is shorter
    than the right completion: the model wrote the end token too early, the failure of a model that learnt how long
    its trained numbers are rather than where a number ends. Empty where the scores hold no predictions."""
    if not {"prediction", "completion"} <= set(scores.columns):
        return pd.Series(dtype=float)
    wrong = scores[(scores["kind"] == "extrapolation") & ~scores["correct"].astype(bool)]
    short = wrong["prediction"].str.len() < wrong["completion"].str.len()
    return short.groupby([wrong[k] for k in RUN_OP_KEYS]).mean()


# the readings of a comparison, each written with its detail in brackets (the ledger, docs/attempts.csv, takes them)
OUTCOMES = ("not testable", "same on every run", "extends further with the factor", "extends less with the factor",
            "undecided")  # fmt: skip


def outcome_of(row: dict, alpha: float) -> str:
    """The comparison's reading, one of OUTCOMES: not testable, the same on every run, extends further or less, or
    undecided."""
    if row["censored_on"] == row["n_on"] and row["censored_off"] == row["n_off"]:
        return "not testable (every run solves every length tested)"
    if row["same_everywhere"]:
        return f"same on every run (solved {int(row['median_on'])})"
    if row["holm_p"] < alpha:
        return "extends further with the factor" if row["gehan_u"] > 0 else "extends less with the factor"
    return f"undecided (Holm over {row['family_size']})"


def comparisons(
    runs: pd.DataFrame, ablations: list[dict], canonical: dict[str, str], alpha: float = 0.05, n_boot: int = 2000
) -> pd.DataFrame:
    """Per ablation and operation: the factor's effect on the longest length solved (module docstring); ``n_boot``
    bootstrap resamples for each interval."""
    rows = []
    for ab in ablations:
        on_run, off_run = canonical[ab["on_variant"]], canonical[ab["off_variant"]]
        for op, g in runs.groupby("op"):
            on, off = g[g["variant"] == on_run], g[g["variant"] == off_run]
            if on.empty or off.empty:
                continue
            tested = int(g["tested"].max())
            row = {
                "ablation": ab["name"],
                "factor": ab["factor"],
                "op": op,
                "on_variant": ab["on_variant"],
                "off_variant": ab["off_variant"],
            }
            # the off side goes first where stats expects the factor-on side: U > 0 then means on solves longer
            # lengths, and the ratio of medians reads on / off
            r = gehan_test(off["solved"], off["censored"], on["solved"], on["censored"])
            if float(np.median(off["solved"])) > 0:
                ratio = median_ratio(
                    off["solved"], off["censored"], on["solved"], on["censored"], tested, n_boot=n_boot, seed=len(rows)
                )
            else:  # a side that solves nothing: no ratio (its median is 0)
                ratio = {"ratio": math.nan, "ratio_kind": "estimate", "ci_low": math.nan, "ci_high": math.nan}
            row.update(
                {
                    "n_on": len(on), "n_off": len(off),
                    "censored_on": int(on["censored"].sum()), "censored_off": int(off["censored"].sum()),
                    "median_on": float(np.median(on["solved"])), "median_off": float(np.median(off["solved"])),
                    "extension_on": float(np.median(on["extension"])),
                    "extension_off": float(np.median(off["extension"])),
                    "beyond_on": float(on["beyond_exact_match"].mean()),
                    "beyond_off": float(off["beyond_exact_match"].mean()),
                    "ratio": ratio["ratio"], "ratio_kind": ratio["ratio_kind"],
                    "ci_low": ratio["ci_low"], "ci_high": ratio["ci_high"],
                    "gehan_u": r["gehan_u"], "p_value": r["p_value"], "p_method": r["p_method"],
                    "n_splits": r["n_splits"],
                    "same_everywhere": bool(pd.concat([on["solved"], off["solved"]]).nunique() == 1),
                }
            )  # fmt: skip
            rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    p = table["p_value"].where(~table["same_everywhere"], 1.0).fillna(1.0)
    table["holm_p"] = holm(p.to_numpy())
    table["family_size"] = len(table)
    records = table.to_dict("records")
    table["outcome"] = [outcome_of(r, alpha) for r in records]
    table["ratio_text"] = [
        format_ratio(r) if not math.isnan(r["ratio"]) else "n/a (a side solves no length)" for r in records
    ]
    return table


def variant_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per variant and operation: runs, median extension, runs that extend past the trained length, beyond exact
    match and beyond stopped short (means over runs). ``runs`` is :func:`extension_runs`'s table: the summary and
    length_stats rules both rerun when this module changes, so a table without a column is never read here."""
    return runs.groupby(["variant", "op"], as_index=False).agg(
        runs=("seed", "size"),
        median_extension=("extension", "median"),
        extended=("extension", lambda e: int((e > 1).sum())),
        beyond_exact_match=("beyond_exact_match", "mean"),
        beyond_stopped_short=("beyond_stopped_short", "mean"),
    )


def run_table(runs: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """Per run and operation: the longest length solved (``+``: the longest tested, so possibly more), the extension
    and each n x n cell's exact match."""
    diagonal = cells[cells["digits_a"] == cells["digits_b"]]
    wide = diagonal.pivot_table(index=RUN_OP_KEYS, columns="digits_a", values="exact_match")
    wide.columns = [f"{n}x{n}" for n in wide.columns]
    out = runs.sort_values(RUN_OP_KEYS).set_index(RUN_OP_KEYS)
    table = pd.DataFrame(
        {"solved": [f"{s}{'+' if c else ''}" for s, c in zip(out["solved"], out["censored"], strict=True)],
         "extension": [f"{x:.2f}" for x in out["extension"]]}, index=out.index,
    )  # fmt: skip
    return table.join(wide.map(lambda x: f"{x:.2f}")).reset_index()


def diagonal_table(cells: pd.DataFrame) -> pd.DataFrame:
    """Per variant and operation: each n x n cell's exact match, mean over runs and best run, and the interpolation
    cells' lowest and highest mean (from :func:`cell_table`)."""
    rows = []
    for (variant, op), g in cells.groupby(["variant", "op"]):
        row: dict = {"variant": variant, "op": op}
        for n, d in g[g["digits_a"] == g["digits_b"]].groupby("digits_a"):
            row[f"{n}x{n}"] = f"{d['exact_match'].mean():.2f} ({d['exact_match'].max():.2f})"
        inter = g[g["kind"] == "interpolation"].groupby(["digits_a", "digits_b"])["exact_match"].mean()
        row["interpolation"] = f"{inter.min():.1%} to {inter.max():.1%}" if len(inter) else "none"
        rows.append(row)
    return pd.DataFrame(rows)


def markdown(runs: pd.DataFrame, table: pd.DataFrame, solved_at: float, cells: pd.DataFrame | None = None) -> list[str]:
    """The summary's length section (with ``cells``, :func:`cell_table`, also each diagonal cell's exact match)."""
    lines = ["## Length generalisation (the length split)", ""]
    lines.append(
        f"The final model of every run decodes held-out problems of every operand-length cell, longer ones included. "
        f"A run solves length n when every n x n cell from the longest trained length up to n reaches exact match "
        f"{solved_at:g} (a run that misses its own trained length: the longest trained length it solves); its "
        "extension ratio is the longest n solved over the longest operand the curriculum trains (1.0: nothing beyond "
        "the trained length)."
    )
    v = variant_table(runs)
    variants = {
        "variant": v["variant"],
        "op": v["op"],
        "runs": v["runs"],
        "median extension": [f"{x:.2f}" for x in v["median_extension"]],
        "runs above 1.0": [f"{e} of {n}" for e, n in zip(v["extended"], v["runs"], strict=True)],
        "exact match beyond the trained length": [f"{x:.1%}" for x in v["beyond_exact_match"]],
    }
    if v["beyond_stopped_short"].notna().any():  # scores with predictions: how the wrong answers failed
        variants["wrong answers beyond it that stop short"] = [
            "" if math.isnan(x) else f"{x:.0%}" for x in v["beyond_stopped_short"]
        ]
    lines += ["", md_table(variants, compact=True)]
    if cells is not None and not cells.empty:
        lines += [
            "",
            "Exact match per n x n cell, mean over runs (the best run in brackets), and the interpolation cells "
            "(unequal lengths inside the trained ones), lowest to highest mean over runs:",
            "",
            md_table(diagonal_table(cells).fillna(""), compact=True),
            "",
            "Per run: the longest length solved (+: the longest tested), the extension and each n x n cell's exact "
            "match:",
            "",
            md_table(run_table(runs, cells), compact=True),
        ]
    if not table.empty:
        m = int(table["family_size"].iat[0])
        compared = {
            "ablation": table["ablation"],
            "op": table["op"],
            "extension on": [f"{x:.2f}" for x in table["extension_on"]],
            "extension off": [f"{x:.2f}" for x in table["extension_off"]],
            "ratio on/off": table["ratio_text"],
            "p": [f"{x:.3g}" for x in table["p_value"]],
            "Holm p": [f"{x:.3g}" for x in table["holm_p"]],
            "outcome": table["outcome"],
        }
        lines += [
            "",
            f"Per ablation, the longest length solved, on against off (ratio of medians with a 95% bootstrap interval; "
            f"Gehan's exact test, Holm over the {m} comparisons of this config):",
            "",
            md_table(compared, compact=True),
        ]
    return lines + [""]


def section_of(results: Path) -> list[str]:
    """The summary's length section, recomputed from a preset's results folder (``results/<preset>``: its
    config.yaml and metrics/length*.parquet), as ``python -m arithsignal length`` prints it. Raises FileNotFoundError
    naming the first file missing."""
    import yaml

    from ..core.io import read_parquet

    paths = [results / "config.yaml", results / "metrics/length.parquet", results / "metrics/length_ablations.parquet"]
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"{path}: not there (run a config with a length section into {results} first)")
    solved_at = float(yaml.safe_load(paths[0].read_text())["length"]["solved_at"])
    scores = read_parquet(paths[1])
    return markdown(extension_runs(scores, solved_at), read_parquet(paths[2]), solved_at, cell_table(scores))


def length_stats_job(score_paths: list[str], ablations: list[dict], canonical: dict[str, str], solved_at: float,
                     alpha: float, outputs: dict[str, str]) -> None:  # fmt: skip
    """Job entry point: results/metrics/length.parquet (every run's scores, one row per problem), length_runs.parquet
    (extension per run) and length_ablations.parquet (the comparisons)."""
    from ..core.io import concat, provenance, stable_hash, write_parquet

    settings = {"ablations": ablations, "canonical": canonical, "solved_at": solved_at, "alpha": alpha}
    prov = provenance("length", None, settings, stable_hash(settings))
    scores = concat(score_paths)
    write_parquet(scores, outputs["scores"])  # every row keeps its run's provenance columns
    runs = extension_runs(scores, solved_at)
    write_parquet(runs, outputs["runs"], prov, as_columns=False)
    table = comparisons(runs, ablations, canonical, alpha)
    write_parquet(table, outputs["ablations"], prov, as_columns=False)
    print("\n".join(markdown(runs, table, solved_at, cell_table(scores))))
