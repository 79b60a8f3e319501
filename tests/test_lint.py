"""Ruff, snakefmt and Snakemake's linter stay clean (the one Snakemake lint left is explained in
docs/TROUBLESHOOTING.md), and no line of code runs past 120 characters."""

import subprocess
import sys

from conftest import ROOT

CODE = ("src", "tests", "workflow_scripts", "benchmarks")


def test_ruff_is_clean():
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_snakemake_lint_has_only_the_explained_warning():
    r = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    lints = [line.strip() for line in (r.stdout + r.stderr).splitlines() if line.strip().startswith("* ")]
    assert all("PYTHONPATH" in line for line in lints), lints


def test_the_workflow_files_are_snakefmt_formatted():
    r = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", "--diff", "Snakefile", "rules"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


def test_no_line_of_code_is_over_120_characters():
    files = [ROOT / "Snakefile", *ROOT.glob("rules/*.smk"), *(p for d in CODE for p in (ROOT / d).rglob("*.py"))]
    long = [
        f"{p.relative_to(ROOT)}:{i}"
        for p in files
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if len(line) > 120
    ]
    assert not long, long
