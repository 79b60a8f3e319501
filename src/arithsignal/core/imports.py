"""Which package modules a job's code depends on: the code inputs of every rule (rules/common.smk's ``pkg``).

A rule declares the modules its script runs; the workflow adds everything they import, transitively, and the
packages on the way (importing ``arithsignal.train.loop`` runs ``arithsignal/__init__.py`` and
``arithsignal/train/__init__.py`` first). Editing any of those files reruns the rule, and editing any other file
reruns nothing. Imports are read from the source (no import runs): relative ones at any level, absolute ones,
and those inside functions. Modules are named dotted below the package, e.g. ``train.loop``; ``""`` is the
package's own ``__init__``.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

PACKAGE = "arithsignal"


def module_file(src: Path, module: str) -> Path | None:
    """The file of ``module`` under ``src/arithsignal``: a module file or a package's
    ``__init__.py`` (None: neither)."""
    base = Path(src, PACKAGE, *module.split(".")) if module else Path(src, PACKAGE)
    return next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.is_file()), None)


def imported_modules(src: Path, path: Path) -> set[str]:
    """The package modules that the file ``path`` imports. For a file inside ``src/arithsignal``, relative imports
    resolve against its own package; a name imported from a package that is a module (``from ..model import gpt``)
    counts as that module, any other name as the package it comes from."""
    package = None
    if path.resolve().is_relative_to(Path(src, PACKAGE).resolve()):
        parts = path.resolve().relative_to(Path(src).resolve()).with_suffix("").parts
        package = ".".join(parts if parts[-1] == "__init__" else parts[:-1]).removesuffix(".__init__")
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level and package is None:
                continue  # a relative import outside the package is not ours
            name = (
                importlib.util.resolve_name("." * node.level + (node.module or ""), package)
                if node.level
                else node.module
            )
            target = _below_package(name)
            if target is not None:
                subs = [".".join(filter(None, [target, a.name])) for a in node.names]
                found.update([s for s in subs if module_file(src, s)] or [target])
        elif isinstance(node, ast.Import):
            found.update(t for a in node.names if (t := _below_package(a.name)) is not None)
    return {m for m in found if module_file(src, m)}


def _below_package(name: str | None) -> str | None:
    """``arithsignal.x.y`` -> ``x.y``, ``arithsignal`` -> ``""``; None for another package's module."""
    if name == PACKAGE:
        return ""
    return name.removeprefix(PACKAGE + ".") if name and name.startswith(PACKAGE + ".") else None


def parents(module: str) -> set[str]:
    """The packages whose ``__init__`` runs before ``module``: the package's own and every subpackage's on the way."""
    parts = module.split(".")[:-1] if module else []
    return {".".join(parts[:i]) for i in range(len(parts) + 1)} - {module}


def dependencies(src: Path, modules: list[str]) -> set[str]:
    """``modules``, everything they import, transitively, and the packages on the way."""
    seen, todo = set(), list(modules)
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        path = module_file(src, m)
        if path is None:
            raise ValueError(f"no module arithsignal.{m} under {src}")
        seen.add(m)
        todo.extend(imported_modules(src, path) | parents(m))
    return seen


def rule_modules(root: Path) -> dict[str, list[str]]:
    """Each rule of ``root/rules/*.smk`` that declares ``code=pkg(...)``: the modules it names (its own code)."""
    rules = {}
    for smk in sorted(Path(root, "rules").glob("*.smk")):
        for block in re.split(r"\n(?=rule )", smk.read_text())[1:]:
            found = re.search(r"code=pkg\(([^)]*)\)", block)
            if found:
                rules[block.split()[1].rstrip(":")] = re.findall(r'"([\w.]*)"', found[1])
    return rules


def code_inputs(root: Path) -> dict[str, list[str]]:
    """Each rule's code inputs as the workflow declares them: its modules, what they import, the packages on the way."""
    return {rule: sorted(dependencies(Path(root, "src"), mods)) for rule, mods in rule_modules(root).items()}
