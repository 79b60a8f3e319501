# Aggregation: every run's tables into results/metrics/, per-ablation statistics, and the summary.


localrules:
    aggregate,
    ablation_stats,
    confirm,
    summary,
    sweep_stats,
    scaling,
    length_stats,


rule aggregate:
    input:
        code=pkg("analysis.outcomes"),
        graduations=run_files("graduations.parquet"),
        train_log=run_files("train_log.parquet"),
        windows=run_files("windows.parquet"),
        eval=run_files("eval.parquet"),
    output:
        **{t: f"results/metrics/{t}.parquet" for t in METRIC_TABLES},
    log:
        "results/logs/aggregate.log",
    conda:
        "../envs/plot.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../workflow_scripts/aggregate.py"


rule ablation_stats:
    input:
        unpack(ablation_run_tables("graduations", "windows", "eval")),
        code=pkg("analysis.outcomes"),
        on_data=lambda w: ablation_data(w.ablation, "on"),
        off_data=lambda w: ablation_data(w.ablation, "off"),
    output:
        "results/metrics/ablation_{ablation}.parquet",
    log:
        "results/logs/ablation_stats/{ablation}.log",
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
        "../workflow_scripts/ablation_stats.py"


rule confirm:
    """The confirmatory analysis: the declared family of primary hypotheses, decided with Holm's correction."""
    input:
        code=pkg("analysis.confirm"),
        graduations=lambda w: family_run_files("graduations.parquet"),
    output:
        "results/metrics/confirmatory.parquet",
    log:
        "results/logs/confirm.log",
    conda:
        "../envs/plot.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        analysis=canon(ANALYSIS or {}),
        runs=family_runs(),
    script:
        "../workflow_scripts/confirm.py"


rule summary:
    input:
        unpack(summary_extras),
        code=pkg("report.summary"),
        stats=expand("results/metrics/ablation_{ablation}.parquet", ablation=ABLATIONS),
        eval=run_files("eval.parquet"),
        graduations=run_files("graduations.parquet"),
        train_log=run_files("train_log.parquet"),
        windows=run_files("windows.parquet"),
    output:
        markdown=report("results/summary.md", category="Summary", caption="../report/summary.rst"),
        table="results/metrics/ablation_stats.parquet",
    log:
        "results/logs/summary.log",
    conda:
        "../envs/plot.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        meta=canon(
            {
                "stages": STAGES,
                "seeds": SEEDS,
                "graduation": config["graduation"],
                "stage_budget": config["curriculum"]["stage_budget"],
                "ablation_runs": ablation_runs_of_sides(),
                **({"alpha": ANALYSIS["alpha"]} if ANALYSIS else {}),
                **({"length_solved_at": LENGTH["solved_at"]} if LENGTH else {}),
            }
        ),
    script:
        "../workflow_scripts/summary.py"


rule sweep_stats:
    input:
        code=pkg("analysis.sweeps"),
        graduations=lambda w: sweep_runs(w.sweep, "graduations.parquet"),
        windows=lambda w: sweep_runs(w.sweep, "windows.parquet"),
        train_log=lambda w: sweep_runs(w.sweep, "train_log.parquet"),
    output:
        table="results/metrics/sweep_{sweep}.parquet",
        markdown="results/sweep_{sweep}.md",
    log:
        "results/logs/sweep_stats/{sweep}.log",
    conda:
        "../envs/plot.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        points=lambda w: sweep_params(w.sweep),
        stage_order=STAGES,
    script:
        "../workflow_scripts/sweep_stats.py"


rule scaling:
    input:
        code=pkg("analysis.scaling"),
        table=lambda w: f"results/metrics/sweep_{SCALING_SWEEP}.parquet",
        base_graduations=lambda w: run_files("graduations.parquet", sorted({b["run"] for b in scaling_bases()})),
        on_data=lambda w: scaling_data("on"),
        off_data=lambda w: scaling_data("off"),
    output:
        runs="results/metrics/scaling_runs.parquet",
        fit="results/metrics/scaling_fit.parquet",
        markdown=report("results/scaling.md", category="Scaling", caption="../report/scaling.rst"),
    log:
        "results/logs/scaling.log",
    conda:
        "../envs/plot.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        points=lambda w: sweep_params(SCALING_SWEEP),
        bases=lambda w: scaling_bases(),
        models=lambda w: scaling_models(),
        comparisons=canon(C.scaling_comparisons(config)),
        stage_order=STAGES,
        sweep=SCALING_SWEEP,
    script:
        "../workflow_scripts/scaling.py"


rule length_stats:
    """The length split over every run: scores, the extension ratio per run, and each ablation's effect on it."""
    input:
        code=pkg("analysis.length"),
        scores=run_files("length.parquet"),
    output:
        scores="results/metrics/length.parquet",
        runs="results/metrics/length_runs.parquet",
        ablations="results/metrics/length_ablations.parquet",
    log:
        "results/logs/length_stats.log",
    conda:
        "../envs/plot.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        ablations=canon(config["ablations"]),
        canonical=ablations_canonical(),
        solved_at=LENGTH["solved_at"] if LENGTH else None,
        alpha=config.get("analysis", {}).get("alpha", 0.05),
    script:
        "../workflow_scripts/length_stats.py"
