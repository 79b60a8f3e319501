# Evaluation: greedy decoding of every stage's test and commutation (b x a) splits,
# at the stage's end and after the last stage.


rule evaluate:
    input:
        code=pkg("evaluate.held_out"),
        model=f"{RUN_DIR}/model.pt",
        stage_models=f"{RUN_DIR}/stage_models.pt",
        test=run_data("test"),
        commute=run_data("commute"),
    output:
        f"{RUN_DIR}/{EVAL_FILE}",
    log:
        f"results/logs/evaluate/{{run}}/seed{{seed}}_{EVAL_FILE.removesuffix('.parquet')}.log",
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        settings=lambda w: run_settings(VARIANT_OF_RUN[w.run]),
        variant=lambda w: VARIANT_OF_RUN[w.run],
        evaluation=canon(config["evaluation"]),
    script:
        "../workflow_scripts/evaluate.py"


rule evaluate_length:
    """The final model on the length split (config length:), one row per problem."""
    input:
        code=pkg("evaluate.held_out"),
        model=f"{RUN_DIR}/model.pt",
        length=lambda w: length_data(VARIANT_OF_RUN[w.run]),
    output:
        f"{RUN_DIR}/{LENGTH_FILE}",
    log:
        f"results/logs/evaluate_length/{{run}}/seed{{seed}}_{LENGTH_FILE.removesuffix('.parquet')}.log",
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        settings=lambda w: run_settings(VARIANT_OF_RUN[w.run]),
        variant=lambda w: VARIANT_OF_RUN[w.run],
        evaluation=canon(config["evaluation"]),
    script:
        "../workflow_scripts/evaluate_length.py"
