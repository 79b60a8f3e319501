"""Portable CPU numerics (numerics.py): the same seed gives the same weights on any x86-64 machine with AVX2, a refused
pin fails the job naming its variable, every table records its numerics, and the setting reruns nothing."""

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SMOKE

from arithsignal.core.io import read_parquet, read_provenance


def _avx2() -> bool:
    try:
        return platform.machine() == "x86_64" and " avx2" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def _fingerprint(**env) -> dict:
    r = subprocess.run([sys.executable, "-m", "arithsignal", "fingerprint"], capture_output=True, text=True,
                       timeout=600, env={**os.environ, **env}, cwd=ROOT)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


@pytest.mark.skipif(
    not _avx2(), reason="this CPU has no AVX2 (or is not x86-64): the portable path cannot be taken here"
)
def test_a_short_run_under_portable_numerics_matches_the_committed_value():
    """The committed value was set on one machine (tests/fingerprint.json says which); CI runs on whatever machine it
    gets, so this checks portability over machines and time. It is never regenerated to make it pass: a failure means
    the numerics are not portable (docs/TROUBLESHOOTING.md)."""
    committed = json.loads((ROOT / "tests/fingerprint.json").read_text())
    got = _fingerprint(ARITHSIGNAL_NUMERICS="portable")
    assert got["numerics"]["mode"] == "portable" and got["numerics"]["aten_capability"] == "AVX2"
    assert got["sha256"] == committed["sha256"], f"{got} against {committed}"


@pytest.mark.skipif(
    not _avx2(), reason="this CPU has no AVX2 (or is not x86-64): the portable path cannot be taken here"
)
def test_portable_numerics_override_the_dispatch_variables_a_user_set():
    forced = _fingerprint(
        ARITHSIGNAL_NUMERICS="portable", ATEN_CPU_CAPABILITY="default", MKL_CBWR="AUTO", ONEDNN_MAX_CPU_ISA="ALL"
    )
    assert forced["sha256"] == json.loads((ROOT / "tests/fingerprint.json").read_text())["sha256"]


def test_a_pin_that_torch_refuses_fails_naming_the_variable():
    code = (
        "from arithsignal.core import numerics as n; n.PINS['ATEN_CPU_CAPABILITY'] = 'sse9'; "
        "n.pin(); import torch; n.check()"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "ARITHSIGNAL_NUMERICS": "portable"})  # fmt: skip
    if platform.machine() != "x86_64":
        pytest.skip("portable numerics pin nothing off x86-64")
    assert r.returncode != 0 and "ATEN_CPU_CAPABILITY=sse9" in r.stderr and "portable numerics were refused" in r.stderr


def test_an_unknown_mode_is_refused():
    r = subprocess.run([sys.executable, "-c", "from arithsignal.core import numerics as n; n.pin()"],
                       capture_output=True, text=True, env={**os.environ, "ARITHSIGNAL_NUMERICS": "fast"})  # fmt: skip
    assert r.returncode != 0 and "ARITHSIGNAL_NUMERICS='fast'" in r.stderr


def test_every_table_of_a_smoke_tree_records_its_numerics(smoke_tree):
    """Per-run tables record the training or evaluation job's paths (torch was used); every other table records its
    own job (torch not used) or carries each row's run numerics as a column."""
    tables = sorted((smoke_tree / "results").rglob("*.parquet"))
    assert tables
    for path in tables:
        prov, cols = read_provenance(path), read_parquet(path).columns
        assert "numerics" in prov or "numerics" in cols, path
    for path in (smoke_tree / "results/runs").rglob("*.parquet"):
        record = json.loads(read_provenance(path)["numerics"])
        assert record["torch"].startswith("2.") and record["device"] == "cpu" and "aten_capability" in record, path
        if _avx2():
            assert record["mode"] == "portable" and record["aten_capability"] == "AVX2", path


def test_switching_numerics_reruns_no_job(smoke_tree):
    """An execution setting, not an experiment setting: neither value enters a run hash or a job's params."""
    for value in ("native", "portable"):
        r = subprocess.run([sys.executable, "-m", "snakemake", "-n", "all", SMOKE], cwd=smoke_tree, capture_output=True,
                           text=True, timeout=600, env={**os.environ, "ARITHSIGNAL_NUMERICS": value})  # fmt: skip
        assert r.returncode == 0 and "Nothing to be done" in r.stdout + r.stderr, r.stdout[-2000:]
