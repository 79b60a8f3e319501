"""The workflow's rule graph as a compact mermaid block for the README: ``python -m arithsignal.report.rulegraph``.

Snakemake draws the graph (``snakemake --rulegraph mermaid-js``, on the default config); this keeps its edges and
writes one line per rule with every rule it feeds (``a --> b & c``), without the colours and the ``all`` target,
so the block stays short enough to read. A test keeps the README's block equal to this output.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def snakemake_rulegraph(root: Path = ROOT, *args: str) -> str:
    """Snakemake's own mermaid rule graph of the workflow at ``root`` (extra arguments: e.g. a --configfile)."""
    cmd = [sys.executable, "-m", "snakemake", "--rulegraph", "mermaid-js", "--quiet", "all", *args]
    r = subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=True)
    return r.stdout


def compact(graph: str) -> str:
    """The rule graph's edges, one line per rule that feeds others (``a --> b & c``), in Snakemake's order of rules;
    ``all`` left out."""
    names = dict(re.findall(r"^\s*(id\d+)\[(\w+)\]", graph, re.M))
    targets: dict[str, list[str]] = {}
    for a, b in re.findall(r"^\s*(id\d+) --> (id\d+)", graph, re.M):
        if names[b] != "all":
            targets.setdefault(names[a], []).append(names[b])
    lines = [f"    {n} --> {' & '.join(sorted(targets[n]))}" for n in names.values() if n in targets]
    return "\n".join(["```mermaid", "flowchart LR", *lines, "```"])


if __name__ == "__main__":
    print(compact(snakemake_rulegraph()))
