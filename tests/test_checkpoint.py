"""A run stopped and resumed in process: the stop signal, the checkpoint it writes, and which checkpoints resume."""

import copy
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
