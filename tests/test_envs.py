"""envs/*.yaml parse and pin exactly what pyproject.toml pins (no conda channel is reachable here)."""

import tomllib

import pytest
import yaml
from conftest import ROOT

ENV_FILES = sorted((ROOT / "envs").glob("*.yaml"))


def _pins(reqs):
    out = {}
    for r in reqs:
        for op in ("==", ">="):
            if op in r:
                name, version = r.split(op)
                out[name.strip().lower()] = op + version.strip()
    return out


PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PYPROJECT_PINS = _pins(PROJECT["dependencies"] + sum(PROJECT["optional-dependencies"].values(), []))


def test_there_is_an_env_per_kind_of_job():
    assert {p.stem for p in ENV_FILES} == {"data", "train", "plot"}


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_pins_agree_with_pyproject(path):
    env = yaml.safe_load(path.read_text())
    assert env["name"].startswith("arithsignal-")
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    pins = _pins(pip)
    assert pins, path
    for name, pin in pins.items():
        assert PYPROJECT_PINS.get(name) == pin, f"{path.name}: {name}{pin} but pyproject.toml has {PYPROJECT_PINS.get(name)}"


def test_rules_name_their_env():
    for smk in (ROOT / "rules").glob("*.smk"):
        text = smk.read_text()
        if "rule " in text:
            assert text.count("conda:") == text.count("\nrule "), smk.name
