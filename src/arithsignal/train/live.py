"""A run's tables as it trains, so that it can be watched: ``live.jsonl`` beside its checkpoint, and TensorBoard
scalars where TensorBoard is installed (the optional extra ``[watch]``).

Both are written from the RunState's tables (train_log, windows and graduations rows): after each step the rows
added since the last sync go out, one JSON object a line, ``{"table": ..., **row}``, after a first line that says
what the run is (``"table": "run"``: variant, seed, stages, budget). On a start or a resume both are rewritten from
the tables as the run stands, which on a resume are the checkpoint's. So what a killed process wrote after its last
checkpoint is cut away, and a resumed run's file and scalars end with the rows of an uninterrupted run, none twice
and none missing. ``python -m arithsignal watch`` reads these files (report/watch.py).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

from ..core.io import atomic_path
from .graduation import RunState

LIVE_FILE = "live.jsonl"
TABLES = {"train_log": "train_rows", "windows": "window_rows", "graduations": "graduation_rows"}  # RunState's
# the TensorBoard tags: train_log and windows columns, under a section each; graduations as a 1 (graduated) or a
# 0 (censored) at the step where the stage ended, one tag per stage
TRAIN_TAGS = ("loss", "token_accuracy", "answer_token_accuracy", "lr", "stage_index")
WINDOW_TAGS = ("train_exact_match", "unseen_exact_match")


def steps_left(budgets: list[int], stage_index: int, stage_step: int, hold_steps: int,
               hold_from: int | None = None) -> int:  # fmt: skip
    """The most steps a run can still take: from its place, every stage to its budget, then the hold; in the hold
    (``hold_from``: the last stage's step where it began), what is left of the hold. The trainer's log line and
    ``watch`` both read it (a run that stops after a censored stage takes fewer)."""
    if hold_from is not None:
        return hold_steps - (stage_step - hold_from)
    return sum(budgets[stage_index:]) - stage_step + hold_steps


def tensorboard_available() -> bool:
    return importlib.util.find_spec("tensorboard") is not None


class Live:
    """The live record of one run: its JSON-lines file, and its TensorBoard folder (None: no TensorBoard)."""

    def __init__(self, path: Path, header: dict, tensorboard: Path | None = None):
        self.path, self.header = Path(path), header
        self.tensorboard = tensorboard if tensorboard is not None and tensorboard_available() else None
        self.written = dict.fromkeys(TABLES, 0)  # rows of each table out so far
        self.writer = None

    def restart(self, st: RunState) -> None:
        """Rewrite both records from the run's tables as they stand (a fresh start, or the checkpoint's)."""
        tmp = atomic_path(self.path)
        with open(tmp, "w") as f:
            f.write(json.dumps({"table": "run", **self.header}) + "\n")
        os.replace(tmp, self.path)  # a kill now leaves the old file or the header, never half of either
        if self.tensorboard is not None:
            self.close()
            shutil.rmtree(self.tensorboard, ignore_errors=True)
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.tensorboard))
        self.written = dict.fromkeys(TABLES, 0)
        self.sync(st)

    def sync(self, st: RunState) -> None:
        """Write the rows added to the run's tables since the last sync."""
        new = {t: getattr(st, attr)[self.written[t] :] for t, attr in TABLES.items()}
        if not any(new.values()):
            return
        # in the order training made them, as a sync after every step writes them
        order = sorted((row.get("step", row.get("end_step")), i, j) for i, rows in enumerate(new.values())
                       for j, row in enumerate(rows))  # fmt: skip
        tables = list(new)
        with open(self.path, "a") as f:
            f.writelines(json.dumps({"table": tables[i], **new[tables[i]][j]}) + "\n" for _, i, j in order)
        for table, rows in new.items():
            self.written[table] += len(rows)
        if self.writer is not None:
            self.scalars(new)
            self.writer.flush()

    def scalars(self, new: dict[str, list[dict]]) -> None:
        w = self.writer
        for row in new["train_log"]:
            for tag in TRAIN_TAGS:
                w.add_scalar(f"train/{tag}", float(row[tag]), row["step"])
        for row in new["windows"]:
            for tag in WINDOW_TAGS:
                if row[tag] == row[tag]:  # a stage without that pool leaves it NaN
                    w.add_scalar(f"windows/{tag}", float(row[tag]), row["step"])
        for row in new["graduations"]:
            w.add_scalar(f"graduated/{row['stage']}", float(row["graduated"]), row["end_step"])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
