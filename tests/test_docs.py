"""The front door and the docs: links resolve, the quick start's commands parse, the config reference is current."""

import re
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT, copy_workflow, snakemake

from arithsignal.config.reference import reference_markdown

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "profiles/README.md"]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    for target in LINK.findall(page.read_text()):
        if "://" in target:
            continue
        assert (page.parent / target).exists(), f"{page.relative_to(ROOT)} links to {target}, which is not there"


def test_the_readme_is_a_front_door():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 150
    assert not re.search(r"RESULT_[A-Z_]+", text), "a placeholder was left in the README"


def test_the_config_reference_is_generated_from_the_schema():
    schema = yaml.safe_load((ROOT / "schemas/config.schema.yaml").read_text())
    assert (ROOT / "docs/CONFIG.md").read_text() == reference_markdown(schema), (
        "docs/CONFIG.md is stale: python -m arithsignal config-docs"
    )


def _commands(section: str) -> list[str]:
    text = (ROOT / "README.md").read_text().split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    return [line.split("  #")[0].strip() for block in blocks for line in block.strip().splitlines() if line.strip()]


def test_the_quick_start_and_preset_commands_parse(tmp_path):
    """Every command of those sections is valid shell; every Snakemake one builds its DAG in a fresh copy (-n)."""
    tree = copy_workflow(tmp_path)
    commands = _commands("Quick start") + _commands("Presets and single targets")
    assert len(commands) >= 5
    for command in commands:
        assert subprocess.run(["bash", "-n", "-c", command]).returncode == 0, command
        for part in command.split("&&"):
            words = part.split()
            if words and words[0] == "snakemake":
                r = snakemake(tree, "-n", *words[1:])
                assert r.returncode == 0, (part, r.stderr[-2000:])
            elif words[:3] == ["python", "-m", "arithsignal"]:
                r = subprocess.run(
                    [sys.executable, "-m", "arithsignal", words[3], "--help"], capture_output=True, text=True
                )
                assert r.returncode == 0, (part, r.stderr)
