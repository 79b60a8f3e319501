"""The workflow on a real single-node SLURM through profiles/slurm (the official executor plugin).

Installs Debian's munge and slurm-wlm when missing (as root, as in CI), starts the
daemons, runs the smoke preset cut to its carry mask through the scheduler, and checks that the jobs went
through SLURM and that the results equal the local smoke run's, run by run. The daemons are stopped by pid
even when a test fails.
"""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import ROOT, copy_workflow

from arithsignal.core.io import CLOCK_COLUMNS

sys.path.insert(0, str(Path(__file__).parent / "slurm"))
from cluster import CLUSTER_NAME, Cluster, ClusterUnavailable, install, stale_link  # noqa: E402

# one worker runs them all under xdist: one test cluster at a time (its daemons own fixed ports and /etc/slurm)
pytestmark = [pytest.mark.workflow, pytest.mark.slurm, pytest.mark.xdist_group("slurm")]
# a hang (e.g. a status command that never answers) fails the test, not the CI run; the smoke preset takes minutes
TIMEOUT = 1500


# one cluster per test process: under xdist the SLURM tests may be interleaved with other tests on their worker, and
# a module fixture would stop and start the cluster again between them
@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("starting SLURM daemons needs root")
    install()
    c = Cluster(tmp_path_factory.mktemp("slurm"))
    try:
        c.start()
    except ClusterUnavailable as e:
        c.stop()
        pytest.skip(str(e))
    except BaseException:
        c.stop()
        raise
    try:
        yield c
    finally:
        c.stop()


def slurm_test_profile(root: Path) -> str:
    """profiles/slurm with what a GPU-less, accounting-less test cluster needs changed, nothing else."""
    prof = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    for res in prof["set-resources"].values():
        for key in ("gpu", "gpu_model", "cpus_per_gpu"):
            res.pop(key, None)
    prof["set-threads"] = {rule: 1 for rule in prof["set-threads"]}  # as the local run, so results are equal
    prof.update(
        {
            "slurm-status-command": "squeue",  # no accounting database: sacct would fail forever
            "slurm-no-account": True,
            "slurm-init-seconds-before-status-checks": 1,
            "seconds-between-status-checks": 2,
            "latency-wait": 5,
        }
    )
    out = root / "profiles/slurm-test"
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(prof))
    return str(out)


def squeue_all(cluster) -> pd.DataFrame:
    r = cluster.run("squeue", "--states=all", "-h", "-o", "%i|%j|%T|%k")
    rows = [line.split("|") for line in r.stdout.splitlines() if line]
    return pd.DataFrame(rows, columns=["id", "name", "state", "comment"])


def slurm_preset(root: Path) -> str:
    """The smoke preset cut to the carry mask: its two variants at both sizes, with every kind of job the full preset
    has (data, length split, training, both evaluations, the minimal model, the sweep, scaling, the map, the family,
    figures, summary). Its runs have the smoke preset's settings, so they are the smoke tree's runs, file for file."""
    c = yaml.safe_load((ROOT / "tests/config/smoke.yaml").read_text())
    c["preset"] = "slurm_smoke"
    c["variants"], c["ablations"] = c["variants"][:2], c["ablations"][:1]  # baseline, carry_off; carry
    c["sweeps"] = [sw for sw in c["sweeps"] if sw["name"] == "size"]
    c["analysis"]["family"] = [h for h in c["analysis"]["family"] if h.get("ablation", "carry") == "carry"]
    (root / "slurm_smoke.yaml").write_text(yaml.safe_dump(c))
    return "--configfile=slurm_smoke.yaml"


