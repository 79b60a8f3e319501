# Training: one job per (variant, seed); resumes from results/runs/.../checkpoint.pt if killed.


rule train:
    input:
        code=pkg("train.loop"),
        train=lambda w: data_files(w.variant, "train"),
        train_pool=lambda w: data_files(w.variant, "train_pool"),  # steps to fit
        unseen_pool=lambda w: data_files(w.variant, "unseen_pool"),  # steps to generalise (never trained on)
    output:
        train_log=f"{RUN_DIR}/train_log.parquet",
        windows=f"{RUN_DIR}/windows.parquet",
        graduations=f"{RUN_DIR}/graduations.parquet",
        model=f"{RUN_DIR}/model.pt",
        stage_models=f"{RUN_DIR}/stage_models.pt",  # the weights at each stage's end, for the evaluation at stage end
    log:
        "results/logs/train/{variant}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{variant}/seed{seed}.tsv"
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
        checkpoint_every=config["execution"]["checkpoint_every"],  # an execution setting: in no hash, reruns nothing
    params:
        settings=lambda w: run_settings(w.variant),
    script:
        "../workflow_scripts/train.py"
