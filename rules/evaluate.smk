# Evaluation: greedy decoding of every stage's test and commutation (b x a) splits,
# at the stage's end and after the last stage.


rule evaluate:
    input:
        code=pkg("evaluate.held_out"),
        model=f"{RUN_DIR}/model.pt",
        stage_models=f"{RUN_DIR}/stage_models.pt",
        test=lambda w: data_files(w.variant, "test"),
        commute=lambda w: data_files(w.variant, "commute"),
    output:
        f"{RUN_DIR}/eval.parquet",
    log:
        "results/logs/evaluate/{variant}/seed{seed}.log",
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        settings=lambda w: run_settings(w.variant),
        evaluation=canon(config["evaluation"]),
    script:
        "../workflow_scripts/evaluate.py"


rule evaluate_length:
    """The final model on the length split (config length:), one row per problem."""
    input:
        code=pkg("evaluate.held_out"),
        model=f"{RUN_DIR}/model.pt",
        length=lambda w: length_data(w.variant),
    output:
        f"{RUN_DIR}/length.parquet",
    log:
        "results/logs/evaluate_length/{variant}/seed{seed}.log",
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        settings=lambda w: run_settings(w.variant),
        evaluation=canon(config["evaluation"]),
    script:
        "../workflow_scripts/evaluate_length.py"
