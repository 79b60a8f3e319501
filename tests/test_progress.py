"""The SNR and noise-scale estimators recover known signal and noise on synthetic gradients."""

import numpy as np
import pytest

from arithsignal.train.measures import gradient_snr, noise_scale, noise_scale_microbatches


def test_gradient_snr_recovers_known_signal_and_noise():
    rng = np.random.default_rng(0)
    p, k, sigma = 400, 16, 0.5
    true_g = rng.normal(0, 0.2, p)
    est = [gradient_snr(true_g + rng.normal(0, sigma, (k, p))) for _ in range(200)]
    signal = np.mean([e["signal"] for e in est])
    noise = np.mean([e["noise"] for e in est])
    assert signal == pytest.approx(true_g @ true_g, rel=0.05)
    assert noise == pytest.approx(sigma**2 / k, rel=0.02)
    assert np.mean([e["snr"] for e in est]) == pytest.approx((true_g @ true_g / p) / (sigma**2 / k), rel=0.06)


def test_gradient_snr_of_pure_noise_is_near_zero():
    rng = np.random.default_rng(1)
    snrs = [gradient_snr(rng.normal(0, 1.0, (8, 500)))["snr"] for _ in range(100)]
    assert abs(np.mean(snrs)) < 0.05


def assert_recovers(est: list[dict], g: np.ndarray, trace_sigma: float) -> None:
    """Averaged over repeats, the estimates match |G|^2, tr(Sigma) and B_simple = tr(Sigma) / |G|^2."""
    g_sq = np.mean([e["g_sq"] for e in est])
    trace = np.mean([e["trace_sigma"] for e in est])
    assert g_sq == pytest.approx(g @ g, rel=0.05)
    assert trace == pytest.approx(trace_sigma, rel=0.02)
    assert trace / g_sq == pytest.approx(trace_sigma / (g @ g), rel=0.06)


def test_noise_scale_recovers_b_simple():
    rng = np.random.default_rng(2)
    p, sigma = 300, 2.0
    g = rng.normal(0, 0.1, p)
    est = []  # per-example noise N(0, sigma^2 I): tr(Sigma) = p sigma^2
    for _ in range(400):
        small = g + rng.normal(0, sigma / np.sqrt(8), p)  # mean of 8 per-example gradients
        big = g + rng.normal(0, sigma / np.sqrt(128), p)
        est.append(noise_scale(small, 8, big, 128))
    assert_recovers(est, g, p * sigma**2)


def test_noise_scale_from_microbatches_recovers_b_simple():
    rng = np.random.default_rng(3)
    p, sigma, k, b = 300, 1.0, 4, 16
    g = rng.normal(0, 0.1, p)
    est = [noise_scale_microbatches(g + rng.normal(0, sigma / np.sqrt(b), (k, p)), b) for _ in range(2000)]
    assert_recovers(est, g, p * sigma**2)


def test_estimators_refuse_bad_input():
    with pytest.raises(ValueError):
        gradient_snr(np.ones((1, 3)))
    with pytest.raises(ValueError):
        noise_scale(np.ones(3), 8, np.ones(3), 8)
    with pytest.raises(ValueError):
        noise_scale_microbatches(np.ones((1, 3)), 8)


def test_minimal_model_logs_at_the_configured_interval_and_learns():
    from arithsignal.minimal.experiments import snr_gap, train_minimal

    run = train_minimal(d=4, lr=0.01, weight_decay=0.01, batch_size=16, steps=400, seed=0, snr_every=50, microbatches=4)
    assert list(run["step"]) == list(range(0, 401, 50))
    assert run["loss"].iat[-1] < 0.2 * run["loss"].iat[0]  # it fits the teacher
    assert {"w_norm", "gamma_norm", "snr_w", "snr_gamma"} <= set(run.columns)
    assert np.isfinite(snr_gap(run, 4))
