"""Gradient signal-to-noise estimators.

* :func:`gradient_snr`: from the gradients of k micro-batches taken at the same
  weights, signal = ||mean||^2 (less its noise bias, tr(Sigma_hat)/k, so it is
  unbiased), noise = mean variance per coordinate / k, and the SNR per
  coordinate = (signal / P) / noise.
* :func:`noise_scale`: the gradient noise scale B_simple = tr(Sigma) / ||G||^2 from
  gradients at two batch sizes, with the unbiased two-batch estimators of
  McCandlish et al. 2018 (An Empirical Model of Large-Batch Training, appendix A.1).
"""

from __future__ import annotations

import numpy as np


def gradient_snr(grads: np.ndarray) -> dict:
    """SNR of one parameter class from micro-batch gradients of shape (k, P)."""
    g = np.asarray(grads, dtype=np.float64)
    k, p = g.shape
    if k < 2:
        raise ValueError("gradient_snr needs at least two micro-batches")
    mean = g.mean(axis=0)
    var = g.var(axis=0, ddof=1)  # per coordinate, across micro-batches
    noise = float(var.mean() / k)  # variance of the mean, per coordinate
    signal = float(mean @ mean - var.sum() / k)  # unbiased ||E g||^2
    snr = (signal / p) / noise if noise > 0 else float("inf")
    return {"signal": signal, "noise": noise, "snr": snr, "k": k, "p": p}


def noise_scale(g_small: np.ndarray, b_small: int, g_big: np.ndarray, b_big: int) -> dict:
    """B_simple = tr(Sigma) / |G|^2 from one gradient at batch size b_small and one at b_big (b_big > b_small)."""
    if b_big <= b_small:
        raise ValueError("noise_scale needs b_big > b_small")
    return _two_batch(float(np.dot(g_small, g_small)), b_small, float(np.dot(g_big, g_big)), b_big)


def noise_scale_microbatches(grads: np.ndarray, b_small: int) -> dict:
    """B_simple from the gradients (k, P) of k independent micro-batches of b_small examples each.

    |g_small|^2 is averaged over the k micro-batches and |g_big|^2 is taken of their mean, a
    batch of k * b_small: both stay unbiased, and the average lowers the variance.
    """
    g = np.asarray(grads, dtype=np.float64)
    k = g.shape[0]
    if k < 2:
        raise ValueError("noise_scale_microbatches needs at least two micro-batches")
    mean = g.mean(axis=0)
    return _two_batch(float((g * g).sum(axis=1).mean()), b_small, float(mean @ mean), k * b_small)


def _two_batch(s2: float, b_small: int, b2: float, b_big: int) -> dict:
    """McCandlish et al.'s unbiased estimators from |g|^2 at batch sizes b_small and b_big."""
    g_sq = (b_big * b2 - b_small * s2) / (b_big - b_small)  # unbiased |G|^2
    trace = (s2 - b2) / (1 / b_small - 1 / b_big)  # unbiased tr(Sigma)
    return {"g_sq": g_sq, "trace_sigma": trace, "b_simple": trace / g_sq if g_sq > 0 else float("inf")}
