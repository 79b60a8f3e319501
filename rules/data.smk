# Data: one job per (data format, stage) writes its splits (train, train_pool, unseen_pool, test, commute:
# data.splits.SPLITS); one job per data format writes the length split.


rule make_dataset:
    input:
        code=pkg("data.splits"),
    output:
        **{split: f"{DATA_DIR}/{{fmt}}/{{stage}}/{split}.parquet" for split in SPLITS},
    log:
        f"results/logs/make_dataset/{DATA_KEY}/{{fmt}}/{{stage}}.log",
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        stage=lambda w: canon(STAGE_SPEC[w.stage]),
        factors=lambda w: canon(F.parse_format_key(w.fmt)),
        data=canon(config["data"]),
    script:
        "../workflow_scripts/make_dataset.py"


rule make_length_split:
    """The length split (config length:): held-out problems of every operand-length cell, longer ones included."""
    input:
        code=pkg("data.splits"),
    output:
        f"{DATA_DIR}/{{fmt}}/{LENGTH_SPLIT}",
    log:
        f"results/logs/make_length_split/{DATA_KEY}/{{fmt}}_{LENGTH_SPLIT.removesuffix('.parquet')}.log",
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        stages=canon(config["stages"]),
        length=canon(LENGTH or {}),
        factors=lambda w: canon(F.parse_format_key(w.fmt)),
        data=canon(config["data"]),
    script:
        "../workflow_scripts/make_length_split.py"
