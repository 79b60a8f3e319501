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
    """The smoke preset built once, for tests that read or dry-run a finished tree (they must not run jobs)."""
    root = copy_workflow(tmp_path_factory.mktemp("smoke"))
    r = snakemake(root, "all", "--cores", "2", SMOKE, timeout=1800)  # a hang guard: about 5 minutes on 2 free cores
    assert r.returncode == 0, r.stderr[-4000:]
    return root


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that uses the smoke tree runs on one xdist worker, in one process: the tree is built once, and the
    caching tests that edit it for a moment never run beside a test that reads it. The SLURM tests join them: one
    test cluster at a time (its daemons own fixed ports), and one of them reads the tree."""
    for item in items:
        if "smoke_tree" in getattr(item, "fixturenames", ()) or item.path.name == "test_slurm.py":
            item.add_marker(pytest.mark.xdist_group("smoke_tree"))


def scheduled_jobs(cwd: Path, *args: str) -> set[tuple[str, str]]:
    """(rule, wildcards) of every job a dry run schedules."""
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
            jobs.add((rule, s.removeprefix("wildcards:").strip()))
            rule = None
    if rule is not None:
        jobs.add((rule, ""))
    return jobs
