# Helpers shared by every rule: config checks, variants, paths, and code inputs.
import os
from pathlib import Path

import yaml
from snakemake.utils import validate

SRC = Path(workflow.basedir) / "src"
# jobs import the package from this checkout, installed or not (also inside conda envs)
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))

import sys  # noqa: E402

sys.path.insert(0, str(SRC))
from arithsignal.config import experiment as C  # noqa: E402
from arithsignal.config.checks import check  # noqa: E402
from arithsignal.core import imports as I  # noqa: E402
from arithsignal.data import formats as F  # noqa: E402

# A bad config stops here, before any job runs, naming the key.
validate(config, "../schemas/config.schema.yaml")
check(config, yaml.safe_load((Path(workflow.basedir) / "schemas/config.schema.yaml").read_text()))

# Each preset's tables, figures and summary in a folder of its own (the default's: results/); runs are shared.
PRESET = C.preset_name(
    config,
    [
        f
        for f in workflow.overwrite_configfiles
        if Path(f).resolve() != (Path(workflow.basedir) / "config.yaml").resolve()
    ],
)
OUT = C.results_folder(PRESET)
STAGES = [s["name"] for s in config["stages"]]
STAGE_SPEC = {s["name"]: s for s in config["stages"]}
SEEDS = config["seeds"]
CANONICAL = C.canonical_variants(config)  # variants (sweep points too) with equal settings share runs
RUN_VARIANTS = sorted({CANONICAL[v["name"]] for v in config["variants"]})  # the config's own variants' runs
RUN_KEY = C.run_keys(config)  # variant -> its run's folder: name-hash of what the run's files depend on
VARIANT_OF_RUN = {RUN_KEY[v]: c for v, c in CANONICAL.items()}
DATA_KEY = C.data_key(config)
DATA_DIR = f"results/data/{DATA_KEY}"  # the datasets this config's runs train on (shared by equal configs)
# what is read from a run, named after the settings it is read under, so that presets reading one run differently
# keep their own files, and changing them reruns only the reading
EVAL_FILE = f"eval_{C.key(config['evaluation'])}.parquet"
LENGTH_SPLIT = f"length_{C.key(config.get('length'))}.parquet"  # in the data folder of each format
LENGTH_FILE = f"length_{C.key([config.get('length'), config['evaluation']])}.parquet"
RUN_FILE = {t: f"{t}.parquet" for t in ("graduations", "train_log", "windows")} | {
    "eval": EVAL_FILE,
    "length": LENGTH_FILE,
}
SWEEP_POINTS = C.sweep_points(config)
SWEEPS = [sw["name"] for sw in config.get("sweeps", [])]
SCALING_SWEEP = config.get("scaling", {}).get("sweep")  # None: no scaling fit
ANALYSIS = config.get("analysis") if config.get("analysis", {}).get("family") else None  # None: no primary family
LENGTH = config.get("length")  # None: no length split
ABLATIONS = [a["name"] for a in config["ablations"]]
MAPS = {m["ablation"]: m for m in config.get("maps", [])}  # maps of an ablation's effect over size and stage
ABLATION_SPEC = {a["name"]: a for a in config["ablations"]}
METRIC_TABLES = ["graduations", "train_log", "windows", "eval"]
SPLITS = ["train", "train_pool", "unseen_pool", "test", "commute"]  # data.splits.SPLITS
MINIMAL_EXPERIMENTS = list(C.MINIMAL_EXPERIMENTS)

RUN_DIR = "results/runs/{run}/seed{seed}"  # shared by every preset that trains the same run


def workflow_file(path):
    """A file of the workflow as an input: relative to the working directory, so a results tree moved or copied
    with its workflow (or a clone in another folder) keeps its jobs up to date (Snakemake records input names)."""
    return os.path.relpath(path, os.getcwd())


LEDGER = workflow_file(Path(workflow.basedir) / "docs/attempts.csv")  # every attempt at a hypothesis (summary reads it)


def pkg(*modules):
    """Package modules that a job runs (dotted below arithsignal, e.g. ``train.loop``), declared as its inputs with
    everything they import, transitively (core/imports.py), so editing any of them reruns what uses it."""
    return sorted(workflow_file(I.module_file(SRC, m)) for m in I.dependencies(SRC, list(modules)))


def canon(obj):
    """Params with keys sorted at every level: Snakemake compares params by repr, and the
    order of keys in a YAML file is not a change of settings."""
    if isinstance(obj, dict):
        return {k: canon(obj[k]) for k in sorted(obj)}
    if isinstance(obj, list):
        return [canon(v) for v in obj]
    return obj


def run_settings(variant):
    return canon(C.effective_settings(config, variant))


def data_files(variant, split):
    fmt = F.format_key(run_settings(variant)["factors"])
    return [f"{DATA_DIR}/{fmt}/{stage}/{split}.parquet" for stage in STAGES]


def run_data(split):
    """Input function of a run's job: the datasets of one split that the run's variant is written in."""
    return lambda w: data_files(VARIANT_OF_RUN[w.run], split)


def run_files(name, variants=None):
    variants = RUN_VARIANTS if variants is None else variants
    return expand(f"{RUN_DIR}/{name}", run=[RUN_KEY[v] for v in variants], seed=SEEDS)


