"""A run stopped and resumed in process: the stop signal, the checkpoint it writes, and which checkpoints resume."""

import copy
import json
import os
import signal
import threading

import pandas as pd
import pytest
import torch
from test_training import SETTINGS, stages

from arithsignal.core.io import CLOCK_COLUMNS, CorruptFileError
from arithsignal.data.splits import Stage
from arithsignal.train.checkpoint import CHECKPOINT_FORMAT, Stopped, checkpoint_of, resume, save_checkpoint
from arithsignal.train.graduation import RunState
from arithsignal.train.live import Live, tensorboard_available
from arithsignal.train.loop import Trainer

MAIN_THREAD = threading.current_thread() is threading.main_thread()


@pytest.mark.skipif(not MAIN_THREAD, reason="only the main thread may set signal handlers")
def test_a_run_stopped_by_a_signal_mid_stage_resumes_to_the_same_run(tmp_path):
    """A stop signal: the step finishes, the checkpoint is written and Stopped raised; a fresh trainer resumes from it
    and ends with the tables and weights of a run never stopped."""
    s = copy.deepcopy(SETTINGS)
    s["curriculum"]["stage_budget"] = 150
    st = stages(Stage("add_1x1", "add", (1, 1)), Stage("add_2x2", "add", (2, 2)))
    full = Trainer(s, seed=1, stages=st, device=torch.device("cpu"), log=lambda m: None)
    full.run(checkpoint=None)

    def signal_at_step_100(msg: str) -> None:  # the train_log line of step 100 (log_every 25)
        if msg.startswith("step    100 |"):
            os.kill(os.getpid(), signal.SIGUSR1)

    path = tmp_path / "checkpoint.pt"
    first = Trainer(s, seed=1, stages=st, device=torch.device("cpu"), log=signal_at_step_100)
    handler = signal.getsignal(signal.SIGUSR1)
    with pytest.raises(Stopped) as stopped:
        # no periodic checkpoint: the one there is, the signal wrote
        first.run(checkpoint=path, checkpoint_every=10_000)
    assert (stopped.value.signum, stopped.value.step) == (signal.SIGUSR1, 100)
    assert signal.getsignal(signal.SIGUSR1) == handler  # the handler that was there before is back
    resumed = Trainer(s, seed=1, stages=st, device=torch.device("cpu"), log=lambda m: None)
    resumed.run(checkpoint=path, checkpoint_every=10_000)
    for name, df in full.frames().items():
        drop = {"columns": CLOCK_COLUMNS, "errors": "ignore"}
        pd.testing.assert_frame_equal(df.drop(**drop), resumed.frames()[name].drop(**drop))
    assert all(torch.equal(a, b) for a, b in zip(full.model.parameters(), resumed.model.parameters(), strict=True))


@pytest.mark.skipif(not MAIN_THREAD, reason="only the main thread may set signal handlers")
def test_a_run_that_stops_after_a_censored_stage_resumes_to_the_same_record(tmp_path):
    """after_censored: stop, with a stop signal in the censored stage: the resumed run ends where the uninterrupted
    one did, with the same tables (the later stages not reached in both) and weights."""
    s = copy.deepcopy(SETTINGS)
    s["curriculum"].update(stage_budget=60, after_censored="stop")
    s["graduation"].update(windows=2, window_every=30)
    st = stages(Stage("mul_2x2", "mul", (2, 2)), Stage("add_1x1", "add", (1, 1)))
    full = Trainer(s, seed=2, stages=st, device=torch.device("cpu"), log=lambda m: None)
    full.run(checkpoint=None, log_every=10)

    def signal_at_step_40(msg: str) -> None:
        if msg.startswith("step     40 |"):
            os.kill(os.getpid(), signal.SIGUSR1)

    path = tmp_path / "checkpoint.pt"
    with pytest.raises(Stopped):
        Trainer(s, seed=2, stages=st, device=torch.device("cpu"), log=signal_at_step_40).run(
            checkpoint=path, checkpoint_every=10_000, log_every=10
        )
    resumed = Trainer(s, seed=2, stages=st, device=torch.device("cpu"), log=lambda m: None)
    resumed.run(checkpoint=path, checkpoint_every=10_000, log_every=10)
    assert list(resumed.frames()["graduations"]["stage"]) == ["mul_2x2"] and resumed.state.step == 60
    for name, df in full.frames().items():
        drop = {"columns": CLOCK_COLUMNS, "errors": "ignore"}
        pd.testing.assert_frame_equal(df.drop(**drop), resumed.frames()[name].drop(**drop))
    assert all(torch.equal(a, b) for a, b in zip(full.model.parameters(), resumed.model.parameters(), strict=True))


