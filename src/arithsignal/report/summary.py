"""results/summary.md: each claim of the write-up next to what this run measured, including claims that did not hold.

The summary is :data:`SECTIONS`, each a function of one :class:`SummaryInputs` (every table it reads, loaded once)
returning its lines. The words are claims.py's and the tables of measures tables.py's; every table, number and
interval is written by core/text.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..analysis.outcomes import HOLD_DROP, failure_table, hold_measures, stage_end_accuracy, stage_measures
from ..analysis.stats import ALPHA
from ..core.io import concat, read_parquet, write_parquet
from ..core.text import md_table
from . import claims
from .claims import CLAIMS, GRADUATION_MEANS, NOT_MEASURED
from .decisions import primary_markdown
from .tables import (
    PROGRESS_LEVEL,
    carry_phase_markdown,
    clipping_markdown,
    commutation_markdown,
    hidden_measures_markdown,
    hold_markdown,
    memorisation_markdown,
    progress_by_stage_markdown,
    progress_markdown,
    ratio_markdown,
    share_sentence,
    stage_end_markdown,
    steps_markdown,
    time_share,
    verdicts_markdown,
)


@dataclass(frozen=True)
class SummaryInputs:
    """Every table summary.md reads, loaded once (:meth:`load`): the summary rule's params (``meta``), every
    ablation's per-stage readings (``stats``), the runs' tables with their stage_measures (``measures``), and where
    the config has them the primary family, the ledger of attempts, the length split (its runs, comparisons and
    cells) and results/scaling.md."""

    meta: dict
    stats: pd.DataFrame
    evals: pd.DataFrame
    graduations: pd.DataFrame
    logs: pd.DataFrame
    windows: pd.DataFrame
    measures: pd.DataFrame
    confirmatory: pd.DataFrame | None = None
    ledger: pd.DataFrame | None = None
    length: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame] | None = None
    scaling: str | None = None
    maps: tuple[pd.DataFrame, ...] = ()

    @classmethod
    def load(cls, inputs: dict, meta: dict, scaling: str | None = None, confirmatory: str | None = None,
             length: dict[str, str] | None = None, attempts: str | None = None,
             maps: list[str] = ()) -> SummaryInputs:  # fmt: skip
        """From the summary job's files: ``inputs`` (stats, eval, graduations, train_log, windows: lists of paths),
        ``length`` (its scores, runs and ablations tables) and the other files by path."""
        from ..analysis.attempts import read as read_ledger
        from ..analysis.length import cell_table

        graduations, windows = concat(inputs["graduations"]), concat(inputs["windows"])
        length_tables = None
        if length is not None:
            cells = cell_table(read_parquet(length["scores"]))
            length_tables = (read_parquet(length["runs"]), read_parquet(length["ablations"]), cells)
        return cls(
            meta=meta,
            stats=concat(inputs["stats"]),
            evals=concat(inputs["eval"]),
            graduations=graduations,
            logs=concat(inputs["train_log"]),
            windows=windows,
            measures=stage_measures(graduations, windows) if len(graduations) else pd.DataFrame(),
            confirmatory=None if confirmatory is None else read_parquet(confirmatory),
            ledger=None if attempts is None else read_ledger(attempts),
            length=length_tables,
            scaling=None if scaling is None else Path(scaling).read_text(),
            maps=tuple(read_parquet(p) for p in maps),
        )


Section = Callable[[SummaryInputs], list[str]]


def header_section(s: SummaryInputs) -> list[str]:
    """The run's design and what graduating means under its rule."""
    m, g = s.meta, s.meta["graduation"]
    return ["# What this run measured", "",
            f"Stages: {', '.join(m['stages'])}. Seeds: {m['seeds']}. Stage budget: {m['stage_budget']} steps"
            + "".join(f"; {k}: {v}" for k, v in m.get("own_budgets", {}).items()) + ".",
            f"Graduation rule: {g['problems_per_window']} problems x {g['windows']} consecutive perfect windows, "
            f"{g['window_every']} steps apart (published: 25 x 6 x 600), on the {g['pool']} pool.",
            "", GRADUATION_MEANS[g["pool"]], ""]  # fmt: skip


def primary_section(s: SummaryInputs) -> list[str]:
    """First, where the config declares a family: its decisions at the config's alpha, and every attempt at each."""
    if s.confirmatory is None:
        return []
    from ..analysis.attempts import markdown as attempts_markdown

    out = primary_markdown(s.confirmatory, s.meta["alpha"])
    members = s.confirmatory[s.confirmatory["member"]]
    return out if s.ledger is None else out + attempts_markdown(s.ledger, members, s.meta["alpha"])


def exploratory_section(s: SummaryInputs) -> list[str]:
    """What the rest is, and how a per-stage test reads: at the level its verdicts are decided at (stats.ALPHA)."""
    return claims.lines(
        claims.EXPLORATORY, alpha=ALPHA, no_family="" if s.confirmatory is not None else claims.NO_FAMILY
    )


