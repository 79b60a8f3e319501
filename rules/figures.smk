# Figures: each reads only the runs it shows, so asking for one builds only what it needs.


localrules:
    plot_ablation,
    plot_progress,
    plot_failures,
    plot_sweep,
    plot_scaling,
    plot_map,
    plot_length,


rule plot_ablation:
    input:
        unpack(ablation_run_tables("graduations", "windows", "eval")),
        code=pkg("report.figures.ablation"),
        stats=f"{OUT}/metrics/ablation_{{ablation}}.parquet",
    output:
        report(
            f"{OUT}/ablation_{{ablation}}.pdf",
            category="Ablations",
            subcategory="{ablation}",
            caption="../report/ablation.rst",
        ),
    log:
        f"{OUT}/logs/plot_ablation/{{ablation}}.log",
    conda:
        "../envs/plot.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        ablation=ablation_spec,
        canonical=ablation_canonical,
        stage_order=STAGES,
    script:
        "../workflow_scripts/plot_ablation.py"


rule plot_progress:
    input:
        code=pkg("report.figures.progress"),
        logs=lambda w: run_files("train_log.parquet", [w.variant]),
        windows=lambda w: run_files("windows.parquet", [w.variant]),
        graduations=lambda w: run_files("graduations.parquet", [w.variant]),
    output:
        report(
            f"{OUT}/progress_{{variant}}.pdf",
            category="Progress",
            subcategory="{variant}",
            caption="../report/progress.rst",
        ),
    log:
        f"{OUT}/logs/plot_progress/{{variant}}.log",
    conda:
        "../envs/plot.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../workflow_scripts/plot_progress.py"


rule plot_failures:
    input:
        code=pkg("report.figures.failures"),
        eval=run_files(EVAL_FILE),
    output:
        report(f"{OUT}/failures.pdf", category="Failures", caption="../report/failures.rst"),
    log:
        f"{OUT}/logs/plot_failures.log",
    conda:
        "../envs/plot.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../workflow_scripts/plot_failures.py"


rule plot_sweep:
    input:
        code=pkg("report.figures.sweep"),
        table=f"{OUT}/metrics/sweep_{{sweep}}.parquet",
    output:
        report(f"{OUT}/sweep_{{sweep}}.pdf", category="Sweeps", subcategory="{sweep}", caption="../report/sweep.rst"),
    log:
        f"{OUT}/logs/plot_sweep/{{sweep}}.log",
    conda:
        "../envs/plot.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        stage_order=STAGES,
    script:
        "../workflow_scripts/plot_sweep.py"


rule plot_scaling:
    input:
        code=pkg("report.figures.scaling"),
        runs=f"{OUT}/metrics/scaling_runs.parquet",
        fit=f"{OUT}/metrics/scaling_fit.parquet",
    output:
        report(f"{OUT}/scaling.pdf", category="Scaling", caption="../report/scaling.rst"),
    log:
        f"{OUT}/logs/plot_scaling.log",
    conda:
        "../envs/plot.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        stage_order=STAGES,
    script:
        "../workflow_scripts/plot_scaling.py"


rule plot_map:
    input:
        code=pkg("report.figures.maps"),
        table=f"{OUT}/metrics/map_{{ablation}}.parquet",
    output:
        report(f"{OUT}/map_{{ablation}}.pdf", category="Maps", subcategory="{ablation}", caption="../report/map.rst"),
    log:
        f"{OUT}/logs/plot_map/{{ablation}}.log",
    conda:
        "../envs/plot.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        stage_order=STAGES,
    script:
        "../workflow_scripts/plot_map.py"


rule plot_length:
    input:
        code=pkg("report.figures.length"),
        scores=lambda w: ablation_runs(w.ablation, LENGTH_FILE),
    output:
        report(
            f"{OUT}/length_{{ablation}}.pdf",
            category="Length generalisation",
            subcategory="{ablation}",
            caption="../report/length.rst",
        ),
    log:
        f"{OUT}/logs/plot_length/{{ablation}}.log",
    conda:
        "../envs/plot.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        ablation=ablation_spec,
        canonical=ablation_canonical,
        solved_at=LENGTH["solved_at"] if LENGTH else None,
    script:
        "../workflow_scripts/plot_length.py"
