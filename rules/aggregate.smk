# Aggregation: every run's tables into results/metrics/<table>.parquet.


localrules:
    aggregate,


rule aggregate:
    input:
        code=pkg("io", "aggregate"),
        graduations=run_files("graduations.parquet"),
        train_log=run_files("train_log.parquet"),
        windows=run_files("windows.parquet"),
        eval=run_files("eval.parquet"),
    output:
        **{t: f"results/metrics/{t}.parquet" for t in METRIC_TABLES},
    log:
        "results/logs/aggregate.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/plot.yaml"
    script:
        "../workflow_scripts/aggregate.py"
