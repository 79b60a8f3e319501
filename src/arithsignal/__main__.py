"""Command line.

* ``python -m arithsignal show --variant carry_off --stage mul_2x2 -n 5`` prints sample
  problems of any variant and stage exactly as the model sees them (prompt, then the
  completion it is trained and scored on), built from the config the way the workflow
  builds them.
* ``python -m arithsignal compare RESULTS_A RESULTS_B`` compares every per-run table
  (train_log, windows, graduations, eval) of two results folders, leaving out the
  wall-clock and provenance columns, and exits 1 if any differs: "did this refactor
  change what training computes?"
* ``python -m arithsignal timings RESULTS`` prints, per variant, the training jobs' times
  (column ``s`` of Snakemake's benchmark files, and each run's own training wall time)
  and the share of it that progress measures and graduation windows took.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from .config import ConfigError, check, effective_settings, factors_of, merged
from .datasets import SPLITS, DataSettings, Stage, build_stage
from .io import CLOCK_COLUMNS

ROOT = Path(__file__).resolve().parents[2]  # the checkout: config.yaml and the schema


def load_config(presets: list[str]) -> dict:
    """config.yaml with the presets merged over it, as Snakemake merges ``--configfile`` files, checked as the workflow
    checks it (the schema, then config.check)."""
    from snakemake.utils import validate

    schema = ROOT / "schemas" / "config.schema.yaml"
    cfg = merged(ROOT / "config.yaml", [p for p in presets if Path(p).resolve() != (ROOT / "config.yaml").resolve()])
    validate(cfg, str(schema))
    check(cfg, yaml.safe_load(schema.read_text()))
    return cfg


def show(args: argparse.Namespace) -> int:
    cfg = load_config(args.configfile)
    stages = {s["name"]: s for s in cfg["stages"]}
    if args.stage not in stages:
        print(f"unknown stage {args.stage!r}; the config has {list(stages)}", file=sys.stderr)
        return 2
    settings = effective_settings(cfg, args.variant)
    factors = factors_of(settings)
    frames = build_stage(Stage.from_config(stages[args.stage]), factors, DataSettings(**cfg["data"]))
    df = frames[args.split]
    print(f"# variant {args.variant}: {factors}; stage {args.stage}, split {args.split} ({len(df)} problems)")
    print("# prompt | completion (the model is scored on the completion)")
    for _, row in df.sample(n=min(args.n, len(df)), random_state=args.seed).iterrows():
        print(f"{row['prompt']} | {row['completion']}")
    return 0


RUN_TABLES = ("train_log", "windows", "graduations", "eval")
NOT_COMPARED = {*CLOCK_COLUMNS, "settings", "config_hash", "package_version"}  # clocks and provenance


def compare(args: argparse.Namespace) -> int:
    from .io import read_parquet

    a_root, b_root = Path(args.a), Path(args.b)
    paths = sorted({p.relative_to(a_root) for t in RUN_TABLES for p in a_root.glob(f"runs/*/seed*/{t}.parquet")})
    if not paths:
        print(f"no per-run tables under {a_root}/runs", file=sys.stderr)
        return 2
    differ = 0
    for rel in paths:
        if not (b_root / rel).exists():
            print(f"{rel}: missing in {b_root}")
            differ += 1
            continue
        a, b = read_parquet(a_root / rel), read_parquet(b_root / rel)
        cols = [c for c in a.columns if c in b.columns and c not in NOT_COMPARED]
        only = sorted((set(a.columns) ^ set(b.columns)) - NOT_COMPARED)
        same = a[cols].equals(b[cols])
        differ += not same
        print(f"{rel}: {'identical' if same else 'DIFFERENT'}" + (f" (columns on one side only: {only})" if only else ""))
    print(f"{len(paths) - differ} of {len(paths)} tables identical")
    return 1 if differ else 0


def timings(args: argparse.Namespace) -> int:
    import pandas as pd

    from .aggregate import concat
    from .summary import time_share

    root = Path(args.results)
    logs = concat([str(p) for p in sorted(root.glob("runs/*/seed*/train_log.parquet"))])
    if logs.empty:
        print(f"no training logs under {root}/runs", file=sys.stderr)
        return 2
    bench = {(p.parent.name, int(p.stem.removeprefix("seed"))): float(pd.read_csv(p, sep="\t")["s"].iloc[0])
             for p in root.glob("benchmarks/train/*/seed*.tsv")}  # fmt: skip
    wall = logs.sort_values("step").groupby(["variant", "seed"])["wall_time_s"].last()
    runs = pd.DataFrame({"wall": wall, "job": [bench.get(k, float("nan")) for k in wall.index],
                         "progress": time_share(logs, "measure_time_s"), "windows": time_share(logs, "window_time_s")})  # fmt: skip
    rows = []
    for variant, d in runs.groupby(level="variant"):
        lo, mid, hi = d["wall"].agg(["min", "median", "max"]) / 60
        rows.append({"variant": variant, "runs": str(len(d)),
                     "training wall time per run, min (min / median / max)": f"{lo:.2f} / {mid:.2f} / {hi:.2f}",
                     "all its runs, min": f"{d['wall'].sum() / 60:.1f}",  # resumed runs count every attempt
                     "benchmark s of the last attempt (median)": f"{d['job'].median():.0f}",
                     "progress measures (median share)": f"{100 * d['progress'].median():.2f}%",
                     "graduation windows (median share)": f"{100 * d['windows'].median():.2f}%"})  # fmt: skip
    print(pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True))
    w, h = runs["wall"] / 60, runs["windows"]
    print(f"\nall {len(runs)} runs: training wall time {w.min():.2f} to {w.max():.2f} min (median {w.median():.2f}); "
          f"graduation windows {100 * h.min():.2f}% to {100 * h.max():.2f}% (median {100 * h.median():.2f}%)")  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m arithsignal", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("show", help="print sample problems of a variant and stage as the model sees them")
    s.add_argument("--variant", default="baseline")
    s.add_argument("--stage", required=True)
    s.add_argument("-n", type=int, default=5, help="how many problems")
    s.add_argument("--split", default="train", choices=list(SPLITS))
    s.add_argument("--configfile", nargs="*", default=[], metavar="FILE",
                   help="presets merged over config.yaml, as snakemake --configfile merges them")  # fmt: skip
    s.add_argument("--seed", type=int, default=0, help="which sample to draw")
    c = sub.add_parser("compare", help="compare the per-run tables of two results folders, clocks and provenance aside")
    c.add_argument("a", help="a results folder (e.g. results)")
    c.add_argument("b", help="another results folder")
    t = sub.add_parser("timings", help="training time per variant of a results folder, and the measures' share of it")
    t.add_argument("results", help="a results folder (e.g. results)")
    args = p.parse_args(argv)
    try:
        return {"compare": compare, "timings": timings, "show": show}[args.command](args)
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
