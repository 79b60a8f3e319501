"""Scoring helpers and the error taxonomy."""

import pytest

from arithsignal.evaluate.held_out import classify_error, first_wrong
from arithsignal.model.decode import digit_accuracy


def test_first_wrong():
    assert first_wrong("C01;A46$", "C01;A46$") == -1
    assert first_wrong("C01;A47$", "C01;A46$") == 6
    assert first_wrong("C01;A4", "C01;A46$") == 6


def test_digit_accuracy_is_right_aligned():
    assert digit_accuracy("A1035$", "A1035$") == 1.0
    assert digit_accuracy("A1045$", "A1035$") == 0.75
    assert digit_accuracy("A035$", "A1035$") == 0.75
    assert digit_accuracy("C01;", "A1035$") == 0.0


@pytest.mark.parametrize(
    "pred, true, cls",
    [
        ("1035", 1035, "correct"),
        ("1045", 1035, "off_by_one_digit_1"),
        ("1036", 1035, "off_by_one_digit_0"),
        ("2070", 1035, "doubled"),
        ("1034", 2068, "halved"),
        ("2072", 1035, "pm1_doubled"),
        ("517", 1035, "pm1_halved"),
        ("9999", 1035, "other"),
        ("", 1035, "malformed"),
    ],
)
def test_error_taxonomy(pred, true, cls):
    assert classify_error(pred, true) == cls


def test_a_stage_the_run_never_reached_is_scored_with_the_final_model_only(tmp_path):
    """A run that stopped after a censored stage (curriculum.after_censored: stop) has no weights at the end of the
    stages it never reached: the evaluation scores those with the final model alone, and the stage-end accuracy the
    analysis reads leaves them out."""
    import copy

    import torch
    from test_training import DATA, SETTINGS, stages

    from arithsignal.analysis.outcomes import stage_end_accuracy
    from arithsignal.core.io import read_parquet, write_parquet
    from arithsignal.data.formats import Factors
    from arithsignal.data.splits import Stage, build_stage
    from arithsignal.evaluate.held_out import evaluate_job
    from arithsignal.model.store import save_model, save_stage_models
    from arithsignal.train.loop import Trainer

    s = copy.deepcopy(SETTINGS)
    s["curriculum"].update(stage_budget=60, after_censored="stop")
    s["graduation"].update(windows=2, window_every=30)
    specs = [Stage("mul_2x2", "mul", (2, 2)), Stage("add_1x1", "add", (1, 1))]
    tr = Trainer(s, seed=0, stages=stages(*specs), device=torch.device("cpu"), log=lambda m: None)
    tr.run(checkpoint=None, log_every=30)
    names = [st.name for st in specs]
    save_model(tr.model, tmp_path / "model.pt", {})
    save_stage_models(tr.model, names[: len(tr.stage_models)], tr.stage_models, tmp_path / "stage_models.pt", {})
    inputs = {"model": tmp_path / "model.pt", "stage_models": tmp_path / "stage_models.pt", "test": [], "commute": []}
    for st in specs:
        frames = build_stage(st, Factors(), DATA)
        for split in ("test", "commute"):
            write_parquet(frames[split], tmp_path / f"{st.name}_{split}.parquet")
            inputs[split].append(tmp_path / f"{st.name}_{split}.parquet")
    evaluate_job(s, {"batch_size": 64, "top_k": 2}, "v", 0, inputs, str(tmp_path / "eval.parquet"))
    ev = read_parquet(tmp_path / "eval.parquet")
    assert set(ev.loc[ev["when"] == "stage_end", "stage"]) == {"mul_2x2"}
    assert set(ev.loc[ev["when"] == "final", "stage"]) == {"mul_2x2", "add_1x1"}
    assert list(stage_end_accuracy(ev)["stage"]) == ["mul_2x2"]
