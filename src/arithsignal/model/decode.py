"""Greedy autoregressive decoding and the scoring the graduation rule needs.

Training's graduation windows use this module and nothing from evaluate/held_out.py, so
changing the post-training evaluation never reruns training.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd
import torch

from ..data.formats import END, END_ID, PAD_ID, VOCAB, answer_part, answer_text, encode
from .gpt import GPT


@torch.no_grad()
def greedy_decode(
    model: GPT,
    prompts: list[str],
    max_new: int,
    device: torch.device | str = "cpu",
    batch_size: int = 256,
    top_k: int = 0,
    use_cache: bool = True,
) -> tuple[list[str], list[np.ndarray | None], list[np.ndarray | None]]:
    """Decode greedily up to ``max_new`` tokens or the end marker.

    Prompts of equal length are batched together (no padding inside a prompt). Decoding stops at
    the model's block_size; config.checks.check makes sure every line a stage renders fits in it.
    Returns the completions and, if ``top_k``, per-step top-k token ids and logits
    (arrays of shape (steps, k)) for each prompt.
    """
    was_training = model.training
    model.eval()
    max_new = min(max_new, model.cfg.block_size - min(map(len, prompts), default=0))
    completions: list[str] = [""] * len(prompts)
    topi: list[np.ndarray | None] = [None] * len(prompts)
    topv: list[np.ndarray | None] = [None] * len(prompts)
    by_len: dict[int, list[int]] = defaultdict(list)
    for i, p in enumerate(prompts):
        by_len[len(p)].append(i)
    for plen, members in sorted(by_len.items()):
        steps = min(max_new, model.cfg.block_size - plen)
        for c in range(0, len(members), batch_size):
            rows = members[c : c + batch_size]
            idx = torch.tensor([encode(prompts[i]) for i in rows], dtype=torch.long, device=device)
            gen, ti, tv = _decode_rows(model, idx, steps, top_k, use_cache)
            for r, i in enumerate(rows):
                text = "".join(VOCAB[t] for t in gen[r] if t != PAD_ID)
                completions[i] = text[: text.index(END) + 1] if END in text else text
                if top_k:
                    topi[i], topv[i] = ti[r], tv[r]
    model.train(was_training)
    return completions, topi, topv


def _decode_rows(
    model: GPT, idx: torch.Tensor, steps: int, top_k: int, use_cache: bool
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Greedy continuations, up to ``steps`` tokens, of prompts of equal length ``idx`` (B, T): token ids (B, steps
    taken), PAD after a row's end marker; with ``top_k``, each step's top-k ids and logits (B, steps taken, k)."""
    logits, cache = model(idx)
    out, vals, inds = [], [], []
    done = torch.zeros(len(idx), dtype=torch.bool, device=idx.device)
    for t in range(steps):
        last = logits[:, -1, :].float()
        if top_k:
            v, ix = last.topk(top_k, dim=-1)
            vals.append(v)
            inds.append(ix)
        nxt = torch.where(done, torch.full_like(done, PAD_ID, dtype=torch.long), last.argmax(-1))
        out.append(nxt)
        done |= nxt == END_ID
        if bool(done.all()) or t == steps - 1:
            break
        if use_cache:  # the tokens so far go along: position schemes that read them (abacus, coupled) need them
            logits, cache = model(nxt[:, None], cache, prefix=idx)
            idx = torch.cat([idx, nxt[:, None]], dim=1)
        else:  # reference path: re-run the whole sequence
            idx = torch.cat([idx, nxt[:, None]], dim=1)
            logits, _ = model(idx)
    gen = torch.stack(out, dim=1).cpu().numpy() if out else np.zeros((len(idx), 0), dtype=np.int64)
    if not top_k:
        return gen, None, None
    return gen, torch.stack(inds, dim=1).cpu().numpy(), torch.stack(vals, dim=1).cpu().numpy()


def digit_accuracy(prediction: str, target: str, reverse: bool = False) -> float:
    """Share of the target answer's digits (aligned at the units digit) that the prediction's answer gets right."""
    t, p = answer_text(target, reverse), answer_text(prediction, reverse)
    if not t:
        return 0.0
    p = p.rjust(len(t))[-len(t) :] if p else " " * len(t)
    return sum(a == b for a, b in zip(p, t, strict=True)) / len(t)


def score_exact(
    model: GPT,
    df: pd.DataFrame,
    device: torch.device | str = "cpu",
    batch_size: int = 256,
    top_k: int = 0,
    reverse: bool = False,
) -> pd.DataFrame:
    """Decode every problem of ``df`` (columns prompt, completion): prediction, correct (the whole
    completion), answer_correct (the answer alone, scratchpad aside) and digit_accuracy; with
    ``top_k``, also each problem's per-step top-k token ids and logits (arrays of shape (steps, k)).
    ``reverse``: the format writes answers units digit first (formats.Factors.reverse)."""
    targets = df["completion"].tolist()
    preds, topi, topv = greedy_decode(
        model, df["prompt"].tolist(), max(map(len, targets), default=0), device, batch_size, top_k
    )
    out = pd.DataFrame(
        {
            "prediction": preds,
            "correct": [p == t for p, t in zip(preds, targets, strict=True)],
            "answer_correct": [answer_part(p) == answer_part(t) for p, t in zip(preds, targets, strict=True)],
            "digit_accuracy": [digit_accuracy(p, t, reverse) for p, t in zip(preds, targets, strict=True)],
        }
    )
    if top_k:
        out["topk_ids"], out["topk_values"] = topi, topv
    return out