def ablation_spec(wildcards):
    """Params: the ablation's entry of the config."""
    return canon(ABLATION_SPEC[wildcards.ablation])


def ablation_canonical(wildcards):
    """Params: the run each of the ablation's two variants is trained under."""
    spec = ABLATION_SPEC[wildcards.ablation]
    return canon({spec[s]: CANONICAL[spec[s]] for s in ("on_variant", "off_variant")})


def ablation_run_tables(*tables):
    """Input function: {table: that per-run table of every run of the ablation's two variants}."""

    def inputs(wildcards):
        return {t: ablation_runs(wildcards.ablation, RUN_FILE[t]) for t in tables}

    return inputs


def ablation_data(ablation, side):
    """The training sets of one side of an ablation, stage by stage (to tell where the factor changes the data)."""
    return data_files(ABLATION_SPEC[ablation][f"{side}_variant"], "train")


def scaling_data(side):
    """The training sets of one side of every ablation the scaling fit compares, ablation by ablation,
    stage by stage."""
    return [f for c in C.scaling_comparisons(config) for f in ablation_data(c["name"], side)]


def ablation_runs_of_sides():
    """Per ablation: its factor and the run each side is trained under (for the summary's tables)."""
    return {
        a["name"]: {"factor": a["factor"], "on": CANONICAL[a["on_variant"]], "off": CANONICAL[a["off_variant"]]}
        for a in config["ablations"]
    }


def summary_extras(wildcards):
    """Input function: the summary's optional inputs, each where the config asks for it: the scaling report, the
    confirmatory table with the ledger of attempts, the maps, the length tables."""
    extras = {"scaling": f"{OUT}/scaling.md"} if SCALING_SWEEP else {}
    if ANALYSIS:
        extras |= {"confirmatory": f"{OUT}/metrics/confirmatory.parquet", "attempts": LEDGER}
    if MAPS:
        extras |= {"maps": expand(f"{OUT}/metrics/map_{{ablation}}.parquet", ablation=MAPS)}
    if LENGTH:
        extras |= {
            "length_scores": f"{OUT}/metrics/length.parquet",
            "length_runs": f"{OUT}/metrics/length_runs.parquet",
            "length_ablations": f"{OUT}/metrics/length_ablations.parquet",
        }
    return extras


def ablation_runs(ablation, name):
    spec = ABLATION_SPEC[ablation]
    return run_files(name, sorted({CANONICAL[spec["on_variant"]], CANONICAL[spec["off_variant"]]}))


def sweep_params(sweep):
    """A sweep's points in grid order: generated name, the run that trains it, base variant, swept values."""
    return canon(
        [
            {"variant": p.name, "run": CANONICAL[p.name], "base": p.base, "label": p.label, "values": p.values}
            for p in SWEEP_POINTS
            if p.sweep == sweep
        ]
    )


def scaling_bases():
    """Params: the variants the scaling sweep starts from and the runs they train under;
    their own size is on the axis."""
    sweep = C.scaling_sweep(config)
    return canon([{"variant": v, "run": CANONICAL[v]} for v in sweep["from"]]) if sweep else []


def scaling_models():
    """Params: the model settings of every size on the scaling axis, the sweep's points
    and the variants it starts from."""
    variants = [p.name for p in SWEEP_POINTS if p.sweep == SCALING_SWEEP] + [b["variant"] for b in scaling_bases()]
    return canon({v: run_settings(v)["model"] for v in variants})


def sweep_runs(sweep, name):
    return run_files(name, sorted({CANONICAL[p.name] for p in SWEEP_POINTS if p.sweep == sweep}))


def family_runs():
    """Params of the confirmatory analysis: per family entry (by ablation, or a threshold's name), the runs it is
    judged on with their side and model settings."""
    return canon({C.entry_name(h): C.analysis_runs(config, h) for h in ANALYSIS["family"]}) if ANALYSIS else {}


def family_run_files(name, thresholds_only=False):
    """The per-run tables of every run the confirmatory analysis reads (``thresholds_only``: of the runs its
    threshold entries read, whose held-out evaluations they test)."""
    entries = [h for h in ANALYSIS["family"] if "threshold" in h or not thresholds_only] if ANALYSIS else []
    runs = sorted({r["run"] for h in entries for r in C.analysis_runs(config, h)})
    return run_files(name, runs)


def length_data(variant):
    """The length split in a variant's format (one file per format, every operation)."""
    return f"{DATA_DIR}/{F.format_key(run_settings(variant)['factors'])}/{LENGTH_SPLIT}"


def ablations_canonical():
    """Params: every ablation variant's canonical run (for the tables that read all ablations at once)."""
    return canon({a[s]: CANONICAL[a[s]] for a in config["ablations"] for s in ("on_variant", "off_variant")})


def map_runs(ablation):
    """Params: the runs a map reads, both sides at every size of its sweep: {variant, run, side, model}."""
    return canon(C.analysis_runs(config, MAPS[ablation]))


def map_run_files(name):
    """Input function: a per-run table of every run a map reads."""
    return lambda w: run_files(name, sorted({r["run"] for r in map_runs(w.ablation)}))
