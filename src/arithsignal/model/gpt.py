"""A small decoder-only transformer in the manner of nanoGPT, with a KV cache for decoding.

Its position embedding follows ``positions`` (positions.py): learned places in the sequence (the default), none,
abacus indices (each digit's place within its own number), coupled indices (each digit's column), or an attention
bias on the difference of two tokens' coupled indices (coupled_relative)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.nn import functional as F

from .positions import abacus_indices, coupled_indices, n_positions, relative_buckets


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    block_size: int = 64
    n_layer: int = 2
    n_head: int = 4
    d_model: int = 128
    dropout: float = 0.0
    positions: str = "learned"  # positions.SCHEMES: learned, none, abacus or coupled
    abacus_max_offset: int = 0  # abacus, coupled: training adds a random offset in [0, this] to every index above 0
    abacus_units_first: bool = (
        False  # abacus, coupled: the completion is written units digit first (count the prompt from its end)
    )
    relative_buckets: int = 7  # coupled_relative: index differences clipped to +-(this // 2)


KVCache = list[tuple[torch.Tensor, torch.Tensor]]
Unpad = tuple[int, int, torch.Tensor]  # (B, T, flat indices of the real tokens in the (B, T) layout)
Relative = tuple[torch.Tensor, torch.Tensor]  # coupled indices of the queries (B, T) and of the keys (B, S)


class SelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.dropout = cfg.dropout
        relative = cfg.positions == "coupled_relative"
        self.rel_bias = nn.Embedding(cfg.relative_buckets, cfg.n_head) if relative else None  # per layer, as Cho

    def forward(
        self,
        x: torch.Tensor,
        past: tuple[torch.Tensor, torch.Tensor] | None = None,
        unpad: Unpad | None = None,
        only: torch.Tensor | None = None,
        rel: Relative | None = None,
    ):
        qkv = self.qkv(x)
        if unpad is not None:  # x holds only the real tokens, (N, C): attend in the padded layout, return (N, C)
            B, T, keep = unpad
            qkv = qkv.new_zeros(B * T, qkv.shape[1]).index_copy(0, keep, qkv).view(B, T, -1)
            y, kv = self._attend(qkv, None, rel)
            return self.proj(y.view(B * T, -1).index_select(0, keep if only is None else keep[only])), kv
        y, kv = self._attend(qkv, past, rel)
        return self.proj(y), kv

    def _attend(self, qkv: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None, rel: Relative | None):
        B, T, C3 = qkv.shape
        C = C3 // 3
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in qkv.split(C, dim=2))
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        drop = self.dropout if self.training else 0.0
        if self.rel_bias is not None:
            return self._attend_biased(q, k, v, rel, drop), (k, v)
        if past is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=drop)
        elif T == 1:  # one new token attends to everything cached
            y = F.scaled_dot_product_attention(q, k, v)
        else:  # several new tokens after a cached prefix: causal among themselves
            S = k.shape[2]
            mask = torch.ones(T, S, dtype=torch.bool, device=qkv.device).tril(S - T)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return y.transpose(1, 2).contiguous().view(B, T, C), (k, v)

    def _attend_biased(self, q, k, v, rel: Relative, drop: float) -> torch.Tensor:
        """Causal attention with the coupled_relative bias: each score plus the head's learned value for its
        (clipped) key-minus-query index difference; the T queries are the last T of the S keys."""
        B, _, T, hs = q.shape
        S = k.shape[2]
        bias = self.rel_bias(relative_buckets(*rel, self.rel_bias.num_embeddings)).permute(0, 3, 1, 2)  # (B, H, T, S)
        causal = torch.ones(T, S, dtype=torch.bool, device=q.device).tril(S - T)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.masked_fill(~causal, float("-inf")), dropout_p=drop)
        return y.transpose(1, 2).contiguous().view(B, T, self.n_head * hs)


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.d_model, 4 * cfg.d_model)
        self.proj = nn.Linear(4 * cfg.d_model, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.attn = SelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.mlp = MLP(cfg)

    def forward(self, x, past=None, unpad: Unpad | None = None, only: torch.Tensor | None = None,
                rel: Relative | None = None):  # fmt: skip
        """``only``: indices of the tokens whose output is needed; every token still serves as a key and value.
        ``rel``: the coupled indices the coupled_relative bias reads."""
        a, kv = self.attn(self.ln1(x), past, unpad, only, rel)
        x = (x if only is None else x.index_select(0, only)) + a
        return x + self.mlp(self.ln2(x)), kv


class GPT(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        rows = n_positions(cfg.positions, cfg.block_size, cfg.abacus_max_offset)
        self.pos_emb = nn.Embedding(rows, cfg.d_model) if rows else None
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight  # weight tying, as in GPT-2
        self.apply(self._init)
        for name, p in self.named_parameters():
            if name.endswith("proj.weight"):  # scaled residual projections (GPT-2)
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)

    def position_ids(
        self, idx: torch.Tensor, start: int = 0, prefix: torch.Tensor | None = None
    ) -> torch.Tensor | None:
        """The index each token of ``idx`` (B, T) reads from ``pos_emb``: (T,) places from ``start`` (learned),
        (B, T) abacus or coupled indices, read over ``prefix`` + ``idx`` (``prefix``: the tokens already cached),
        or None (no embedding)."""
        cfg = self.cfg
        if cfg.positions == "learned":
            return torch.arange(start, start + idx.shape[1], device=idx.device)
        if cfg.positions in ("none", "coupled_relative"):
            return None
        if start and (prefix is None or prefix.shape[1] != start):
            raise ValueError(f"{cfg.positions} positions read the tokens before the new ones: pass them as prefix")
        full = idx if prefix is None else torch.cat([prefix, idx], dim=1)
        if cfg.positions == "coupled":
            pos = coupled_indices(full, cfg.abacus_units_first)[:, start:]
        else:
            pos = abacus_indices(full, cfg.abacus_units_first)[:, start:]
        if (
            self.training and cfg.abacus_max_offset
        ):  # drawn from torch's generator, like dropout: seeded and checkpointed
            offset = torch.randint(0, cfg.abacus_max_offset + 1, (idx.shape[0], 1)).to(idx.device)
            pos = torch.where(pos > 0, pos + offset, pos)
        return pos

    def relative(self, idx: torch.Tensor, prefix: torch.Tensor | None = None) -> Relative | None:
        """coupled_relative: the coupled indices of the new tokens ``idx`` (the queries) and of ``prefix`` + ``idx``
        (the keys), no offset (a difference is the same under any); None under every other scheme."""
        if self.cfg.positions != "coupled_relative":
            return None
        full = idx if prefix is None else torch.cat([prefix, idx], dim=1)
        ids = coupled_indices(full, self.cfg.abacus_units_first)
        return ids[:, full.shape[1] - idx.shape[1] :], ids

    def embed(self, idx: torch.Tensor, pos: torch.Tensor | None) -> torch.Tensor:
        x = self.tok_emb(idx)
        return x if pos is None else x + self.pos_emb(pos)

    def forward(
        self, idx: torch.Tensor, past: KVCache | None = None, prefix: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, KVCache]:
        """Logits for every position of ``idx``; ``past`` continues a cached prefix, whose tokens ``prefix`` holds
        (the abacus and coupled schemes read them; the others need only ``past``)."""
        B, T = idx.shape
        start = 0 if past is None else past[0][0].shape[2]
        if start + T > self.cfg.block_size:
            raise ValueError(f"sequence of {start + T} tokens exceeds block_size {self.cfg.block_size}")
        x = self.embed(idx, self.position_ids(idx, start, prefix))
        rel = self.relative(idx, prefix)
        if rel is not None and rel[1].shape[1] != start + T:
            raise ValueError("coupled_relative positions read the tokens before the new ones: pass them as prefix")
        cache: KVCache = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, None if past is None else past[i], rel=rel)
            cache.append(kv)
        return self.head(self.ln_f(x)), cache

    def forward_unpadded(self, idx: torch.Tensor, real: torch.Tensor, want: torch.Tensor) -> torch.Tensor:
        """Training forward that skips padding: logits (N, V) at the ``want`` positions, flattened row by row.

        ``real`` (B, T) marks each row's tokens, a prefix of the row (padding comes last). Every
        per-token layer (embeddings, LayerNorm, QKV, MLP, head) runs on the real tokens only, and
        attention runs in the padded layout, where causality keeps padding out of every real
        token's view. The last block computes outputs (attention projection, MLP) only at the
        ``want`` positions: elsewhere they would feed nothing. The result equals
        ``forward(idx)[0][want]`` up to float rounding; it saves the work on padding, a fifth to a
        half of a curriculum batch with replay, and on the prompt in the last block.
        """
        B, T = idx.shape
        if T > self.cfg.block_size:
            raise ValueError(f"sequence of {T} tokens exceeds block_size {self.cfg.block_size}")
        keep = real.reshape(-1).nonzero().squeeze(1)
        pos = self.position_ids(idx)
        pos = None if pos is None else pos.expand(B, T).reshape(-1)[keep]
        x = self.embed(idx.reshape(-1)[keep], pos)
        out = want.reshape(-1)[keep].nonzero().squeeze(1)  # the wanted tokens among the real ones
        rel = self.relative(idx)  # in the padded layout, where attention runs
        for block in self.blocks[:-1]:
            x, _ = block(x, unpad=(B, T, keep), rel=rel)
        x, _ = self.blocks[-1](x, unpad=(B, T, keep), only=out, rel=rel)  # the prompt's last-layer outputs feed nothing
        return self.head(self.ln_f(x))

    def param_classes(self) -> dict[str, list[nn.Parameter]]:
        """Matrices (embeddings, attention and MLP weights) vs vectors (biases, LayerNorm gains):
        the split the optimiser's settings use (train/optim.py), and the one the progress measures report."""
        params = list(self.parameters())  # tied weights once
        return {"matrices": [p for p in params if p.dim() >= 2], "vectors": [p for p in params if p.dim() < 2]}
