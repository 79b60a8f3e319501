"""envs/*.yaml parse and pin exactly what pyproject.toml pins (no conda channel is reachable here)."""

import ast
import re
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from arithsignal.core import imports

SRC = ROOT / "src"

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
        assert PYPROJECT_PINS.get(name) == pin, (
            f"{path.name}: {name}{pin} but pyproject.toml has {PYPROJECT_PINS.get(name)}"
        )


def test_rules_name_their_env():
    for smk in (ROOT / "rules").glob("*.smk"):
        text = smk.read_text()
        if "rule " in text:
            assert text.count("conda:") == text.count("\nrule "), smk.name


# what an import needs installed (distribution names as the envs pin them)
DISTRIBUTION = {"yaml": "pyyaml", "sklearn": "scikit-learn"}
# imported only inside functions that run on the Snakemake host (config checks), never in a job
HOST_ONLY = {"jsonschema", "snakemake"}
STDLIB = set(sys.stdlib_module_names)


def _third_party(path: Path) -> set[str]:
    """Third-party top-level imports of a file, also imports inside functions; a module that calls
    DataFrame.to_markdown needs tabulate, which pandas imports for it."""
    third = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module]
        else:
            continue
        third |= {n.split(".")[0] for n in names} - STDLIB - {"__future__", "arithsignal"}
    if "to_markdown" in path.read_text():
        third.add("tabulate")
    return third


def script_needs(script: Path) -> set[str]:
    """Every distribution a workflow script needs: its imports and, transitively, the package modules'."""
    ours = imports.dependencies(SRC, sorted(imports.imported_modules(SRC, script)))
    files = [script, *(imports.module_file(SRC, m) for m in ours)]
    return {DISTRIBUTION.get(t, t) for f in files for t in _third_party(f)} - HOST_ONLY


def rules_with_env_and_script():
    out = []
    for smk in sorted((ROOT / "rules").glob("*.smk")):
        for block in re.split(r"\n(?=rule )", smk.read_text())[1:]:
            name = block.split()[1].rstrip(":")
            env = re.search(r'conda:\s*\n\s*"\.\./(envs/[^"]+)"', block)
            script = re.search(r'script:\s*\n\s*"\.\./(workflow_scripts/[^"]+)"', block)
            out.append((name, env and env[1], script and script[1]))
    return out


@pytest.mark.parametrize(
    "rule, env, script", rules_with_env_and_script(), ids=lambda x: x if isinstance(x, str) else ""
)
def test_each_rules_env_provides_what_its_script_imports(rule, env, script):
    assert env and script, f"rule {rule} names no conda env or no script"
    pip = next(d["pip"] for d in yaml.safe_load((ROOT / env).read_text())["dependencies"] if isinstance(d, dict))
    provided = set(_pins(pip))
    missing = script_needs(ROOT / script) - provided
    assert not missing, f"rule {rule}: {script} imports {sorted(missing)}, which {env} does not install"


def test_the_import_check_sees_a_missing_package():
    # minimal_model_summary used to run in the plot env, which lacks the torch that arithsignal.minimal imports
    plot = set(
        _pins(
            next(
                d["pip"]
                for d in yaml.safe_load((ROOT / "envs/plot.yaml").read_text())["dependencies"]
                if isinstance(d, dict)
            )
        )
    )
    assert "torch" in script_needs(ROOT / "workflow_scripts/minimal_model_summary.py") - plot


def test_pyproject_names_only_env_files_that_exist():
    mentioned = re.findall(r"envs/(\{[\w,]+\}|\w+)\.yaml", (ROOT / "pyproject.toml").read_text())
    assert mentioned
    for names in mentioned:
        for name in names.strip("{}").split(","):
            assert (ROOT / "envs" / f"{name}.yaml").exists(), (
                f"pyproject.toml names envs/{name}.yaml, which does not exist"
            )