def test_the_workflow_runs_through_slurm_and_matches_a_local_run(cluster, request, tmp_path):
    root = copy_workflow(tmp_path / "wf")
    before = set(squeue_all(cluster)["id"])
    r = subprocess.run(
        [sys.executable, "-m", "snakemake", "all", "--workflow-profile", slurm_test_profile(root), slurm_preset(root)],
        cwd=root, env=cluster.env, capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    jobs = squeue_all(cluster)
    jobs = jobs[~jobs["id"].isin(before)]
    print(jobs.to_string())
    # every non-local job went through the scheduler and completed; figures and summaries stayed on the submit host
    assert (jobs["state"] == "COMPLETED").all(), jobs
    rules = jobs["comment"].str.extract(r"^rule_(.+?)(?:_wildcards_|$)")[0].value_counts().to_dict()
    # 4 training runs (baseline and carry_off at d_model 32 and 16), each evaluated (the map reads the small ones);
    # 2 data formats of 3 stages and a length split each; the length split read by the 2 variants' own runs
    want = {"make_dataset": 6, "make_length_split": 2, "train": 4, "evaluate": 4, "evaluate_length": 2,
            "minimal_model": 5}  # fmt: skip
    assert rules == want, rules
    # the local build is asked for only now, so that the other worker builds it while the cluster runs (the SLURM
    # run waits on its scheduler's polling much of the time)
    smoke_tree = request.getfixturevalue("smoke_tree")
    run_files = sorted(p.relative_to(root) for p in (root / "results/runs").rglob("*.parquet"))
    assert len(run_files) == 4 * 4 + 2, run_files  # 4 runs' train_log, windows, graduations, eval; 2 length
    tables = [*run_files, *(Path("results/slurm_smoke/minimal_model") / f"{e}.parquet"
                            for e in ("dynamics", "batch_size", "weight_decay", "dimension", "per_class"))]  # fmt: skip
    tables += [Path("results/slurm_smoke/metrics") / f"{t}.parquet" for t in ("sweep_size", "map_carry")]
    for table in tables:
        clocks = [*CLOCK_COLUMNS, "run_wall_time_s"]  # the sweep table's wall time per run is a clock too
        local = smoke_tree / str(table).replace("results/slurm_smoke/", "results/smoke/")
        a = pd.read_parquet(local).drop(columns=clocks, errors="ignore")
        b = pd.read_parquet(root / table).drop(columns=clocks, errors="ignore")
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=str(table))


