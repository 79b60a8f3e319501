"""The scaling fit (scaling.py): a censored AFT fit per stage recovers known exponents, ratios and crossings."""

import math

import numpy as np
import pandas as pd
import pytest

from arithsignal.analysis.scaling import base_runs, reading, scaling_fit_table
from arithsignal.data.formats import VOCAB
from arithsignal.model.gpt import GPT, ModelConfig
from arithsignal.model.size import non_embedding_params

SIZES = [1e4, 4e4, 1.6e5, 6.4e5]
BUDGET = 1500


def synthetic(
    alpha: float, a: float, seeds: int = 8, sigma: float = 0.2, seed: int = 0, variant: str = "v"
) -> pd.DataFrame:
    """steps = a N^-alpha x lognormal noise, read as the rule reads it: rounded up to the 100-step window, censored at
    BUDGET (recorded at the budget, as training does)."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(seeds):
        for n in SIZES:
            t = math.ceil(a * n**-alpha * math.exp(rng.normal(0, sigma)) / 100) * 100
            rows.append({"base": variant, "model_seed": s, "n_params": n, "steps": max(200, min(t, BUDGET)),
                         "censored": t > BUDGET, "budget": BUDGET, "window_every": 100, "floor": 200, "stage": "s",
                         "stage_index": 0})  # fmt: skip
    return pd.DataFrame(rows)


def fit_of(on: pd.DataFrame, off: pd.DataFrame) -> pd.Series:
    return scaling_fit_table(pd.concat([on, off]), ["s"], [{"name": "f", "on": "on", "off": "off"}]).iloc[0]


def test_the_fit_recovers_each_sides_exponent_with_censored_runs_as_lower_bounds():
    on, off = (
        synthetic(0.3, 2e4, seeds=20, variant="on"),
        synthetic(0.5, 3e5, seeds=20, sigma=0.3, seed=1, variant="off"),
    )
    assert 0.2 < off["censored"].mean() < 0.6  # the small models of the off side are mostly censored
    r = fit_of(on, off)
    assert r["identified"] and r["alpha_on_lo"] < 0.3 < r["alpha_on_hi"] and r["alpha_off_lo"] < 0.5 < r["alpha_off_hi"]
    # the ratio off/on shrinks with N: the off side is steeper, so per doubling of N the ratio changes by 2^-0.2
    assert r["per_doubling_lo"] < 2**-0.2 < r["per_doubling_hi"] < 1
    g = off[~off["censored"]]
    naive = -np.polyfit(np.log(g["n_params"]), np.log(g["steps"]), 1)[0]
    assert naive < 0.45  # dropping the censored runs instead flattens the curve


def test_the_ratio_curve_and_where_the_lines_cross():
    """Steeper off side, equal at N = 1.6e5: the fitted lines cross inside the sizes, near there."""
    on, off = (
        synthetic(0.2, 1.6e5**0.2 * 800, seeds=12, variant="on"),
        synthetic(0.5, 1.6e5**0.5 * 800, seeds=12, seed=1, variant="off"),
    )
    r = fit_of(on, off)
    assert 0.8e5 < r["crossing_n"] < 3.2e5
    assert len(r["band_ratio"]) == 25 and all(
        lo <= x <= hi for lo, x, hi in zip(r["band_lo"], r["band_ratio"], r["band_hi"], strict=True)
    )


def test_a_side_graduated_at_one_size_is_not_identified():
    on = synthetic(0.3, 2e4, variant="on")
    off = synthetic(0.3, 2e4, seed=1, variant="off")
    off.loc[off["n_params"] < 6.4e5, ["steps", "censored"]] = [BUDGET, True]  # graduated only at the largest size
    r = fit_of(on, off)
    assert not r["identified"] and math.isnan(r["per_doubling"]) and math.isnan(r["alpha_off"])
    assert reading(r) == "not identified: the factor-off side graduated at 1 size(s)"


@pytest.mark.parametrize(
    "model",
    [{"n_layer": 2, "n_head": 4, "d_model": 64, "block_size": 48, "dropout": 0.0},
     {"n_layer": 1, "n_head": 2, "d_model": 16, "block_size": 32, "dropout": 0.0}]
)  # fmt: skip
def test_non_embedding_parameters_leave_out_the_embeddings_only(model):
    gpt = GPT(ModelConfig(vocab_size=len(VOCAB), **model))
    every = sum(p.numel() for p in gpt.parameters())  # the head is tied to the token embedding: counted once
    embeddings = gpt.tok_emb.weight.numel() + gpt.pos_emb.weight.numel()
    assert non_embedding_params(model) == every - embeddings


def test_the_variants_a_sweep_starts_from_are_a_size_of_the_axis():
    """A grid of d_model [32] from variants at 64 has two sizes: the variants' own runs join the sweep's points."""
    settings = '{"graduation": {"window_every": 100, "windows": 4}, "curriculum": {"stage_budget": 6000}}'
    grads = pd.DataFrame({"variant": ["base_run", "base_run", "other"], "seed": [0, 1, 0], "stage": "s",
                          "stage_index": 0, "steps": [900, 6000, 500], "censored": [False, True, False], "budget": 6000,
                          "settings": settings})  # fmt: skip
    runs = base_runs(grads, [{"variant": "baseline", "run": "base_run"}], {"baseline": 100_096})
    assert runs["model_seed"].tolist() == [0, 1] and set(runs["base"]) == set(runs["point"]) == {"baseline"}
    assert runs["n_params"].tolist() == [100_096] * 2 and runs["censored"].tolist() == [False, True]
    assert runs[["budget", "window_every", "floor"]].iloc[0].tolist() == [6000, 100, 400]
