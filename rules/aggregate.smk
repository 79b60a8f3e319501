# Aggregation: every run's tables into results/metrics/, per-ablation statistics, and the summary.


localrules:
    preset_config,
    aggregate,
    ablation_stats,
    confirm,
    summary,
    sweep_stats,
    scaling,
    map_stats,
    length_stats,


rule preset_config:
    """The merged config of the preset whose folder this is (config.yaml with its --configfile over it), but its
    execution settings (how jobs run, not what they compute: changing them reruns nothing)."""
    output:
        f"{OUT}/config.yaml",
    log:
        f"{OUT}/logs/preset_config.log",
    conda:
        "../envs/plot.yaml"
    params:
        config=canon({k: v for k, v in config.items() if k != "execution"}),
        preset=PRESET,
    script:
        "../workflow_scripts/preset_config.py"


rule aggregate:
    input:
        code=pkg("analysis.outcomes"),
        graduations=run_files("graduations.parquet"),
        train_log=run_files("train_log.parquet"),
        windows=run_files("windows.parquet"),
        eval=run_files(EVAL_FILE),
    output:
        **{t: f"{OUT}/metrics/{t}.parquet" for t in METRIC_TABLES},
    log:
        f"{OUT}/logs/aggregate.log",
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
        f"{OUT}/metrics/ablation_{{ablation}}.parquet",
    log:
        f"{OUT}/logs/ablation_stats/{{ablation}}.log",
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
        evals=lambda w: family_run_files(EVAL_FILE, thresholds_only=True),
    output:
        f"{OUT}/metrics/confirmatory.parquet",
    log:
        f"{OUT}/logs/confirm.log",
    conda:
        "../envs/plot.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        analysis=canon(ANALYSIS or {}),
        runs=family_runs(),
        seeds=SEEDS,
    script:
        "../workflow_scripts/confirm.py"


rule summary:
    input:
        unpack(summary_extras),
        code=pkg("report.summary"),
        stats=expand(f"{OUT}/metrics/ablation_{{ablation}}.parquet", ablation=ABLATIONS),
        eval=run_files(EVAL_FILE),
        graduations=run_files("graduations.parquet"),
        train_log=run_files("train_log.parquet"),
        windows=run_files("windows.parquet"),
    output:
        markdown=f"{OUT}/summary.md",
        html=report(f"{OUT}/summary.html", category="Decisions", caption="../report/summary.rst"),
        table=f"{OUT}/metrics/ablation_stats.parquet",
    log:
        f"{OUT}/logs/summary.log",
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
                "own_budgets": {s["name"]: s["budget"] for s in config["stages"] if "budget" in s},
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
        table=f"{OUT}/metrics/sweep_{{sweep}}.parquet",
        markdown=f"{OUT}/sweep_{{sweep}}.md",
    log:
        f"{OUT}/logs/sweep_stats/{{sweep}}.log",
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
        table=lambda w: f"{OUT}/metrics/sweep_{SCALING_SWEEP}.parquet",
        base_graduations=lambda w: run_files("graduations.parquet", sorted({b["run"] for b in scaling_bases()})),
        on_data=lambda w: scaling_data("on"),
        off_data=lambda w: scaling_data("off"),
    output:
        runs=f"{OUT}/metrics/scaling_runs.parquet",
        fit=f"{OUT}/metrics/scaling_fit.parquet",
        markdown=report(f"{OUT}/scaling.md", category="Scaling", caption="../report/scaling.rst"),
    log:
        f"{OUT}/logs/scaling.log",
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


rule map_stats:
    """An ablation's effect over model size and stage, cell by cell (config maps:)."""
    input:
        code=pkg("analysis.maps"),
        graduations=map_run_files("graduations.parquet"),
        evals=map_run_files(EVAL_FILE),
        on_data=lambda w: ablation_data(w.ablation, "on"),
        off_data=lambda w: ablation_data(w.ablation, "off"),
    output:
        f"{OUT}/metrics/map_{{ablation}}.parquet",
    log:
        f"{OUT}/logs/map_stats/{{ablation}}.log",
    conda:
        "../envs/plot.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        entry=lambda w: canon({**MAPS[w.ablation], "factor": ABLATION_SPEC[w.ablation]["factor"]}),
        runs=lambda w: map_runs(w.ablation),
        stages=canon(config["stages"]),
        seeds=SEEDS,
    script:
        "../workflow_scripts/map_stats.py"


rule length_stats:
    """The length split over every run: scores, the extension ratio per run, and each ablation's effect on it."""
    input:
        code=pkg("analysis.length"),
        scores=run_files(LENGTH_FILE),
    output:
        scores=f"{OUT}/metrics/length.parquet",
        runs=f"{OUT}/metrics/length_runs.parquet",
        ablations=f"{OUT}/metrics/length_ablations.parquet",
    log:
        f"{OUT}/logs/length_stats.log",
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
