"""Two results trees compared run by run: "did this refactor change what training computes?"

Every per-run table (train_log, windows, graduations, eval, and length where the config has a length split) of two
results folders is compared, leaving out the wall-clock and provenance columns; before any difference, whether the
trees ran other numerics (core/numerics.py), which explains numbers that differ without either being wrong.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from .io import CLOCK_COLUMNS, read_parquet, read_provenance

RUN_TABLES = ("train_log", "windows", "graduations", "eval", "length")  # length: where the config has a length split
NOT_COMPARED = {*CLOCK_COLUMNS, "settings", "config_hash", "package_version", "numerics"}  # clocks and provenance


def compare_trees(first: Path, second: Path) -> int:
    """Every per-run table of two results folders, clocks and provenance aside: a table on one side only, a column on
    one side only, a different row count or a different value is a difference (exit 1)."""
    roots = first, second
    found = [run_tables(root) for root in roots]
    paths = sorted(found[0].keys() | found[1].keys())
    if not paths:
        print(f"no per-run tables under {roots[0]}/runs or {roots[1]}/runs", file=sys.stderr)
        return 2
    _numerics_first(roots, found, [rel for rel in paths if all(rel in f for f in found)])
    differ = 0
    for rel in paths:
        missing = [str(root) for root, f in zip(roots, found, strict=True) if rel not in f]
        if missing:
            print(f"{rel}: DIFFERENT (missing in {missing[0]})")
            differ += 1
            continue
        a, b = (read_parquet(f[rel]) for f in found)
        a, b = (df.drop(columns=[c for c in df.columns if c in NOT_COMPARED]) for df in (a, b))
        why = []
        only = sorted(set(a.columns) ^ set(b.columns))
        if only:
            why.append(f"columns on one side only: {only}")
        if len(a) != len(b):
            why.append(f"{len(a)} rows against {len(b)}")
        cols = [c for c in a.columns if c in b.columns]
        if len(a) == len(b) and not a[cols].equals(b[cols]):
            changed = [c for c in cols if not a[c].equals(b[c])]
            why.append(f"values differ in {changed}")
        differ += bool(why)
        print(f"{rel}: " + (f"DIFFERENT ({'; '.join(why)})" if why else "identical"))
    print(f"{len(paths) - differ} of {len(paths)} tables identical")
    return 1 if differ else 0


def run_tables(root: Path) -> dict[str, Path]:
    """Every per-run table under ROOT/runs, by run and table: runs/<variant>/seed<k>/<table>, the hashes that name a
    run's folder and its readings (runs/<variant>-<key>/seed<k>/eval_<key>.parquet) left out, so that trees whose
    settings differ, or that were named before the hashes, are compared run by run. Where one tree holds two runs of
    a variant (or two readings of one run), their full names are kept."""
    short = re.compile(r"^runs/(.+?)(?:-[0-9a-f]{8})?/(seed\d+)/([a-z_]+?)(?:_[0-9a-f]{8})?\.parquet$")
    paths = [p for t in RUN_TABLES for p in root.glob(f"runs/*/seed*/{t}*.parquet")]
    names = [short.sub(r"runs/\1/\2/\3.parquet", str(p.relative_to(root))) for p in paths]
    return {n if names.count(n) == 1 else str(p.relative_to(root)): p for n, p in zip(names, paths, strict=True)}


def _numerics_first(roots: tuple[Path, Path], found: list[dict[str, Path]], paths: list[str]) -> None:
    """Before any difference: whether the two trees were computed under other numerics (core/numerics.py), with both
    records where they differ. Such trees are expected to differ in their numbers, not in their decisions."""
    seen = {}
    for rel in paths:
        pair = tuple(read_provenance(f[rel]).get("numerics", '"not recorded"') for f in found)
        if pair[0] != pair[1]:
            seen.setdefault(pair, []).append(str(rel))
    for (a, b), tables in seen.items():
        ra, rb = (json.loads(x) for x in (a, b))
        keys = sorted(set(ra) | set(rb)) if isinstance(ra, dict) and isinstance(rb, dict) else []
        print(f"numerics differ in {len(tables)} table(s) (e.g. {tables[0]}): the trees ran other numeric paths, so "
              "their numbers may differ without either being wrong")  # fmt: skip
        for root, r in zip(roots, (ra, rb), strict=True):
            shown = {k: r.get(k) for k in keys if ra.get(k) != rb.get(k)} if keys else r
            print(f"  {root}: {json.dumps(shown, sort_keys=True)}")
