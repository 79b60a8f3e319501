"""Command line: ``python -m arithsignal show --variant carry_off --stage mul_2x2 -n 5``.

Prints sample problems of any variant and stage exactly as the model sees them
(prompt, then the completion it is trained and scored on), built from the config
the same way the workflow builds them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from .config import ConfigError, check, effective_settings, factors_of
from .datasets import DataSettings, Stage, build_stage

SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"


def load_config(path: str) -> dict:
    cfg = yaml.safe_load(Path(path).read_text())
    if SCHEMA.exists():  # running from a checkout: the same schema check as the workflow
        from snakemake.utils import validate

        validate(cfg, str(SCHEMA))
    check(cfg)
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m arithsignal", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("show", help="print sample problems of a variant and stage as the model sees them")
    s.add_argument("--variant", default="baseline")
    s.add_argument("--stage", required=True)
    s.add_argument("-n", type=int, default=5, help="how many problems")
    s.add_argument("--split", default="train", choices=["train", "valid", "test", "commute"])
    s.add_argument("--configfile", default="config.yaml")
    s.add_argument("--seed", type=int, default=0, help="which sample to draw")
    args = p.parse_args(argv)
    try:
        return show(args)
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
