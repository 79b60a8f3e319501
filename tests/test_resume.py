"""A training job killed with SIGKILL, or stopped with SIGTERM or Ctrl-C, resumes from its checkpoint and ends
exactly like an uninterrupted run."""

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch
import yaml
from conftest import ROOT, copy_workflow, load_yaml, run_file, snakemake
from snakemake.common.configfile import load_configfile
from snakemake.utils import update_config

from arithsignal.config.experiment import key, run_keys
from arithsignal.core.io import CLOCK_COLUMNS

pytestmark = pytest.mark.workflow


def slow_config(checkpoint_every=50, stage_budget=400):
    """The smoke preset with stages that cannot graduate early, so the job runs long enough to be killed."""
    cfg = load_yaml(ROOT / "tests/config/smoke.yaml")
    cfg["curriculum"]["stage_budget"] = stage_budget
    cfg["graduation"].update(windows=8, window_every=50)
    cfg["train"].update(log_every=25)
    cfg["execution"] = {"checkpoint_every": checkpoint_every}
    return cfg


def slow_smoke(root, checkpoint_every=50, stage_budget=400):
    (root / "slow.yaml").write_text(yaml.safe_dump(slow_config(checkpoint_every, stage_budget)))
    return "--configfile=slow.yaml"


def slow_paths(stage_budget=400) -> tuple[str, str, str, str]:
    """The slow preset's baseline run: its folder, its training target, its evaluation, its log (the run's folder is
    named after its settings; checkpoint_every is in no name)."""
    cfg = load_configfile(str(ROOT / "config.yaml"))
    update_config(cfg, slow_config(stage_budget=stage_budget))  # as Snakemake merges a --configfile
    run = f"results/runs/{run_keys(cfg)['baseline']}/seed0"
    evaluated = f"{run}/eval_{key(cfg['evaluation'])}.parquet"  # training, then the evaluation at each stage's end
    return run, f"{run}/graduations.parquet", evaluated, run.replace("runs/", "logs/train/") + ".log"


RUN, TARGET, EVALUATED, LOG = slow_paths()


