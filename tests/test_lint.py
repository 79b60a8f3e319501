"""Ruff and Snakemake's linter stay clean (the one Snakemake lint left is explained in docs/TROUBLESHOOTING.md)."""

import subprocess
import sys

from conftest import ROOT


def test_ruff_is_clean():
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_snakemake_lint_has_only_the_explained_warning():
    r = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    lints = [line.strip() for line in (r.stdout + r.stderr).splitlines() if line.strip().startswith("* ")]
    assert all("PYTHONPATH" in line for line in lints), lints
