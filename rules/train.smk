# Training: one job per (variant, seed); resumes from results/runs/.../checkpoint.pt if killed. Its tables go out as
# they grow (live.jsonl beside the checkpoint; TensorBoard where installed), for `python -m arithsignal watch`.


rule train:
    input:
        code=pkg("train.loop"),
        train=run_data("train"),
        train_pool=run_data("train_pool"),  # steps to fit
        unseen_pool=run_data("unseen_pool"),  # steps to generalise (never trained on)
    output:
        train_log=f"{RUN_DIR}/train_log.parquet",
        windows=f"{RUN_DIR}/windows.parquet",
        graduations=f"{RUN_DIR}/graduations.parquet",
        model=f"{RUN_DIR}/model.pt",
        stage_models=f"{RUN_DIR}/stage_models.pt",  # the weights at each stage's end, for the evaluation at stage end
    log:
        "results/logs/train/{run}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{run}/seed{seed}.tsv"
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
        checkpoint_every=config["execution"]["checkpoint_every"],  # an execution setting: in no hash, reruns nothing
    params:
        settings=lambda w: run_settings(VARIANT_OF_RUN[w.run]),
        variant=lambda w: VARIANT_OF_RUN[w.run],
        tensorboard=lambda w: f"results/tensorboard/{w.run}/seed{w.seed}",  # where TensorBoard is installed
    script:
        "../workflow_scripts/train.py"
