"""Command line.

* ``python -m arithsignal show --variant carry_off --stage mul_2x2 -n 5`` prints sample
  problems of any variant and stage exactly as the model sees them (prompt, then the
  completion it is trained and scored on), built from the config the way the workflow
  builds them.
* ``python -m arithsignal compare RESULTS_A RESULTS_B`` compares every per-run table
  (train_log, windows, graduations, eval, and length where the config has a length split)
  of two results folders, leaving out the wall-clock and provenance columns, and exits 1
  if any differs: "did this refactor change what training computes?"
* ``python -m arithsignal power --configfile=FILE`` simulates the design of the config's primary family (seeds,
  judged stages, sizes, budget, the window grid and its floor) from the spread measured in an earlier run's results
  (or given), and prints each hypothesis's power against the effect and the smallest effect it detects with 80%
  power: run it before spending the CPU.
* ``python -m arithsignal code-inputs [FILE]`` prints each rule's code inputs (the package modules it runs and
  everything they import), or, given a file of the package, the rules an edit of it reruns.
* ``python -m arithsignal config-docs`` prints docs/CONFIG.md, the config's reference, from the schema's descriptions.
* ``python -m arithsignal watch RESULTS [--png FILE]`` prints where every run stands while the workflow trains
  (stage, step against budget, windows passed, steps/s, time left), read from the runs' live files, and can draw
  the curves so far.
* ``python -m arithsignal pilot-budgets --configfile=PRESET --results RESULTS`` prints the map's stage budgets from
  its pilot's runs, by the rule docs/CALIBRATION.md declares.
* ``python -m arithsignal timings RESULTS`` prints, per variant, the training jobs' times
  (column ``s`` of Snakemake's benchmark files, and each run's own training wall time)
  and the share of it that progress measures and graduation windows took.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import yaml

from .config.checks import check
from .config.experiment import ConfigError, effective_settings, factors_of, merged
from .data.splits import SPLITS, DataSettings, Stage, build_stage

ROOT = Path(__file__).resolve().parents[2]  # the checkout: config.yaml and the schema


def load_config(presets: list[str]) -> dict:
    """config.yaml with the presets merged over it, as Snakemake merges ``--configfile`` files, checked as the workflow
    checks it (the schema, then config.checks.check)."""
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


def compare(args: argparse.Namespace) -> int:
    """Every per-run table of two results folders, clocks and provenance aside (core/compare.py); exit 1 if any
    differs."""
    from .core.compare import compare_trees

    return compare_trees(Path(args.a), Path(args.b))


def _fingerprint(steps: int = 30) -> dict:
    """A short run of the default shape (config.yaml's model, optimiser and rule; two small addition stages, seed 0,
    one thread) and a hash of its final weights and of its loss on a fixed batch: equal hashes, bit-identical numerics.
    Call ``pin`` before torch is imported for the portable value (``python -m arithsignal fingerprint`` does)."""
    import hashlib
    from dataclasses import asdict

    import torch

    from .core import numerics
    from .data.formats import Factors
    from .train.batches import completion_loss, make_batch, tensorise
    from .train.loop import Trainer

    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    torch.set_num_threads(1)
    data = DataSettings(seed=cfg["data"]["seed"], train_size=500, pool_size=50, test_size=20, mixed_share=0.5)
    factors = Factors(**cfg["factors"])
    stages = []
    for spec in cfg["stages"][:2]:
        fr = build_stage(Stage.from_config(spec), factors, data)
        stages.append(tensorise(spec["name"], fr["train"], fr["train_pool"], fr["unseen_pool"]))
    settings = {"factors": asdict(factors),
                **{k: cfg[k] for k in ("model", "optim", "curriculum", "graduation", "train")}}  # fmt: skip
    tr = Trainer(settings, 0, stages, torch.device("cpu"), log=lambda m: None)
    tr.state.stage_index = 1
    for _ in range(steps):
        tr.train_step()
    with torch.no_grad():
        loss = completion_loss(
            tr.model, make_batch(tr.stages, 1, 64, 0.5, torch.Generator().manual_seed(5)), tr.device
        )[0].mean()
    h = hashlib.sha256()
    for name, p in sorted(tr.model.state_dict().items()):
        h.update(name.encode() + p.detach().contiguous().numpy().tobytes())
    h.update(loss.double().numpy().tobytes())
    return {"sha256": h.hexdigest()[:16], "loss": float(loss), "steps": steps, "numerics": numerics.describe("cpu")}


def fingerprint(args: argparse.Namespace) -> int:
    """A short run of the default shape under this process's numerics, and the hash of its weights and loss."""
    import json

    from .core import numerics

    if "torch" in sys.modules:
        print("fingerprint must run in a fresh process (torch is already imported)", file=sys.stderr)
        return 2
    numerics.pin(cpu_only=True)  # the fingerprint computes on the CPU, on a GPU machine too
    import torch  # noqa: F401  (now, with the paths pinned)

    numerics.check()
    print(json.dumps(_fingerprint(args.steps), sort_keys=True))
    return 0


