# Figures: each reads only the runs it shows, so it builds only what it needs.


localrules:
    plot_ablation,
    plot_curriculum,


rule plot_ablation:
    input:
        code=pkg("io", "aggregate", "plots"),
        graduations=lambda w: ablation_runs(w.ablation, "graduations.parquet"),
    output:
        "results/ablation_{ablation}.pdf",
    params:
        ablation=lambda w: canon(ABLATION_SPEC[w.ablation]),
        canonical=lambda w: canon({ABLATION_SPEC[w.ablation][s]: CANONICAL[ABLATION_SPEC[w.ablation][s]] for s in ("on_variant", "off_variant")}),
        stage_order=STAGES,
    log:
        "results/logs/plot_ablation/{ablation}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/plot.yaml"
    script:
        "../workflow_scripts/plot_ablation.py"


rule plot_curriculum:
    input:
        code=pkg("io", "aggregate", "plots"),
        logs=run_files("train_log.parquet"),
        graduations=run_files("graduations.parquet"),
    output:
        "results/curriculum.pdf",
    log:
        "results/logs/plot_curriculum.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/plot.yaml"
    script:
        "../workflow_scripts/plot_curriculum.py"
