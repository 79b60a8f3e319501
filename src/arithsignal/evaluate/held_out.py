"""Evaluation on held-out problems: the test and commutation splits, top-k at the first wrong token, error taxonomy.

Twice per run: each stage's splits with the model as it was when that stage ended (``when`` = stage_end,
before the next stage trained: generalisation), and every stage's splits with the final model (``final``:
what replaying earlier stages kept of them)."""

from __future__ import annotations

import pandas as pd
import torch

from ..data.formats import VOCAB, answer_text
from ..model.decode import score_exact
from ..model.gpt import GPT


def classify_error(predicted: str, true: int) -> str:
    """Error taxonomy of a wrong answer (the write-up's claim 6)."""
    if not predicted.isdigit():
        return "malformed"
    p = int(predicted)
    if p == true:
        return "correct"  # callers with a wrong completion report this as right_answer_wrong_scratchpad
    ps, ts = str(p), str(true)
    if len(ps) == len(ts):
        diff = [i for i, (x, y) in enumerate(zip(ps, ts, strict=True)) if x != y]
        if len(diff) == 1 and abs(int(ps[diff[0]]) - int(ts[diff[0]])) == 1:
            return f"off_by_one_digit_{len(ts) - 1 - diff[0]}"  # digit k counted from the units
    if p == 2 * true:
        return "doubled"
    if 2 * p == true:
        return "halved"
    for d in (1, -1):
        if p == 2 * (true + d):
            return "pm1_doubled"
        if 2 * p == true + d:
            return "pm1_halved"
    return "other"


def score(
    model: GPT,
    df: pd.DataFrame,
    device: torch.device | str = "cpu",
    batch_size: int = 256,
    top_k: int = 0,
    reverse: bool = False,
) -> pd.DataFrame:
    """Decode and score every problem of ``df`` (model.decode.score_exact), then locate the first wrong
    token and, with ``top_k``, the top-k logits there and the error class of the answer (read
    units digit first with ``reverse``)."""
    res = score_exact(model, df, device, batch_size, top_k, reverse)
    targets = df["completion"].tolist()
    out = df.reset_index(drop=True).copy()
    out["prediction"], out["correct"] = res["prediction"], res["correct"]
    out["first_wrong"] = [first_wrong(p, t) for p, t in zip(res["prediction"], targets, strict=True)]
    out["digit_accuracy"], out["answer_correct"] = res["digit_accuracy"], res["answer_correct"]
    if top_k:

        def at_first_wrong(steps, w: int) -> list:
            return list(steps[w]) if w >= 0 and steps is not None and w < len(steps) else []

        out["target_token"] = [
            t[w] if 0 <= w < len(t) else "" for t, w in zip(targets, out["first_wrong"], strict=True)
        ]
        out["topk_tokens"] = [
            [VOCAB[j] for j in at_first_wrong(ti, w)] for ti, w in zip(res["topk_ids"], out["first_wrong"], strict=True)
        ]
        out["topk_logits"] = [
            [float(x) for x in at_first_wrong(tv, w)]
            for tv, w in zip(res["topk_values"], out["first_wrong"], strict=True)
        ]
        true = [int(answer_text(t, reverse)) for t in targets]
        classes = [classify_error(answer_text(p, reverse), v) for p, v in zip(res["prediction"], true, strict=True)]
        out["error_class"] = [
            "right_answer_wrong_scratchpad" if c == "correct" and not ok else c
            for c, ok in zip(classes, out["correct"], strict=True)
        ]
    return out


def evaluate_job(
    settings: dict, evaluation: dict, variant: str, seed: int, inputs: dict, output: str, threads: int = 1
) -> None:
    """Job entry point: score each stage's test and commute splits at its stage end and with the final model."""
    from ..core.io import PROVENANCE_COLUMNS, provenance, read_parquet, stable_hash, write_parquet
    from ..model.store import load_model, load_stage_models, pick_device

    torch.set_num_threads(threads)
    device = pick_device()
    models = {
        "stage_end": load_stage_models(inputs["stage_models"], device),
        "final": load_model(inputs["model"], device),
    }
    frames = []
    for split in ("test", "commute"):
        for path in inputs[split]:
            df = read_parquet(path).drop(
                columns=PROVENANCE_COLUMNS, errors="ignore"
            )  # the data job's: this table has its own
            if df.empty:
                continue
            stage = df["stage"].iat[0]
            # a stage the run never reached (curriculum.after_censored: stop) has no stage end: the final model only
            ends = [("stage_end", models["stage_end"][stage])] if stage in models["stage_end"] else []
            for when, model in [*ends, ("final", models["final"])]:
                res = score(
                    model, df, device, evaluation["batch_size"], evaluation["top_k"], settings["factors"]["reverse"]
                )
                res.insert(2, "when", when)
                print(
                    f"{variant} seed {seed} {stage} [{split}, {when}]: "
                    f"exact match {res['correct'].mean():.3f} on {len(res)}",
                    flush=True,
                )
                frames.append(res)
    out = pd.concat(frames, ignore_index=True)
    write_parquet(out, output, provenance(variant, seed, settings, stable_hash(settings)))


def length_job(settings: dict, evaluation: dict, variant: str, seed: int, model_path: str, data_path: str, output: str,
               threads: int = 1) -> None:  # fmt: skip
    """Job entry point: score the final model on the length split (data.splits.build_length), one row per problem,
    with each problem's cell (digits of a, digits of b) and kind."""
    from ..core.io import PROVENANCE_COLUMNS, provenance, read_parquet, stable_hash, write_parquet
    from ..model.store import load_model, pick_device

    torch.set_num_threads(threads)
    device = pick_device()
    model = load_model(model_path, device)
    df = read_parquet(data_path).drop(columns=PROVENANCE_COLUMNS, errors="ignore")
    res = score(model, df, device, evaluation["batch_size"], 0, settings["factors"]["reverse"])
    res.insert(2, "when", "final")
    res["digits_a"] = res["shape"].str.split("x").str[0].astype("int64")
    res["digits_b"] = res["shape"].str.split("x").str[1].astype("int64")
    for (op, kind), g in res.groupby(["op", "kind"], sort=False):
        cells = g.groupby("shape")["correct"].mean()
        print(f"{variant} seed {seed} {op} [{kind}]: exact match {g['correct'].mean():.3f} on {len(g)}; "
              f"per cell from {cells.min():.3f} to {cells.max():.3f} over {len(cells)} cells", flush=True)  # fmt: skip
    write_parquet(res, output, provenance(variant, seed, settings, stable_hash(settings)))


def first_wrong(prediction: str, target: str) -> int:
    """Index of the first character where prediction and target differ, -1 if equal."""
    for i, (p, t) in enumerate(zip(prediction, target, strict=False)):
        if p != t:
            return i
    return -1 if len(prediction) == len(target) else min(len(prediction), len(target))
