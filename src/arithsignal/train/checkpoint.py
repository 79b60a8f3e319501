"""Checkpoints and stop signals: a training job killed or stopped at any step resumes where it was and ends with the
same numbers as a run never interrupted.

A checkpoint holds everything a run's next step reads: the weights, the optimiser, both random streams (the batches'
generator and torch's global one), the RunState (its place, streaks, clocks and tables so far), the train_log sums
since the last row, the progress measures waiting for it, and the weights at each stage's end. It names its run (a
hash of the settings and the seed: another run's checkpoint is ignored) and the numerics that computed it. It is
written atomically, so a kill leaves the old one or the new one, never half of either.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..core.io import CorruptFileError, atomic_path
from ..core.numerics import recorded
from .graduation import RunState

if TYPE_CHECKING:
    from .loop import Trainer

CHECKPOINT_FORMAT = 4  # 4: two graduation pools and the weights at each stage's end
# SIGTERM: scancel, preemption and the time limit (SLURM), `kill`; SIGUSR1: the warning a SLURM job
# asks for before its time limit (profiles/slurm); SIGINT: Ctrl-C, which the terminal sends to every
# process of Snakemake's group, its local jobs included.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)


def checkpoint_of(tr: Trainer) -> dict:
    """The checkpoint of the run ``tr`` as it stands (after a whole step)."""
    return {
        "format": CHECKPOINT_FORMAT,
        "run_hash": tr.run_hash,
        "model": tr.model.state_dict(),
        "opt": tr.opt.state_dict(),
        "gen": tr.gen.get_state(),
        "torch_rng": torch.get_rng_state(),
        "state": asdict(tr.state),
        "log_sums": tr.log_sums.state(),
        "pending": dict(tr.progress.pending),
        "stage_models": tr.stage_models,
        "numerics": recorded(),  # which numeric paths computed it (a resume under others is no longer bit-identical)
    }


def resume(tr: Trainer, path: Path) -> None:
    """Continue the run ``tr`` from the checkpoint at ``path`` if it is this run's; otherwise say why not."""
    ck = run_checkpoint(path, tr.run_hash, tr.log)
    if ck is None:
        return
    tr.model.load_state_dict(ck["model"])
    tr.opt.load_state_dict(ck["opt"])
    tr.gen.set_state(ck["gen"])
    torch.set_rng_state(ck["torch_rng"])
    tr.state = RunState(**ck["state"])
    tr.log_sums.load(ck["log_sums"])
    tr.progress.pending = dict(ck["pending"])
    tr.stage_models = list(ck["stage_models"])
    if ck.get("numerics", recorded()) != recorded():
        tr.log(f"warning: resuming under other numerics than the checkpoint's (no longer bit-identical to an "
               f"uninterrupted run): checkpoint {ck['numerics']}, now {recorded()}")  # fmt: skip
    st = tr.state
    tr.log(f"resuming from checkpoint {path} at step {st.step} (stage {st.stage_index}, stage step {st.stage_step})")


def run_checkpoint(path: Path, run_hash: str, log: Callable[[str], None]) -> dict | None:
    """The checkpoint at ``path`` in today's layout, or None (said in the log) if it is another run's."""
    ck = load_checkpoint(path)
    if ck.get("run_hash") != run_hash:
        log(f"ignoring checkpoint {path}: it belongs to other settings; starting afresh")
        return None
    if ck.get("format") != CHECKPOINT_FORMAT:
        raise CorruptFileError(
            f"{path}: checkpoint format {ck.get('format')} is not one this version reads; delete it to restart"
        )
    return ck


def save_checkpoint(path: Path, checkpoint: dict) -> None:
    tmp = atomic_path(path)
    torch.save(checkpoint, tmp)
    os.replace(tmp, path)  # atomic: a kill leaves either the old or the new checkpoint


def load_checkpoint(path: Path) -> dict:
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except Exception as e:  # truncated zip, unpickling error, ...
        raise CorruptFileError(
            f"{path}: checkpoint is corrupt or truncated ({e}); delete it to restart this run"
        ) from e


class Stopped(Exception):
    """Training stopped on a signal after finishing its step and writing its checkpoint."""

    def __init__(self, signum: int, step: int, checkpoint: Path):
        self.signum, self.step, self.checkpoint = signum, step, checkpoint
        super().__init__(
            f"stopped by {signal.Signals(signum).name} after step {step}; checkpoint written to {checkpoint}, "
            "so the retry (or the same command again) resumes from this step"
        )


@contextlib.contextmanager
def stop_requests() -> Iterator[list[int]]:
    """While training, a stop signal only records that it came (the loop reads it after each step);
    the handlers that were there before are restored afterwards."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield received
        return

    def request(signum, frame) -> None:
        received.append(signum)

    before = {s: signal.signal(s, request) for s in STOP_SIGNALS}
    try:
        yield received
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
