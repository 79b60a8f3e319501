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
    run=C.VARIANT_NAME.pattern.strip("^$"),
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


onsuccess:
    from arithsignal.report.decisions import decisions_text

    print(decisions_text(OUT, [os.path.relpath(f) for f in workflow.overwrite_configfiles]))


rule all:
    default_target: True
    input:
        metrics=expand(f"{OUT}/metrics/{{table}}.parquet", table=METRIC_TABLES),
        ablations=expand(f"{OUT}/ablation_{{ablation}}.pdf", ablation=ABLATIONS),
        progress=expand(f"{OUT}/progress_{{variant}}.pdf", variant=RUN_VARIANTS),
        failures=f"{OUT}/failures.pdf",
        summary=f"{OUT}/summary.md",
        config=f"{OUT}/config.yaml",
        minimal=expand(f"{OUT}/minimal_model_{{experiment}}.pdf", experiment=MINIMAL_EXPERIMENTS),
        minimal_summary=f"{OUT}/minimal_model_summary.md",
        sweeps=expand(f"{OUT}/sweep_{{sweep}}.{{ext}}", sweep=SWEEPS, ext=["pdf", "md"]),
        scaling=[f"{OUT}/scaling.pdf", f"{OUT}/scaling.md"] if SCALING_SWEEP else [],
        maps=expand(f"{OUT}/map_{{ablation}}.pdf", ablation=MAPS),
        length=(
            ([f"{OUT}/metrics/length.parquet"] + expand(f"{OUT}/length_{{ablation}}.pdf", ablation=ABLATIONS))
            if LENGTH
            else []
        ),


rule sweeps:
    """Every sweep's figure and table (e.g. the calibration: --configfile=presets/calibrate.yaml)."""
    input:
        figures=expand(f"{OUT}/sweep_{{sweep}}.pdf", sweep=SWEEPS),
        tables=expand(f"{OUT}/sweep_{{sweep}}.md", sweep=SWEEPS),
