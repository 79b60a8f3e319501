"""A stage's data as training reads it: its problems tokenised once, batches drawn from them with replay, and the
loss on their completion tokens.

A batch takes ``replay_share`` of its rows from earlier stages (uniformly among them) and the rest from the current
stage, each row a random training problem; it is trimmed to its longest row. Only completion tokens (the end marker
included) are targets, and the loss is their mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F

from ..core.io import read_parquet
from ..data.formats import PAD_ID, ROLE_NONE, completion_roles, encode
from ..model.gpt import GPT

# a stage's graduation pools, each decoded at every window (data.splits: train_pool, unseen_pool)
POOLS = ("train", "unseen")


@dataclass
class StageTensors:
    """A stage's training problems, tokenised once (no per-step Python work on text), and its graduation pools."""

    name: str
    ids: torch.Tensor  # (n, max_len) token ids, padded with PAD
    roles: torch.Tensor  # (n, max_len) formats.ROLE_* of each token; ROLE_NONE for prompt and padding
    lengths: torch.Tensor  # (n,) full sequence length
    pools: dict[str, pd.DataFrame]  # POOLS -> problems the windows sample (an empty unseen pool: the stage has none)

    @property
    def pools_present(self) -> tuple[str, ...]:
        return tuple(p for p in POOLS if len(self.pools[p]))

    def rule_pool(self, wanted: str) -> str:
        """The pool the rule reads when ``graduation.pool`` is ``wanted``: the train pool where the stage has no
        unseen one."""
        return wanted if len(self.pools[wanted]) else "train"


def tensorise(
    name: str, train: pd.DataFrame, train_pool: pd.DataFrame, unseen_pool: pd.DataFrame | None = None
) -> StageTensors:
    """A stage's tensors from its training problems (columns prompt, completion) and its pools (no unseen_pool:
    the stage has none)."""
    pairs = list(zip(train["prompt"], train["completion"], strict=True))
    width = max(len(p) + len(c) for p, c in pairs)
    ids = torch.full((len(pairs), width), PAD_ID, dtype=torch.long)
    roles = torch.full((len(pairs), width), ROLE_NONE, dtype=torch.int8)
    for i, (p, c) in enumerate(pairs):
        ids[i, : len(p) + len(c)] = torch.tensor(encode(p + c))
        roles[i, len(p) : len(p) + len(c)] = torch.tensor(completion_roles(c), dtype=torch.int8)
    lengths = torch.tensor([len(p) + len(c) for p, c in pairs])
    unseen = train_pool.iloc[:0] if unseen_pool is None else unseen_pool
    return StageTensors(
        name, ids, roles, lengths, {"train": train_pool.reset_index(drop=True), "unseen": unseen.reset_index(drop=True)}
    )


def load_stages(
    names: list[str], train_paths: list[str], train_pool_paths: list[str], unseen_pool_paths: list[str]
) -> list[StageTensors]:
    """Every stage's tensors and graduation pools (data.splits.SPLITS), in curriculum order."""
    cols = ["prompt", "completion"]
    paths = zip(names, train_paths, train_pool_paths, unseen_pool_paths, strict=True)
    return [tensorise(name, read_parquet(t, cols), read_parquet(tp), read_parquet(up)) for name, t, tp, up in paths]


@dataclass
class Batch:
    x: torch.Tensor  # (B, T) inputs
    y: torch.Tensor  # (B, T) next-token targets; -100 outside the completion
    role: torch.Tensor  # (B, T) formats.ROLE_* of each target
    real: torch.Tensor  # (B, T) inputs that are tokens, not padding (a prefix of each row)

    def to(self, device: torch.device) -> Batch:
        return Batch(*(t.to(device, non_blocking=True) for t in (self.x, self.y, self.role, self.real)))

    def rows(self, index: slice | torch.Tensor) -> Batch:
        return Batch(self.x[index], self.y[index], self.role[index], self.real[index])


def make_batch(
    stages: list[StageTensors], current: int, batch_size: int, replay_share: float, gen: torch.Generator
) -> Batch:
    """One batch, trimmed to its longest row; a share ``replay_share`` of its rows replays earlier stages."""
    n_replay = round(batch_size * replay_share) if current > 0 else 0
    which = torch.full((batch_size,), current, dtype=torch.long)
    if n_replay:
        which[:n_replay] = torch.randint(0, current, (n_replay,), generator=gen)
    picks = []
    for s in which.unique().tolist():
        k = int((which == s).sum())
        picks.append((stages[s], torch.randint(0, len(stages[s].ids), (k,), generator=gen)))
    lengths = torch.cat([st.lengths[pick] for st, pick in picks])
    width = int(lengths.max())

    def gather(field: str, fill: int) -> torch.Tensor:
        parts = [getattr(st, field)[pick, :width] for st, pick in picks]
        return torch.cat([F.pad(p, (0, width - p.shape[1]), value=fill) for p in parts])

    ids, roles = gather("ids", PAD_ID), gather("roles", ROLE_NONE)
    y = torch.where(roles[:, 1:] != ROLE_NONE, ids[:, 1:], -100)
    real = torch.arange(width - 1)[None, :] < (lengths[:, None] - 1)  # the end marker is only ever a target
    return Batch(ids[:, :-1], y, roles[:, 1:], real)


def completion_loss(
    model: GPT, b: Batch, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-token loss, logits, targets and roles at the completion tokens of a batch."""
    want = b.y != -100
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        logits = model.forward_unpadded(b.x, b.real, want)
    target = b.y[want]
    return F.cross_entropy(logits.float(), target, reduction="none"), logits, target, b.role[want]
