# How the signal written into arithmetic training data changes convergence speed.
# Stages: data -> train -> evaluate -> aggregate -> figures (one file per stage in rules/).
# Execution settings (cores, cluster, resources) live in profiles/, the experiment in config.yaml.


from pathlib import Path


# the workflow's own config.yaml, wherever Snakemake runs (-d OTHER_DIR); a relative --configfile is the caller's
configfile: Path(workflow.basedir) / "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"


wildcard_constraints:
    variant=C.VARIANT_NAME.pattern.strip("^$"),
    seed=r"\d+",
    stage="[A-Za-z0-9_]+",
    fmt=F.FORMAT_KEY_PATTERN,
    sweep="[A-Za-z0-9_]+",
    ablation="[A-Za-z0-9_]+",
    experiment="|".join(MINIMAL_EXPERIMENTS),


include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/aggregate.smk"
include: "rules/figures.smk"
include: "rules/minimal.smk"


rule all:
    default_target: True
    input:
        metrics=expand("results/metrics/{table}.parquet", table=METRIC_TABLES),
        ablations=expand("results/ablation_{ablation}.pdf", ablation=ABLATIONS),
        progress=expand("results/progress_{variant}.pdf", variant=RUN_VARIANTS),
        failures="results/failures.pdf",
        summary="results/summary.md",
        minimal=expand("results/minimal_model_{experiment}.pdf", experiment=MINIMAL_EXPERIMENTS),
        minimal_summary="results/minimal_model_summary.md",
        sweeps=expand("results/sweep_{sweep}.{ext}", sweep=SWEEPS, ext=["pdf", "md"]),
        scaling=["results/scaling.pdf", "results/scaling.md"] if SCALING_SWEEP else [],
        length=(
            (["results/metrics/length.parquet"] + expand("results/length_{ablation}.pdf", ablation=ABLATIONS))
            if LENGTH
            else []
        ),


rule sweeps:
    """Every sweep's figure and table (e.g. the calibration: --configfile=presets/calibrate.yaml)."""
    input:
        figures=expand("results/sweep_{sweep}.pdf", sweep=SWEEPS),
        tables=expand("results/sweep_{sweep}.md", sweep=SWEEPS),
