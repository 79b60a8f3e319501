import fcntl
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

WORKFLOW_FILES = [
    *("Snakefile", "config.yaml", "rules", "schemas", "envs", "workflow_scripts", "src"),
    *("report", "presets", "tests/config", "profiles", "docs/attempts.csv"),
]


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(Path(path).read_text())


def run_dir(root: Path, variant: str, configfile: str | None = None, seed: int = 0) -> str:
    """A variant's run folder in a tree, as the workflow names it under a preset: results/runs/<name>-<key>/seed<k>
    (config.experiment.run_keys)."""
    from arithsignal.config.experiment import merged, run_keys

    cfg = merged(root / "config.yaml", [root / configfile] if configfile else [])
    return f"results/runs/{run_keys(cfg)[variant]}/seed{seed}"


def run_file(root: Path, table: str) -> Path:
    """The one file of a per-run table in a run folder (eval and length are named after the settings they were read
    under: eval_<key>.parquet)."""
    (path,) = Path(root).glob(f"{table}*.parquet")
    return path


def copy_workflow(dst: Path) -> Path:
    """A fresh copy of the workflow (no results) to run Snakemake in."""
    for name in WORKFLOW_FILES:
        src = ROOT / name
        if not src.exists():
            continue
        target = dst / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(src, target)
    return dst


@pytest.fixture
def workflow_copy(tmp_path: Path) -> Path:
    return copy_workflow(tmp_path)


def snakemake(cwd: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


SMOKE = "--configfile=tests/config/smoke.yaml"


@pytest.fixture(scope="session")
def smoke_tree(tmp_path_factory) -> Path:
    """The smoke preset, built once per test run and copied for each xdist worker, for tests that read or dry-run a
    finished tree (they must not run jobs). The first worker to ask builds it under a lock while the others wait (the
    build takes both cores); each worker then works on its own copy, so a caching test that edits its tree for a
    moment never disturbs a test of the other worker. A copy stays up to date: the workflow's inputs are relative."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # every worker's base folder lies in the run's
    master, failed = shared / "smoke_master", shared / "smoke_master.failed"
    with open(shared / "smoke_master.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if failed.exists():
            pytest.fail(f"the smoke build failed in another worker:\n{failed.read_text()}")
        if not (master / ".built").exists():
            copy_workflow(master)
            r = snakemake(master, "all", "--cores", "2", SMOKE, timeout=1800)  # a hang guard: about 5 min on 2 cores
            if r.returncode != 0:
                failed.write_text(r.stderr[-4000:])
            assert r.returncode == 0, r.stderr[-4000:]
            (master / ".built").touch()
    root = tmp_path_factory.mktemp("smoke")
    shutil.copytree(master, root, dirs_exist_ok=True)  # copy2: modification times kept, so nothing is out of date
    return root


RUN_KEY = re.compile(r"\brun=([A-Za-z0-9_.-]+)-[0-9a-f]{8}\b")


def scheduled_jobs(cwd: Path, *args: str) -> set[tuple[str, str]]:
    """(rule, wildcards) of every job a dry run schedules; a run's folder (run=<name>-<key>) reads variant=<name>."""
    r = snakemake(cwd, "-n", *args)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    jobs, rule = set(), None
    for line in (r.stdout + r.stderr).splitlines():
        s = line.strip()
        if line.startswith(("rule ", "localrule ")) and s.endswith(":"):
            if rule is not None:
                jobs.add((rule, ""))
            rule = s.split()[1].rstrip(":")
        elif s.startswith("wildcards:") and rule is not None:
            jobs.add((rule, RUN_KEY.sub(r"variant=\1", s.removeprefix("wildcards:").strip())))
            rule = None
    if rule is not None:
        jobs.add((rule, ""))
    return jobs
