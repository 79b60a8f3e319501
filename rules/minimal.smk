# The minimal SNR model: its own small branch of the DAG (CPU seconds), independent of the transformer runs.


localrules:
    plot_minimal_model,
    minimal_model_summary,


rule minimal_model:
    input:
        code=pkg("minimal.experiments"),
    output:
        f"{OUT}/minimal_model/{{experiment}}.parquet",
    log:
        f"{OUT}/logs/minimal_model/{{experiment}}.log",
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        settings=canon(config["minimal_model"]),
    script:
        "../workflow_scripts/minimal_model.py"


rule plot_minimal_model:
    input:
        code=pkg("report.figures.minimal"),
        data=f"{OUT}/minimal_model/{{experiment}}.parquet",
    output:
        report(
            f"{OUT}/minimal_model_{{experiment}}.pdf",
            category="Minimal SNR model",
            caption="../report/minimal.rst",
        ),
    log:
        f"{OUT}/logs/plot_minimal_model/{{experiment}}.log",
    conda:
        "../envs/plot.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../workflow_scripts/plot_minimal_model.py"


rule minimal_model_summary:
    input:
        code=pkg("minimal.summary"),
        data=expand(f"{OUT}/minimal_model/{{experiment}}.parquet", experiment=MINIMAL_EXPERIMENTS),
    output:
        report(f"{OUT}/minimal_model_summary.md", category="Minimal SNR model", caption="../report/minimal.rst"),
    log:
        f"{OUT}/logs/minimal_model_summary.log",
    conda:
        "../envs/train.yaml"  # minimal/summary.py reads constants of minimal/experiments.py, which imports torch
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../workflow_scripts/minimal_model_summary.py"