def test_a_checkpoint_of_other_settings_is_ignored_and_one_of_another_format_refused(tmp_path):
    path, said, cpu = tmp_path / "checkpoint.pt", [], torch.device("cpu")
    tr = Trainer(SETTINGS, seed=0, stages=stages(Stage("add_1x1", "add", (1, 1))), device=cpu, log=said.append)
    tr.train_step()
    save_checkpoint(path, {**checkpoint_of(tr), "run_hash": "another run"})
    fresh = Trainer(SETTINGS, seed=0, stages=tr.stages, device=cpu, log=said.append)
    resume(fresh, path)
    assert (
        fresh.state == RunState()
        and said[-1] == f"ignoring checkpoint {path}: it belongs to other settings; starting afresh"
    )
    save_checkpoint(path, {**checkpoint_of(tr), "format": CHECKPOINT_FORMAT - 1})
    with pytest.raises(CorruptFileError, match=f"format {CHECKPOINT_FORMAT - 1} is not one this version reads"):
        resume(fresh, path)
    save_checkpoint(path, checkpoint_of(tr))
    resume(fresh, path)
    assert fresh.state == tr.state and said[-1].startswith(f"resuming from checkpoint {path} at step 1 ")


class Killed(Exception):
    """Stands for SIGKILL: the process ends where it is, with no checkpoint written."""


def live_rows(path):
    """The live file's rows, clocks aside, in file order."""
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in CLOCK_COLUMNS} for r in rows]


def as_text(rows):  # NaN is not equal to itself: compare what was written
    return [json.dumps(r) for r in rows]


def scalars(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


@pytest.mark.skipif(not tensorboard_available(), reason="TensorBoard is an optional extra (pip install -e '.[watch]')")
def test_a_killed_run_resumed_ends_with_the_live_record_of_an_uninterrupted_one(tmp_path):
    """Killed at step 150 with its last checkpoint at step 90: the rows it wrote after 90 are cut on resume, and the
    live file and the TensorBoard scalars end as an uninterrupted run's, no step twice or missing."""
    s = copy.deepcopy(SETTINGS)
    s["curriculum"]["stage_budget"] = 150
    st, cpu = stages(Stage("add_1x1", "add", (1, 1)), Stage("add_2x2", "add", (2, 2))), torch.device("cpu")
    header = {"variant": "v", "seed": 1}
    full = Trainer(s, seed=1, stages=st, device=cpu, log=lambda m: None)
    full.run(live=Live(tmp_path / "full.jsonl", header, tmp_path / "tb_full"))

    def kill_at_step_150(msg: str) -> None:  # the log line comes before the step's rows are written
        if msg.startswith("step    150 |"):
            raise Killed

    path, live = tmp_path / "checkpoint.pt", Live(tmp_path / "killed.jsonl", header, tmp_path / "tb_killed")
    with pytest.raises(Killed):
        Trainer(s, seed=1, stages=st, device=cpu, log=kill_at_step_150).run(path, checkpoint_every=90, live=live)
    cut = [r["step"] for r in live_rows(tmp_path / "killed.jsonl") if r["table"] == "train_log"]
    assert max(cut) == 125 and torch.load(path, weights_only=True)["state"]["step"] == 90  # rows past the checkpoint
    Trainer(s, seed=1, stages=st, device=cpu, log=lambda m: None).run(path, checkpoint_every=90, live=live)

    a, b = live_rows(tmp_path / "full.jsonl"), live_rows(tmp_path / "killed.jsonl")
    assert as_text(a) == as_text(b)
    steps = [r["step"] for r in b if r["table"] == "train_log"]
    assert steps == sorted(set(steps)) and len(steps) > 5  # each logged step once, in order
    assert {r["table"] for r in b} == {"run", "train_log", "windows", "graduations"}
    sa, sb = scalars(tmp_path / "tb_full"), scalars(tmp_path / "tb_killed")
    assert sa == sb and {"train/loss", "windows/unseen_exact_match", "graduated/add_2x2"} <= set(sa)
    assert [step for step, _ in sb["train/loss"]] == steps
