"""The graduation rule (the write-up's claim 5), as training applies it, and where a run stands under it.

Windows. At every ``graduation.window_every``-th step of a stage (stage steps w, 2w, 3w, ...; window i at stage
step (i + 1) w) training pauses for a window on each pool the stage has (batches.POOLS): the train pool (a sample
of its training problems) and the unseen pool (never trained on; data.splits). A window draws
``problems_per_window`` problems from the pool, with replacement, from its own stream keyed (seed, stage, window,
pool), decodes them greedily under no_grad (model.decode), and passes when every one is right under
``graduation.score``: the whole completion, scratchpad included (``completion``), or the answer alone (``answer``).
Decoding changes no weight and draws from no stream training uses, so the windows change nothing in training.

Streaks. Each pool counts its consecutive passed windows; a failed window sets its count back to 0. A pool passes
the rule at the first window where its count reaches ``graduation.windows``; that window's stage step is the pool's
time: *steps to fit* for the train pool, *steps to generalise* for the unseen pool (their difference is the
memorisation phase, claim 9). The earliest a pool can pass is ``windows`` x ``window_every`` stage steps.

Graduation. The stage graduates at the first window where the rule's pool passes: the pool ``graduation.pool`` names
(default unseen, so graduating means generalising), or the train pool where the stage has no unseen pool (then its
fit and generalise times are the same). Its *steps to graduation* are that window's stage step. A stage that has not
graduated when it reaches ``curriculum.stage_budget`` steps (a window at that very step still counts) is *censored*
there, with the budget as its steps. A pool that has not passed when its stage ends is censored at the stage's last
step. Training then moves on to the next stage, whose streaks start from 0. After the last stage, a hold of
``curriculum.hold_steps`` steps goes on with windows scored, counted and recorded the same way (marked ``hold``), but
they decide nothing: no pool's time, no graduation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from ..model.decode import score_exact
from ..model.gpt import GPT
from .batches import POOLS, StageTensors
from .settings import GraduationSettings, RunSettings

# the stream of each pool's samples: keys [seed, stage, window, *POOL_KEYS[pool]], so the pools' streams are apart
POOL_KEYS = {"train": [], "unseen": [1]}
WINDOW_SCORES = ("exact_match", "answer_exact_match", "digit_accuracy", "passed")  # window_scores' keys
POOL_COLUMNS = ("exact_match", "answer_exact_match", "digit_accuracy")  # in windows once per pool: train_*, unseen_*


@dataclass
class RunState:
    """Where a run stands: its place in the curriculum, each pool's streak under the rule, its clocks and the tables
    so far. With the weights, optimiser and random streams, this is the checkpoint (checkpoint.py)."""

    step: int = 0  # optimiser steps in the run
    stage_index: int = 0  # the current stage, counted from 0
    stage_step: int = 0  # steps in the current stage
    # per pool: its consecutive passed windows, and the stage step where it first passed the rule (None: not yet)
    streaks: dict[str, int] = field(default_factory=lambda: dict.fromkeys(POOLS, 0))
    passed_at: dict[str, int | None] = field(default_factory=lambda: dict.fromkeys(POOLS))
    tokens: int = 0  # input tokens seen
    elapsed: float = 0.0  # training wall time up to the last checkpoint
    measure_time: float = 0.0  # of which in progress measures
    window_time: float = 0.0  # of which in graduation windows (both pools)
    holding: bool = False  # in the hold after the last stage (curriculum.hold_steps)
    hold_from: int = 0  # the last stage's step where the hold began
    train_rows: list[dict] = field(default_factory=list)
    window_rows: list[dict] = field(default_factory=list)
    graduation_rows: list[dict] = field(default_factory=list)

    def record_window(self, pool: str, passed: bool, needed: int) -> bool:
        """Count a window of one pool: a failed one resets its streak. True when the pool passes the rule; the first
        such window of the stage (outside the hold) is when the pool passed (steps to fit or to generalise)."""
        self.streaks[pool] = self.streaks[pool] + 1 if passed else 0
        done = self.streaks[pool] >= needed
        if done and not self.holding and self.passed_at[pool] is None:
            self.passed_at[pool] = self.stage_step
        return done

    def next_stage(self) -> None:
        self.stage_index += 1
        self.stage_step = 0
        self.streaks, self.passed_at = dict.fromkeys(POOLS, 0), dict.fromkeys(POOLS)


def window_scores(
    model: GPT,
    problems: pd.DataFrame,
    g: GraduationSettings,
    sample_key: list[int],
    device: torch.device,
    reverse: bool = False,
) -> dict:
    """Decode a fresh sample of ``problems`` (drawn from ``sample_key``, so reproducible) and
    score it; ``passed`` when every problem is right under the graduation score."""
    rng = np.random.default_rng(sample_key)
    sample = problems.iloc[rng.integers(0, len(problems), g.problems_per_window)]
    res = score_exact(model, sample, device, reverse=reverse)
    return {
        "exact_match": float(res["correct"].mean()),
        "answer_exact_match": float(res["answer_correct"].mean()),
        "digit_accuracy": float(res["digit_accuracy"].mean()),
        "passed": bool(res["correct" if g.score == "completion" else "answer_correct"].all()),
    }


def run_window(model: GPT, stage: StageTensors, st: RunState, s: RunSettings, seed: int, device: torch.device) -> bool:
    """One window on each of the stage's pools, counted under the rule and recorded as a row of ``windows``; True when
    the stage graduates. In the hold the windows are scored and recorded the same way, but the rule no longer counts
    them."""
    g = s.graduation
    index = st.stage_step // g.window_every - 1  # windows run every window_every stage steps
    rule = stage.rule_pool(g.pool)
    where = {"step": st.step, "stage": stage.name, "stage_index": st.stage_index, "stage_step": st.stage_step}
    row = {**where, "hold": st.holding, "window": index, "pool": rule}
    done, scores = {}, {}
    for pool in POOLS:
        scores[pool] = dict.fromkeys(WINDOW_SCORES, math.nan)  # no unseen pool: its columns stay empty (NaN)
        if len(stage.pools[pool]):
            key = [seed, st.stage_index, index, *POOL_KEYS[pool]]
            scores[pool] = window_scores(model, stage.pools[pool], g, key, device, s.factors["reverse"])
            done[pool] = st.record_window(pool, scores[pool]["passed"], g.windows)
        row.update({f"{pool}_{k}": float(scores[pool][k]) for k in POOL_COLUMNS})
        row[f"{pool}_streak"] = st.streaks[pool] if pool in done else math.nan
    row.update({**scores[rule], "streak": st.streaks[rule]})  # the rule's sample, under the plain names
    st.window_rows.append(row)
    return not st.holding and done[rule]


def graduation_row(stage: StageTensors, st: RunState, g: GraduationSettings, graduated: bool, budget: int) -> dict:
    """The stage's row of ``graduations`` as it ends, graduated or censored at its ``budget``: its steps under the
    rule, and when each pool passed (censored at the stage's last step where it has not)."""
    times = {}
    # no unseen pool: fitting is generalising
    for measure, pool in (("fit", "train"), ("generalise", stage.rule_pool("unseen"))):
        at = st.passed_at[pool]
        times |= {f"{measure}_steps": st.stage_step if at is None else at, f"{measure}_censored": at is None}
    return {"stage": stage.name, "stage_index": st.stage_index, "pool": stage.rule_pool(g.pool),
            "unseen_pool": "unseen" in stage.pools_present, "graduated": graduated, "censored": not graduated,
            "steps": st.stage_step,  # steps to graduation under the rule, or the budget where censored
            "budget": budget,  # the stage's own (stages[].budget) or the curriculum's
            **times, "end_step": st.step, "windows_run": st.stage_step // g.window_every}  # fmt: skip


def stage_end_line(row: dict) -> str:
    """The log's line on a stage's end, from its ``graduations`` row."""
    word = "graduated" if row["graduated"] else f"CENSORED (not graduated by step {row['steps']})"
    fit = "not fitted" if row["fit_censored"] else f"fitted at {row['fit_steps']}"
    gen = "not generalised" if row["generalise_censored"] else f"generalised at {row['generalise_steps']}"
    after = f"after {row['steps']} steps (global step {row['end_step']})"
    return f"stage {row['stage']} {word} on its {row['pool']} pool {after}: {fit}, {gen}"
