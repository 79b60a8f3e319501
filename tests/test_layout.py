"""The package's layout: the import resolution behind every rule's code inputs, the README's map of the package,
and docs that stay inside the repository."""

import re
from pathlib import Path

import pytest
from conftest import ROOT

from arithsignal.core.imports import dependencies, imported_modules, module_file

SRC = ROOT / "src"

FAKE = {  # a package shaped like the real one, with every kind of import the resolution must follow
    "__init__.py": "",
    "core/__init__.py": "",
    "core/io.py": "import json\n",
    "model/__init__.py": "",
    "model/gpt.py": "from .positions import abacus\n",
    "model/positions.py": "",
    "model/size.py": "",
    "train/__init__.py": "",
    "train/nested/__init__.py": "from ..measures import snr\n",  # a package __init__ that imports
    "train/nested/deep.py": "from ...core import io\nfrom ...model.gpt import GPT\n",  # up two levels, a module by name
    "train/measures.py": "def snr():\n    from ..model import size  # inside a function\n",
    "train/loop.py": "from .nested import deep\nfrom . import measures\nimport arithsignal.core.io\n",
    "report/__init__.py": "",
    "report/unused.py": "from ..model.gpt import GPT\n",
}


@pytest.fixture
def fake(tmp_path: Path) -> Path:
    for rel, text in FAKE.items():
        path = tmp_path / "arithsignal" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_a_module_file_is_a_module_or_a_package_init(fake):
    assert module_file(fake, "train.loop") == fake / "arithsignal/train/loop.py"
    assert module_file(fake, "train.nested") == fake / "arithsignal/train/nested/__init__.py"
    assert module_file(fake, "") == fake / "arithsignal/__init__.py"
    assert module_file(fake, "train.missing") is None


def test_relative_imports_resolve_at_any_level(fake):
    # ``from ...core import io`` names a module of the package; ``from ...model.gpt import GPT`` a name in a module
    assert imported_modules(fake, fake / "arithsignal/train/nested/deep.py") == {"core.io", "model.gpt"}
    # from a package's __init__, one dot is the package itself and two its parent
    assert imported_modules(fake, fake / "arithsignal/train/nested/__init__.py") == {"train.measures"}


def test_sibling_modules_absolute_imports_and_imports_inside_functions_are_found(fake):
    assert imported_modules(fake, fake / "arithsignal/train/loop.py") == {
        "train.nested.deep",
        "train.measures",
        "core.io",
    }
    assert imported_modules(fake, fake / "arithsignal/train/measures.py") == {"model.size"}


def test_dependencies_are_transitive_with_every_package_on_the_way(fake):
    got = dependencies(fake, ["train.loop"])
    imported = {
        "train.loop",
        "train.nested.deep",
        "train.measures",
        "core.io",
        "model.gpt",
        "model.positions",
        "model.size",
    }
    packages = {"", "train", "train.nested", "core", "model"}  # each __init__ runs before its modules
    assert got == imported | packages
    assert "report.unused" not in got and "report" not in got


def test_a_file_outside_the_package_resolves_its_absolute_imports(fake, tmp_path):
    script = tmp_path / "script.py"
    script.write_text("from arithsignal.train.loop import run\nfrom arithsignal.model import gpt\nimport numpy\n")
    assert imported_modules(fake, script) == {"train.loop", "model.gpt"}


def test_an_unknown_module_is_named(fake):
    with pytest.raises(ValueError, match="arithsignal.train.nothing"):
        dependencies(fake, ["train.nothing"])


def test_the_real_confirm_rule_needs_no_training_plotting_or_data_code():
    # the confirm rule used to depend on 7 modules through helpers kept in the wrong room (issue 38)
    deps = dependencies(SRC, ["analysis.confirm"])
    assert not {m for m in deps if m.split(".")[0] in ("train", "report", "data", "evaluate", "minimal")}, sorted(deps)


# ---------------------------------------------------------------- the README's map of the package


def _layout_rows() -> dict[str, str]:
    """The README's layout table: folder -> the rest of its row."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Layout", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"\|\s*`(src/arithsignal/[\w/]*)`\s*\|(.*)", line)
        if m:
            rows[m[1].rstrip("/") + "/"] = m[2]
    return rows


def test_every_module_is_in_the_readme_s_map_of_the_package():
    rows = _layout_rows()
    assert rows, "README.md's Layout section has no table of src/arithsignal/ folders"
    for path in sorted((SRC / "arithsignal").rglob("*.py")):
        folder = path.parent.relative_to(SRC).as_posix() + "/"
        if path.name == "__init__.py" and folder != "arithsignal/":
            assert f"src/{folder}" in rows, f"README.md's Layout does not name the subpackage src/{folder}"
            continue
        assert f"src/{folder}" in rows, f"{path.relative_to(ROOT)}: its folder is not in README.md's Layout"
        assert f"`{path.stem}`" in rows[f"src/{folder}"], (
            f"README.md's Layout row for src/{folder} does not name `{path.stem}`"
        )


def test_the_readme_s_map_names_no_module_that_is_gone():
    for folder, row in _layout_rows().items():
        for name in re.findall(r"`(\w+)`", row):
            assert (ROOT / folder / f"{name}.py").exists() or (ROOT / folder / name).is_dir(), f"README: {folder}{name}"


# ---------------------------------------------------------------- docs stay inside the repository


def test_no_doc_points_outside_the_repository():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted(ROOT.glob("*/README.md"))]
    for page in pages:
        text = page.read_text()
        for target in re.findall(r"\]\(([^)#\s]+)", text) + re.findall(r"`(\.\./[^`]+)`", text):
            if re.match(r"[a-z]+://", target):
                continue
            assert (page.parent / target).resolve().is_relative_to(ROOT), (
                f"{page.relative_to(ROOT)} points outside: {target}"
            )
        assert "shared/DESIGN" not in text, f"{page.relative_to(ROOT)} names a design outside the repository"


def test_the_readme_links_the_design():
    assert "(docs/DESIGN.md)" in (ROOT / "README.md").read_text()
    assert (ROOT / "docs/DESIGN.md").read_text().startswith("# Design")


def test_every_package_path_the_docs_name_exists():
    pages = [
        ROOT / "README.md",
        *(ROOT / "docs").glob("*.md"),
        ROOT / "schemas/config.schema.yaml",
        *(ROOT / "presets").glob("*.yaml"),
    ]
    for page in pages:
        for path in re.findall(r"src/arithsignal/[\w/]+(?:\.py)?", page.read_text()):
            assert (ROOT / path).exists(), f"{page.relative_to(ROOT)} names {path}, which does not exist"


def test_the_readme_s_rule_graph_is_snakemake_s():
    from arithsignal.report.rulegraph import compact, snakemake_rulegraph

    block = compact(snakemake_rulegraph(ROOT))
    assert block in (ROOT / "README.md").read_text(), (
        f"README's rule graph is stale; python -m arithsignal.report.rulegraph:\n{block}"
    )
    assert block.count("\n") > 5 and "train --> " in block and "make_dataset --> " in block


def test_the_compact_graph_keeps_every_edge_but_all():
    graph = "flowchart TB\n\tid0[all]\n\tid1[train]\n\tid2[data]\n\tid2 --> id1\n\tid1 --> id0\n\tid2 --> id0\n"
    assert compact_lines(graph) == ["data --> train"]


def compact_lines(graph: str) -> list[str]:
    from arithsignal.report.rulegraph import compact

    return [line.strip() for line in compact(graph).splitlines()[2:-1]]