def timings(args: argparse.Namespace) -> int:
    import pandas as pd

    from .core.io import read_parquet
    from .report.summary import time_share

    root = Path(args.results)
    paths = sorted(root.glob("runs/*/seed*/train_log.parquet"))
    # runs named by their folder (variant-key): presets that train one variant differently share results/runs
    frames = [read_parquet(p).assign(run=p.parent.parent.name) for p in paths]
    logs = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if logs.empty:
        print(f"no training logs under {root}/runs", file=sys.stderr)
        return 2
    bench = {}  # (run, seed) -> the job's seconds and CPU seconds, from the benchmark file of the run's folder
    for p in paths:
        tsv = root / "benchmarks/train" / p.parent.parent.name / f"{p.parent.name}.tsv"
        if tsv.exists():
            row = pd.read_csv(tsv, sep="\t").iloc[0]
            key = (p.parent.parent.name, int(p.parent.name.removeprefix("seed")))
            bench[key] = (float(row["s"]), float(row.get("cpu_time", float("nan"))))
    last = logs.sort_values("step").groupby(["run", "seed"])[["wall_time_s", "step"]].last()
    wall, nan2 = last["wall_time_s"], (float("nan"), float("nan"))
    runs = pd.DataFrame({"wall": wall, "job": [bench.get(k, nan2)[0] for k in wall.index],
                         "cpu_per_step": [bench.get(k, nan2)[1] / s for k, s in last["step"].items()],
                         "progress": time_share(logs, "measure_time_s", run="run"),
                         "windows": time_share(logs, "window_time_s", run="run")})  # fmt: skip
    rows = []
    for run, d in runs.groupby(level="run"):
        lo, mid, hi = d["wall"].agg(["min", "median", "max"]) / 60
        rows.append({"run (variant-key)": run, "runs": str(len(d)),
                     "training wall time per run, min (min / median / max)": f"{lo:.2f} / {mid:.2f} / {hi:.2f}",
                     "all its runs, min": f"{d['wall'].sum() / 60:.1f}",  # resumed runs count every attempt
                     "benchmark s of the last attempt (median)": f"{d['job'].median():.0f}",
                     "its CPU ms a step (median; a resumed run reads low)": f"{1000 * d['cpu_per_step'].median():.1f}",
                     "progress measures (median share)": f"{100 * d['progress'].median():.2f}%",
                     "graduation windows (median share)": f"{100 * d['windows'].median():.2f}%"})  # fmt: skip
    print(pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True))
    w, h = runs["wall"] / 60, runs["windows"]
    print(f"\nall {len(runs)} runs: training wall time {w.min():.2f} to {w.max():.2f} min (median {w.median():.2f}); "
          f"graduation windows {100 * h.min():.2f}% to {100 * h.max():.2f}% "
          f"(median {100 * h.median():.2f}%)")  # fmt: skip
    return 0


def pilot_budgets(args: argparse.Namespace) -> int:
    """The map's stage budgets from a pilot's runs, by the rule docs/CALIBRATION.md declares (analysis.maps)."""
    from .analysis.maps import pilot_budgets as rule
    from .config.experiment import all_variants, run_keys
    from .core.io import concat

    cfg = load_config(args.configfile)
    keys = sorted({run_keys(cfg)[v["name"]] for v in all_variants(cfg)})
    paths = [str(p) for k in keys for p in sorted(Path(args.results).glob(f"runs/{k}/seed*/graduations.parquet"))]
    if not paths:
        print(f"no runs of the config's variants under {args.results}/runs", file=sys.stderr)
        return 2
    print(f"{len(paths)} runs in {len(keys)} run folders (variants and sweep points) under {args.results}/runs")
    print(rule(concat(paths), [s["name"] for s in cfg["stages"]]).to_markdown(index=False, disable_numparse=True))
    return 0