def per_stage_section(s: SummaryInputs) -> list[str]:
    """Every (ablation, stage) reading, counted, where any ablation was measured."""
    return ["## Per-stage readings (exploratory)", "", verdicts_markdown(s.stats), ""] if len(s.stats) else []


def _claim_lines(s: SummaryInputs, factor: str) -> list[str]:
    """A claim an ablation measures: per ablation of its factor, the published rule's table and the hidden measures'
    (clipping's with its mechanism), and for both orders the held-out exact match after training."""
    title, claim = CLAIMS[factor]
    out = [f"## {title}", "", f"Claim: {claim}", ""]
    d = s.stats[s.stats["factor"] == factor] if len(s.stats) else s.stats
    if d.empty:
        where = NOT_MEASURED[factor]
        return out + [f"Not measured: no ablation of this factor in the config ({where} has it).", ""]
    for ab, sa in d.groupby("ablation", sort=False):
        out += [
            f"Ablation `{ab}`, published rule:",
            "",
            ratio_markdown(sa),
            "",
            "The measures the all-or-nothing rule hides, from the same windows:",
            "",
            hidden_measures_markdown(sa),
            "",
        ]
        if factor == "optim.grad_clip" and len(s.logs):
            out += ["The mechanism, medians over seeds and logged steps of each stage (on: clipping, off: none):", "",
                    clipping_markdown(s.logs, s.meta["ablation_runs"][ab], s.meta["stages"]), ""]  # fmt: skip
    if factor == "commute":
        runs = sorted({r for ab in d["ablation"].unique() for r in s.meta["ablation_runs"][ab].values()})
        out += ["Held-out exact match after training (mean over seeds):", "", commutation_markdown(s.evals, runs), ""]
    return out


def claim_sections(*factors: str) -> Section:
    """The sections of the claims about these factors, in this order."""
    return lambda s: [line for factor in factors for line in _claim_lines(s, factor)]


def graduation_section(s: SummaryInputs) -> list[str]:
    """Claim 5: the rule this run used, and every run's steps to graduation, to fit and to generalise."""
    counts = s.graduations.groupby("variant")[["graduated", "censored"]].sum().reset_index().astype(str)
    out = [*claims.lines(claims.GRADUATION, **s.meta["graduation"]), md_table(counts), "",
           "Steps to graduation of every run (+ = censored at the budget):", "",
           steps_markdown(s.graduations, s.meta["stages"]), ""]  # fmt: skip
    if len(s.graduations):
        accuracy = stage_end_accuracy(s.evals)
        out += [*claims.lines(claims.STAGE_END), stage_end_markdown(s.measures, accuracy, s.meta["stages"]), ""]
    return out


def failures_section(s: SummaryInputs) -> list[str]:
    """Claim 6: the classes of the wrong held-out answers at stage end, and how often the right token was runner-up."""
    f = failure_table(s.evals[s.evals["when"] == "stage_end"])
    if f.empty:
        return claims.lines(claims.FAILURES) + ["No held-out problem was answered wrongly.", ""]
    classes = ", ".join(f"{k} {100 * v:.1f}%" for k, v in f["error_group"].value_counts(normalize=True).items())
    runner_up = (f["target_rank"] == 2).mean()
    return claims.lines(claims.FAILURES) + [
        f"{len(f)} wrong held-out answers at stage end. Error classes: {classes}.",
        f"At the first wrong token the correct token was the runner-up in {runner_up:.1%} of failures.",
        "",
    ]


def memorisation_section(s: SummaryInputs) -> list[str]:
    """Claim 9: the memorisation phase (steps to generalise minus steps to fit) per variant and stage, and per carry
    ablation its two sides."""
    out = claims.lines(claims.MEMORISATION)
    if len(s.logs) and "window_time_s" in s.logs:
        out += [share_sentence("The graduation windows (both pools)", time_share(s.logs, "window_time_s")), ""]
    measures = s.measures.dropna(subset=["memorisation_steps"]) if len(s.measures) else s.measures
    if measures.empty:
        return out + ["No phase to measure: no stage both has an unseen pool and fitted its training problems.", ""]
    out += [memorisation_markdown(measures, s.meta["stages"]), ""]
    for ab, runs in s.meta["ablation_runs"].items():
        if runs["factor"] == "carry_mask":
            out += [f"Carry mask on ({runs['on']}) against off ({runs['off']}), ablation `{ab}` (exploratory):", "",
                    carry_phase_markdown(measures, runs, s.meta["stages"]), ""]  # fmt: skip
    return out


def hold_section(s: SummaryInputs) -> list[str]:
    """The article's 'no early stopping needed': does exact match on unseen problems degrade when training goes on
    after the last stage ends (curriculum.hold_steps), per variant (optimiser)?"""
    h = hold_measures(s.windows)
    if h.empty:
        return claims.lines(claims.HOLD) + [
            "Not measured: curriculum.hold_steps is 0 (presets/optimizers.yaml holds 1500 steps).",
            "",
        ]
    # the sign-flip p is an exploratory reading: the level it is set against is the per-stage tests' (stats.ALPHA)
    measure = claims.lines(claims.HOLD_MEASURE, drop=HOLD_DROP, alpha=ALPHA)
    return claims.lines(claims.HOLD) + measure + [hold_markdown(h), ""] + claims.lines(claims.HOLD_VERDICTS)