def training_process(snakemake_pid: int):
    """The training job's process among Snakemake's descendants (the script directive runs it as .../*.train.py)."""
    import psutil

    for child in psutil.Process(snakemake_pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if any(part.endswith(".train.py") for part in child.cmdline()):
                return child
    return None


def logged_step(log_path) -> int:
    """The last step the training log reports (0 before the first log line)."""
    steps = re.findall(r"\] step +(\d+) \|", log_path.read_text()) if log_path.exists() else []
    return int(steps[-1]) if steps else 0


def readme_recovery_commands() -> list[str]:
    """The commands of the recovery block (docs/TROUBLESHOOTING.md), before the line that reruns the user's own
    command."""
    text = (ROOT / "docs/TROUBLESHOOTING.md").read_text()
    block = text.split("## After a crash or a kill", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    lines = [line.split("#")[0].strip() for line in block.strip().splitlines() if "your own command" not in line]
    commands = [line for line in lines if line]
    assert commands == ["snakemake --unlock"], commands  # what a user has to remember
    return commands


TABLES = ("train_log", "windows", "graduations")


def tables(root, names=TABLES, run=RUN):
    """The run's tables, clocks aside (graduations holds both times, fit and generalise; eval both evaluations)."""
    return {
        name: pd.read_parquet(run_file(root / run, name)).drop(columns=CLOCK_COLUMNS, errors="ignore") for name in names
    }


def test_killed_training_resumes_to_identical_results(tmp_path):
    ref, killed = copy_workflow(tmp_path / "ref"), copy_workflow(tmp_path / "killed")
    arg = slow_smoke(ref)
    slow_smoke(killed)
    r = snakemake(ref, EVALUATED, "--cores", "1", arg)
    assert r.returncode == 0, r.stderr[-3000:]

    # start the same job, SIGKILL the whole process group once a mid-run checkpoint exists
    p = subprocess.Popen(
        [sys.executable, "-m", "snakemake", EVALUATED, "--cores", "1", arg],
        cwd=killed,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    ckpt = killed / RUN / "checkpoint.pt"
    deadline = time.time() + 300
    while time.time() < deadline and p.poll() is None:
        if ckpt.exists() and torch.load(ckpt, weights_only=True)["state"]["step"] >= 300:
            break
        time.sleep(0.05)
    assert p.poll() is None, "the job finished before it could be killed"
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    assert not (killed / TARGET).exists()
    step_at_kill = torch.load(ckpt, weights_only=True)["state"]["step"]

    # what docs/TROUBLESHOOTING.md tells a user after a hard kill, typed as it stands there: its commands, then
    # the same command as before, unchanged (profiles/default has rerun-incomplete)
    for command in readme_recovery_commands():
        r = subprocess.run(
            [sys.executable, "-m", *command.split()], cwd=killed, capture_output=True, text=True, timeout=120
        )
        assert r.returncode == 0, (command, r.stderr[-3000:])
    r = snakemake(killed, EVALUATED, "--cores", "1", arg)
    assert r.returncode == 0, r.stderr[-3000:]
    log = (killed / LOG).read_text()
    assert f"resuming from checkpoint {RUN}/checkpoint.pt at step {step_at_kill}" in log

    a, b = tables(ref, (*TABLES, "eval")), tables(killed, (*TABLES, "eval"))
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)
    # the live file too: what the killed job wrote after its last checkpoint was cut on resume, nothing twice
    live = [[{k: v for k, v in json.loads(line).items() if k not in CLOCK_COLUMNS}
             for line in (root / RUN / "live.jsonl").read_text().splitlines()] for root in (ref, killed)]  # fmt: skip
    assert json.dumps(live[0]) == json.dumps(live[1]) and len(live[0]) > 20
    wa = torch.load(ref / RUN / "model.pt", weights_only=True)["model"]
    wb = torch.load(killed / RUN / "model.pt", weights_only=True)["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    sa, sb = (torch.load(root / RUN / "stage_models.pt", weights_only=True) for root in (ref, killed))
    # the weights at each stage's end, the killed run's too
    assert sa["stages"] == sb["stages"] and len(sa["models"]) == 3
    assert all(torch.equal(x[k], y[k]) for x, y in zip(sa["models"], sb["models"], strict=True) for k in x)
    # and the datasets of both trees are byte-identical
    for f in (ref / "results/data").rglob("*.parquet"):
        assert f.read_bytes() == (killed / f.relative_to(ref)).read_bytes(), f


@pytest.mark.parametrize("how", ["SIGTERM to the training job", "Ctrl-C (SIGINT to the process group)"])
def test_a_stopped_training_job_checkpoints_at_the_signal_and_resumes(tmp_path, how):
    """SIGTERM (what SLURM sends on scancel, preemption and the time limit) or Ctrl-C: the job finishes its
    step, writes its checkpoint there (no periodic checkpoint is due: checkpoint_every is beyond the run),
    exits non-zero saying why, and the same command again resumes from that step to the unstopped results."""
    ref, stopped = copy_workflow(tmp_path / "ref"), copy_workflow(tmp_path / "stopped")
    arg = slow_smoke(ref, checkpoint_every=100_000)
    slow_smoke(stopped, checkpoint_every=100_000)
    r = snakemake(ref, TARGET, "--cores", "1", arg)
    assert r.returncode == 0, r.stderr[-3000:]

    command = [sys.executable, "-m", "snakemake", TARGET, "--cores", "1", arg]
    p = subprocess.Popen(command, cwd=stopped, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)  # fmt: skip
    log = stopped / LOG
    deadline = time.time() + 300
    while time.time() < deadline and p.poll() is None and logged_step(log) < 200:
        time.sleep(0.05)
    assert p.poll() is None, "the job finished before it could be stopped"
    if how.startswith("SIGTERM"):
        job = training_process(p.pid)
        assert job is not None
        job.send_signal(signal.SIGTERM)
    else:
        os.killpg(p.pid, signal.SIGINT)
    out, _ = p.communicate(timeout=120)
    assert p.returncode != 0, out[-3000:]
    name = "SIGTERM" if how.startswith("SIGTERM") else "SIGINT"
    said = re.search(rf"stopped by {name} after step (\d+); checkpoint written", log.read_text())
    assert said, log.read_text()[-2000:]
    at = int(said[1])
    print(f"{how}: stopped and checkpointed at step {at}")  # the closing note's numbers (pytest -s)
    ckpt = stopped / RUN / "checkpoint.pt"
    assert torch.load(ckpt, weights_only=True)["state"]["step"] == at >= 200  # written at the signal, not periodically
    assert not (stopped / TARGET).exists()

    r = snakemake(stopped, TARGET, "--cores", "1", arg)  # the same command again
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"resuming from checkpoint {RUN}/checkpoint.pt at step {at} " in log.read_text()
    a, b = tables(ref), tables(stopped)
    for table in a:
        pd.testing.assert_frame_equal(a[table], b[table], check_exact=True, obj=table)