def power(args: argparse.Namespace) -> int:
    from .analysis.power import power_report, save_spread

    cfg = load_config(args.configfile)
    given = (("sigma", args.sigma), ("median_steps", args.median_steps), ("run_share", args.run_share),
             ("size_slope", args.size_slope), ("seeds", args.seeds))  # fmt: skip
    overrides = {k: v for k, v in given if v is not None}
    if args.median_steps is not None:
        overrides["anchor_side"] = args.median_side
        if args.median_d_model is not None:
            from .model.size import non_embedding_params

            model = {**cfg["model"], "d_model": args.median_d_model}
            overrides["anchor_log_size"] = math.log(non_embedding_params(model))
    try:
        if args.save_spread:
            for path in save_spread(cfg, args.results, args.save_spread):
                print(f"wrote {path}", file=sys.stderr)
        text = power_report(cfg, args.results, overrides, args.sims, spreads=args.spreads,
                            log=lambda m: print(m, file=sys.stderr, flush=True),
                            interval_sims=args.interval_sims)  # fmt: skip
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    print(text)
    return 0


def png(args: argparse.Namespace) -> int:
    """The README's picture: the scaling figure of a results folder, drawn by the workflow's own plotting code (with
    --length, an ablation's length figure instead)."""
    from .core.io import read_parquet
    from .report.figures.scaling import plot_scaling

    root = Path(args.results) / "metrics"
    if args.length:
        return _length_png(root, args.length, args.out)
    if not (root / "scaling_fit.parquet").exists():
        print(f"no {root}/scaling_fit.parquet: run a config with a scaling section first", file=sys.stderr)
        return 2
    # the stage order, as the fit recorded it
    fit = read_parquet(root / "scaling_fit.parquet", ["stage", "stage_index"])
    stages = fit.drop_duplicates("stage").sort_values("stage_index")["stage"].tolist()
    plot_scaling(str(root / "scaling_runs.parquet"), str(root / "scaling_fit.parquet"), stages, args.out)
    print(f"wrote {args.out}")
    return 0


def _length_png(root: Path, ablation: str, out: str) -> int:
    """results/length_<ablation>.pdf's figure as a PNG, from the tables length_stats wrote (each run's extension as
    it was read then)."""
    from .analysis.outcomes import ablation_sides
    from .core.io import read_parquet
    from .report.figures.length import length_figure

    paths = [root / f for f in ("length.parquet", "length_runs.parquet", "length_ablations.parquet")]
    if not all(p.exists() for p in paths):
        print(f"no {paths[0]} and its tables: run a config with a length section first", file=sys.stderr)
        return 2
    scores, runs, table = (read_parquet(p) for p in paths)
    rows = table[table["ablation"] == ablation]
    if rows.empty:
        print(
            f"no ablation {ablation!r} in {paths[2]}; expected one of {sorted(table['ablation'].unique())}",
            file=sys.stderr,
        )
        return 2
    ab = {"name": ablation, **rows.iloc[0][["factor", "on_variant", "off_variant"]].to_dict()}
    # the runs are stored under each variant's own name unless it aliases another (experiment.canonical_variants)
    canonical = {ab[s]: ab[s] for s in ("on_variant", "off_variant")}
    missing = [v for v in canonical if v not in set(runs["variant"])]
    if missing:
        print(f"variants {missing} have no runs under their own name in {paths[1]}", file=sys.stderr)
        return 2
    length_figure(ablation_sides(scores, ab, canonical), ablation_sides(runs, ab, canonical), ab, out)
    print(f"wrote {out}")
    return 0


def code_inputs(args: argparse.Namespace) -> int:
    """Each rule's code inputs, or the rules whose code inputs hold ``args.file`` (what an edit of it reruns)."""
    from .core.imports import code_inputs as inputs_of

    rules = inputs_of(ROOT)
    if args.file is None:
        for rule, modules in rules.items():
            print(f"{rule}: {' '.join(m or '__init__' for m in modules)}")
        return 0
    path = Path(args.file).resolve()
    if not path.is_relative_to(ROOT / "src" / "arithsignal") or not path.is_file():
        print(f"{args.file}: not a file of the package under {ROOT / 'src/arithsignal'}", file=sys.stderr)
        return 2
    parts = path.relative_to(ROOT / "src" / "arithsignal").with_suffix("").parts
    module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    users = [rule for rule, modules in rules.items() if module in modules]
    print(f"an edit of {args.file} reruns: {' '.join(users) if users else 'no rule (no job runs it)'}")
    return 0


def config_docs(args: argparse.Namespace) -> int:
    from .config.reference import reference_markdown

    print(reference_markdown(yaml.safe_load((ROOT / "schemas" / "config.schema.yaml").read_text())), end="")
    return 0