def overhead_section(s: SummaryInputs) -> list[str]:
    """Cost per step by optimiser, from this run's clocks (indicative: concurrent jobs share the machine)."""
    out = claims.lines(claims.OVERHEAD)
    if s.logs.empty or "settings" not in s.logs:
        return out + ["No training logs.", ""]
    last = s.logs.sort_values("step").groupby(["variant", "seed"]).tail(1)
    name = last["settings"].map(lambda x: json.loads(x)["optim"]["name"])
    if name.nunique() < 2:
        return out + [f"Not measured here: every run used {name.iat[0]} (presets/optimizers.yaml trains both).", ""]
    per_step = (last["wall_time_s"] - last["measure_time_s"] - last["window_time_s"]) / last["step"]
    ms = (1000 * per_step).groupby(name).median()
    return out + claims.lines(
        claims.OVERHEAD_MEASURED, adamw=ms["adamw"], gated=ms["snr_gated"], ratio=ms["snr_gated"] / ms["adamw"]
    )


def progress_section(s: SummaryInputs) -> list[str]:
    """Answer-token accuracy against exact match, and gradient SNR per class, per variant and per stage."""
    if not len(s.logs):
        return claims.lines(claims.PROGRESS, level=PROGRESS_LEVEL) + ["No training logs.", ""]
    return claims.lines(claims.PROGRESS, level=PROGRESS_LEVEL) + [
        progress_markdown(s.logs, s.windows), "", "By stage, medians over every variant, seed and measurement:", "",
        progress_by_stage_markdown(s.logs, s.meta["stages"]), ""]  # fmt: skip


def length_section(s: SummaryInputs) -> list[str]:
    """The length split (analysis.length), after a blank line, where the config has one."""
    if s.length is None:
        return []
    from ..analysis.length import markdown as length_markdown

    runs, table, cells = s.length
    # without its closing blank line: summary.md ends on the length tables where no scaling section follows
    return ["", *length_markdown(runs, table, s.meta["length_solved_at"], cells)[:-1]]


def scaling_section(s: SummaryInputs) -> list[str]:
    """results/scaling.md (analysis.scaling), after a blank line, where the config has a scaling sweep."""
    return [] if s.scaling is None else ["", s.scaling.removesuffix("\n")]


def map_section(s: SummaryInputs) -> list[str]:
    """Each map of an ablation's effect over size and stage (analysis.maps), after a blank line."""
    from ..analysis.maps import map_markdown

    out = []
    for table in s.maps:
        name = table["ablation"].iat[0] if len(table) else ""
        out += ["", *map_markdown(table, f"map_{name}.pdf")[:-1]]
    return out


# summary.md, top to bottom: the decisions first, then the exploratory readings, claim by claim
SECTIONS: tuple[Section, ...] = (
    header_section,
    primary_section,
    exploratory_section,
    per_stage_section,
    claim_sections("carry_mask", "commas", "mixed_lengths", "commute"),
    graduation_section,
    failures_section,
    claim_sections("scratchpad", "optim.grad_clip"),
    memorisation_section,
    claim_sections("reverse", "optim.name", "optim.vectors"),
    hold_section,
    overhead_section,
    progress_section,
    length_section,
    scaling_section,
    map_section,
)


def summary_markdown(inputs: SummaryInputs) -> str:
    """results/summary.md: the lines of every section of :data:`SECTIONS`, in order."""
    return "\n".join(line for section in SECTIONS for line in section(inputs)) + "\n"


def summary_job(inputs: dict, meta: dict, outputs: dict, scaling: str | None = None, confirmatory: str | None = None,
                length: dict[str, str] | None = None, attempts: str | None = None,
                maps: list[str] = ()) -> None:  # fmt: skip
    """Job entry point: summary.md, the same as summary.html (the report's "Decisions") and
    metrics/ablation_stats.parquet (every ablation's table); the arguments as :meth:`SummaryInputs.load` takes them."""
    s = SummaryInputs.load(inputs, meta, scaling, confirmatory, length, attempts, maps)
    write_parquet(s.stats, outputs["table"])
    text = summary_markdown(s)
    Path(outputs["markdown"]).write_text(text)
    Path(outputs["html"]).write_text(summary_html(text))
    print(text)


def summary_html(text: str) -> str:
    """The summary's markdown as a page of its own (Python-Markdown, with its tables extension)."""
    import markdown

    body = markdown.markdown(text, extensions=["tables"])
    style = ("body{font-family:sans-serif;max-width:70em;margin:2em auto;line-height:1.4}"
             "table{border-collapse:collapse;font-size:90%}td,th{border:1px solid #ccc;padding:2px 6px}")  # fmt: skip
    return (
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>Summary</title><style>{style}</style></head>"
        f"<body>\n{body}\n</body></html>\n"
    )
