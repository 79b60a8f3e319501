import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

WORKFLOW_FILES = ["Snakefile", "config.yaml", "rules", "schemas", "envs", "workflow_scripts", "src", "tests/config", "profiles"]


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
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)