def _power_arguments(w: argparse.ArgumentParser) -> None:
    """The power command's flags: the config, where the spread comes from, and what replaces it."""
    w.add_argument("--configfile", nargs="*", default=[], metavar="FILE", help="presets merged over config.yaml")
    w.add_argument("--results", default="results",
                   help="an earlier run's results folder to measure the spread on (default: results)")  # fmt: skip
    w.add_argument("--sigma", type=float, nargs="+",
                   help="spread of log steps per judged stage (one value: every stage)")  # fmt: skip
    w.add_argument("--median-steps", type=float, nargs="+", help="median steps per judged stage, "
                   "measured where --median-side and --median-d-model say")  # fmt: skip
    w.add_argument("--median-side", choices=["off", "on"], default="off",
                   help="the side --median-steps were measured on (default: off)")  # fmt: skip
    w.add_argument("--median-d-model", type=int, help="the d_model --median-steps were measured at "
                   "(default: the design's reference size)")  # fmt: skip
    w.add_argument("--spreads", default=str(ROOT / "docs/spreads"),
                   help="recorded spreads ({ablation}.json), used where --results holds no runs "
                   "(default: docs/spreads)")  # fmt: skip
    w.add_argument("--save-spread", metavar="FOLDER",
                   help="record the spread measured in --results as FOLDER/{ablation}.json")  # fmt: skip
    w.add_argument("--run-share", type=float, help="share of the variance common to a run's stages (0 to 0.9)")
    w.add_argument("--size-slope", type=float, nargs="+", help="alpha in steps ~ N^-alpha per judged stage")
    w.add_argument("--seeds", type=int, help="runs per side and size (default: the config's seeds)")
    w.add_argument("--sims", type=int, default=100, help="simulated experiments per effect (default 100)")
    w.add_argument("--interval-sims", type=int, default=20, help="simulated experiments under no effect on which "
                   "the analysis's own interval is computed, a few seconds each (default 20; 0: none)")  # fmt: skip


def length(args: argparse.Namespace) -> int:
    from .analysis.length import section_of

    try:
        print("\n".join(section_of(Path(args.results))))
    except FileNotFoundError as e:
        print(e, file=sys.stderr)
        return 2
    return 0


def watch(args: argparse.Namespace) -> int:
    from .report.watch import draw, report

    print(report(Path(args.results)))
    if args.png:
        draw(Path(args.results), Path(args.png))
        print(f"curves so far: {args.png}")
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
    _power_arguments(sub.add_parser("power", help="simulate the primary family's design and print its power and "
                                     "smallest detectable effects"))  # fmt: skip
    g = sub.add_parser("png", help="draw a results folder's scaling figure as a small PNG (the README's picture)")
    g.add_argument("results", help="a results folder")
    g.add_argument("out", help="the PNG to write, e.g. docs/figure.png")
    g.add_argument("--length", metavar="ABLATION", help="draw that ablation's length figure instead (docs/length.png)")
    k = sub.add_parser("code-inputs", help="each rule's code inputs, or the rules an edit of FILE reruns")
    k.add_argument("file", nargs="?", help="a file of the package, e.g. src/arithsignal/model/size.py")
    sub.add_parser("config-docs", help="print docs/CONFIG.md, the config's reference, from the schema")
    f = sub.add_parser(
        "fingerprint", help="train a short run of the default shape and print the hash of its weights (numerics)"
    )
    f.add_argument("--steps", type=int, default=30, help="training steps (default 30)")
    w = sub.add_parser("watch", help="where every run of a results folder stands while it trains; --png: the curves")
    w.add_argument("results", nargs="?", default="results", help="a results folder (default: results)")
    w.add_argument("--png", metavar="FILE", help="also draw the curves so far (loss, unseen windows) to FILE")
    b = sub.add_parser("pilot-budgets", help="the map's stage budgets from its pilot's runs (docs/CALIBRATION.md)")
    b.add_argument("--configfile", nargs="*", default=[], metavar="FILE", help="the pilot's preset")
    b.add_argument("--results", default="results", help="the results folder the pilot trained in")
    t = sub.add_parser("timings", help="training time per variant of a results folder, and the measures' share of it")
    t.add_argument("results", help="a results folder (e.g. results)")
    n = sub.add_parser("length", help="a preset's length tables (summary.md's section) from its results folder, "
                       "with each run's extension and cells")  # fmt: skip
    n.add_argument("results", help="a preset's results folder, e.g. results/length")
    args = p.parse_args(argv)
    try:
        return {
            "compare": compare,
            "timings": timings,
            "pilot-budgets": pilot_budgets,
            "show": show,
            "power": power,
            "config-docs": config_docs,
            "code-inputs": code_inputs,
            "png": png,
            "fingerprint": fingerprint,
            "watch": watch,
            "length": length,
        }[args.command](args)
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
