"""The model's size: its non-embedding parameter count, the N of every size axis (scaling, confirm, power)."""

from __future__ import annotations


def non_embedding_params(model: dict) -> int:
    """Parameters of gpt.GPT outside the token and position embeddings (the output head is tied to the token
    embedding): per block, attention 4d^2 + 4d, MLP 8d^2 + 5d, two LayerNorms 4d; and the final LayerNorm, 2d.
    A test counts the real model's parameters against it."""
    d, layers = model["d_model"], model["n_layer"]
    return layers * (12 * d * d + 13 * d) + 2 * d
