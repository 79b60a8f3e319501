"""``python -m arithsignal watch RESULTS``: where every run of a results folder stands, read from the live files that
training writes as it goes (train/live.py), and optionally a PNG of the curves so far.

One line per run: running (its live file changed in the last few minutes), stopped (it did not, and the run has not
finished: killed, or waiting for a retry) or done (its model is written); its stage, the stage step against the
budget, the stages graduated so far and the current streak of passed windows, steps/s over its last two log rows,
and at most how long it has left (every remaining stage to its budget, at that speed).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..core.text import duration
from ..train.live import LIVE_FILE, steps_left

RUNNING_WITHIN_S = 300  # a live file written this recently belongs to a run that is training


@dataclass
class RunRecord:
    """One run's live file, read: its header and its tables so far."""

    path: Path
    header: dict
    tables: dict[str, pd.DataFrame]

    @classmethod
    def read(cls, path: Path) -> RunRecord:
        rows: dict[str, list[dict]] = {"run": [], "train_log": [], "windows": [], "graduations": []}
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # a line cut by a kill; the run rewrites it on resume
                continue
            rows.setdefault(row.pop("table"), []).append(row)
        header = rows.pop("run")[0] if rows["run"] else {}
        return cls(path, header, {t: pd.DataFrame(r) for t, r in rows.items()})

    @property
    def done(self) -> bool:
        return (self.path.parent / "model.pt").exists()

    def status(self, now: float) -> str:
        if self.done:
            return "done"
        return "running" if now - self.path.stat().st_mtime < RUNNING_WITHIN_S else "stopped"

    def speed(self) -> float | None:
        """Steps per second over the last two train_log rows (None before two rows)."""
        log = self.tables["train_log"]
        if len(log) < 2:
            return None
        a, b = log.iloc[-2], log.iloc[-1]
        return (b["step"] - a["step"]) / max(1e-9, b["wall_time_s"] - a["wall_time_s"])

    def line(self, now: float) -> str:
        h, log, wins, grads = self.header, *(self.tables[t] for t in ("train_log", "windows", "graduations"))
        name = f"{h.get('variant', self.path.parent.parent.name)} seed {h.get('seed', '?')}"
        stages = h.get("stages", [])
        budgets = h.get("budgets") or [h.get("stage_budget", 0)] * len(stages)  # files before per-stage budgets
        status = self.status(now)
        if log.empty:
            return f"{name:28s} {status:8s} no step logged yet"
        last = log.iloc[-1]
        graduated = int(grads["graduated"].sum()) if not grads.empty else 0
        where = f"stage {last['stage']} ({int(last['stage_index']) + 1}/{len(stages)})"
        i = int(last["stage_index"])
        step = "in the hold" if last["hold"] else f"step {int(last['stage_step'])}/{budgets[i]}"
        passed = f"{graduated} of {len(grads)} ended stages graduated"
        streak = int(wins.iloc[-1]["streak"]) if not wins.empty and wins.iloc[-1]["stage"] == last["stage"] else 0
        windows = f"windows {streak}/{h.get('windows', '?')}"
        speed = self.speed()
        pace = "" if speed is None else f" | {speed:.1f} steps/s"
        if status != "done" and speed:
            hold_from = int(grads.iloc[-1]["steps"]) if last["hold"] and not grads.empty else None
            left = steps_left(budgets, i, int(last["stage_step"]), h.get("hold_steps", 0), hold_from)
            pace += f", at most {duration(left / speed)} left"
        return f"{name:28s} {status:8s} {where} {step} | {passed}, {windows}{pace}"


def records(results: Path) -> list[RunRecord]:
    """Every run's live record under RESULTS/runs, in path order."""
    return [RunRecord.read(p) for p in sorted(Path(results).glob(f"runs/*/seed*/{LIVE_FILE}"))]


def report(results: Path, now: float | None = None) -> str:
    runs = records(results)
    if not runs:
        return f"no run has started under {results}/runs (no {LIVE_FILE} files)"
    now = time.time() if now is None else now
    counts = pd.Series([r.status(now) for r in runs]).value_counts()
    head = f"{len(runs)} runs: " + ", ".join(f"{counts.get(s, 0)} {s}" for s in ("running", "stopped", "done"))
    return "\n".join([head, *(r.line(now) for r in runs)])


def draw(results: Path, out: Path) -> None:
    """The curves so far: training loss and the unseen pool's window exact match against step, a line per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (loss_ax, match_ax) = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True)
    for r in records(results):
        label = f"{r.header.get('variant', '?')} s{r.header.get('seed', '?')}"
        log, wins = r.tables["train_log"], r.tables["windows"]
        if not log.empty:
            (line,) = loss_ax.plot(log["step"], log["loss"], lw=0.8, label=label)
            if not wins.empty and "unseen_exact_match" in wins:
                match_ax.plot(wins["step"], wins["unseen_exact_match"], lw=0.8, color=line.get_color(), label=label)
    loss_ax.set(yscale="log", xlabel="step", ylabel="training loss (nats per token)", title="loss")
    match_ax.set(xlabel="step", ylabel="exact match", ylim=(-0.02, 1.02), title="graduation windows, unseen pool")
    match_ax.legend(fontsize=6, ncol=2, loc="lower right")
    fig.savefig(out, dpi=110)
    plt.close(fig)