def test_a_failing_job_is_reported_failed_and_retried(cluster, tmp_path):
    (tmp_path / "Snakefile").write_text(
        'rule fails:\n    output: "never.txt"\n    log: "fails.log"\n    shell: "echo trying > {log}; exit 3"\n'
    )
    r = subprocess.run(
        [sys.executable, "-m", "snakemake", "--workflow-profile", slurm_test_profile(tmp_path), "--retries", "1"],
        cwd=tmp_path, env=cluster.env, capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert "Error in rule fails" in out
    jobs = squeue_all(cluster)
    tries = jobs[jobs["comment"].str.contains("rule_fails")]
    assert len(tries) == 2 and (tries["state"] == "FAILED").all(), tries  # the first try and one retry


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    """The slow run trained locally without a stop: what every cancelled SLURM run must end equal to (built once for
    both ways of cancelling)."""
    from test_resume import slow_paths, slow_smoke

    _, target, _, _ = slow_paths(stage_budget=4000)
    local = copy_workflow(tmp_path_factory.mktemp("uninterrupted"))
    arg = slow_smoke(local, checkpoint_every=100_000, stage_budget=4000)
    r = subprocess.run([sys.executable, "-m", "snakemake", target, "--cores", "1", arg], cwd=local,
                       capture_output=True, text=True, timeout=TIMEOUT)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    return local


@pytest.mark.parametrize("cancel", [["--signal=TERM"], []], ids=["scancel --signal=TERM", "plain scancel"])
def test_a_cancelled_training_job_is_retried_and_resumes_from_the_signal(cluster, uninterrupted, tmp_path, cancel):
    """SIGTERM through SLURM while a training job runs: the job writes its checkpoint at the step of the
    signal, Snakemake retries it (profiles/slurm: retries), the retry resumes there, and the results
    equal a local run's."""
    from test_resume import logged_step, slow_paths, slow_smoke, tables

    run, target, _, log_path = slow_paths(stage_budget=4000)

    local, root = uninterrupted, copy_workflow(tmp_path / "wf")
    # no periodic checkpoint: the one there is, the signal wrote; 3 x 4000 steps (~40 s), so that the
    # job still runs when squeue and scancel have answered (3 x 400 take 4 s)
    arg = slow_smoke(root, checkpoint_every=100_000, stage_budget=4000)

    before = set(squeue_all(cluster)["id"])
    p = subprocess.Popen(
        [sys.executable, "-m", "snakemake", target, "--workflow-profile", slurm_test_profile(root), arg],
        cwd=root, env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )  # fmt: skip
    log = root / log_path
    deadline = time.time() + TIMEOUT
    while time.time() < deadline and p.poll() is None and logged_step(log) < 200:
        time.sleep(0.2)
    assert p.poll() is None, "the run ended before the job could be cancelled"
    jobs = squeue_all(cluster)
    train = jobs[~jobs["id"].isin(before) & jobs["comment"].str.startswith("rule_train")]
    assert len(train) == 1 and train["state"].iloc[0] == "RUNNING", train
    cluster.run("scancel", *cancel, train["id"].iloc[0])
    out, _ = p.communicate(timeout=TIMEOUT)
    assert p.returncode == 0, out[-5000:]

    # Snakemake deletes a failed job's log before the retry: the retry's log says where it resumed, and
    # the first attempt's SLURM log that the training exited 143 (128 + SIGTERM, after its checkpoint)
    text = log.read_text()
    resumed = re.search(rf"resuming from checkpoint {run}/checkpoint.pt at step (\d+) ", text)
    assert resumed, text[-3000:]
    at = int(resumed[1])
    print(f"{cancel}: stopped, checkpointed and resumed at step {at}")  # the closing note's numbers (pytest -s)
    assert at >= 200  # not a periodic checkpoint (checkpoint_every is beyond the run): the one written at the signal
    jobs = squeue_all(cluster)
    tries = jobs[~jobs["id"].isin(before) & jobs["comment"].str.startswith("rule_train")].sort_values(
        "id", key=lambda s: s.astype(int)
    )
    first = "FAILED" if cancel else "CANCELLED"  # the job's own non-zero exit, or SLURM's cancellation
    assert list(tries["state"]) == [first, "COMPLETED"], tries
    first_log = root / f".snakemake/slurm_logs/rule_train/{run.split('/')[2]}_0/{tries['id'].iloc[0]}.log"
    assert "returned non-zero exit status 143" in first_log.read_text(), first_log.read_text()[-3000:]
    a, b = tables(local, run=run), tables(root, run=run)
    for table in a:
        pd.testing.assert_frame_equal(a[table], b[table], check_exact=True, obj=table)


def test_a_link_left_by_a_killed_run_is_stale_and_any_other_is_not(tmp_path):
    # no daemons: whether /etc/slurm/slurm.conf may be removed is decided from the link and its target alone
    link = tmp_path / "etc/slurm.conf"
    link.parent.mkdir()
    ours = tmp_path / "run/slurm.conf"
    ours.parent.mkdir()
    ours.write_text(f"ClusterName={CLUSTER_NAME}\nSlurmUser=root\n")
    link.symlink_to(ours)
    assert stale_link(link)  # its slurmctld never wrote a pid: gone
    (ours.parent / "slurmctld.pid").write_text(f"{os.getpid()}\n")
    assert not stale_link(link)  # a live slurmctld (this process stands in for it)
    foreign = tmp_path / "site/slurm.conf"
    foreign.parent.mkdir()
    foreign.write_text("ClusterName=site\n")
    link.unlink()
    link.symlink_to(foreign)
    assert not stale_link(link)  # a site's own SLURM
    link.unlink()
    link.symlink_to("/tmp/pytest-of-nobody/pytest-0/slurm0/slurm.conf")
    assert stale_link(link)  # a pytest temporary config that is gone
    link.unlink()
    link.symlink_to("/nonexistent/slurm/slurm.conf")
    assert not stale_link(link)  # dangling, but not one of ours
    link.unlink()
    link.write_text("ClusterName=site\n")
    assert not stale_link(link)  # a real file, not a link
