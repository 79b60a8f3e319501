"""The scaling fit (scaling.py): a censoring-aware power law recovers known exponents from synthetic data."""

import copy
import math

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, load_yaml

from arithsignal.config import ConfigError, check
from arithsignal.formats import VOCAB
from arithsignal.model import GPT, ModelConfig
from arithsignal.scaling import compare, fit_stage, non_embedding_params, scaling_fit_table, tobit_fit, what_changes

SIZES = [1e4, 4e4, 1.6e5, 6.4e5]
BUDGET = 1500


def synthetic(alpha: float, a: float, seeds: int = 8, sigma: float = 0.2, seed: int = 0, variant: str = "v") -> pd.DataFrame:
    """steps = a N^-alpha x lognormal noise, censored at BUDGET (recorded at the budget, as training does)."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(seeds):
        for n in SIZES:
            steps = a * n**-alpha * math.exp(rng.normal(0, sigma))
            rows.append({"base": variant, "model_seed": s, "n_params": n, "steps": min(steps, BUDGET), "censored": steps > BUDGET})
    return pd.DataFrame(rows)


def fit_of(d: pd.DataFrame) -> dict:
    return tobit_fit(np.log(d["n_params"]), np.log(d["steps"]), d["censored"])


def test_without_censoring_the_fit_is_least_squares():
    d = synthetic(0.4, 3e3)
    assert not d["censored"].any()
    slope, intercept = np.polyfit(np.log(d["n_params"]), np.log(d["steps"]), 1)
    fit = fit_of(d)
    assert fit["alpha"] == pytest.approx(-slope, abs=1e-4) and fit["log_a"] == pytest.approx(intercept, abs=1e-3)


def test_censored_runs_as_lower_bounds_recover_the_exponent_where_dropping_them_does_not():
    d = synthetic(0.5, 3e5, seeds=20, sigma=0.3, seed=1)  # the two smallest sizes are mostly censored
    assert 0.3 < d["censored"].mean() < 0.6
    f = fit_stage(d, ["v"], float(np.mean(np.log(SIZES))), n_boot=200).iloc[0]
    assert f["alpha_lo"] < 0.5 < f["alpha_hi"] and abs(f["alpha"] - 0.5) < 0.05
    assert f["a_lo"] < 3e5 < f["a_hi"]
    g = d[~d["censored"]]
    naive = -np.polyfit(np.log(g["n_params"]), np.log(g["steps"]), 1)[0]
    assert naive < 0.5 - 0.05 and abs(naive - 0.5) > 2 * abs(f["alpha"] - 0.5)  # dropping them flattens the curve
    assert f["censored"] == d["censored"].sum() and f["censored_by_size"].endswith("160000: 0/20, 640000: 0/20")


def test_every_run_censored_has_no_fit():
    d = synthetic(0.5, 3e9)
    assert d["censored"].all() and math.isnan(fit_of(d)["alpha"])


def test_the_comparison_tells_an_exponent_from_a_constant():
    ref = float(np.mean(np.log(SIZES)))
    steeper = pd.concat([synthetic(0.5, 3e5, variant="on"), synthetic(0.3, 3e4, seed=1, variant="off")])
    assert what_changes(compare(fit_stage(steeper, ["on", "off"], ref, n_boot=200), "on", "off")) == "the exponent"
    shifted = pd.concat([synthetic(0.4, 1e4, variant="on"), synthetic(0.4, 2e4, seed=1, variant="off")])
    assert what_changes(compare(fit_stage(shifted, ["on", "off"], ref, n_boot=200), "on", "off")) == "the constant"
    same = pd.concat([synthetic(0.4, 1e4, variant="on"), synthetic(0.4, 1e4, seed=1, variant="off")])
    assert what_changes(compare(fit_stage(same, ["on", "off"], ref, n_boot=200), "on", "off")) == "neither"


def test_a_stage_where_every_run_graduated_at_the_same_step_is_not_testable():
    # at the rule's floor every run graduates at the same count: a flat fit with a zero-width interval is no evidence
    # that the factor changes neither exponent nor constant
    floor = pd.concat([synthetic(0.0, 500, sigma=0.0, variant=v) for v in ("on", "off")]).assign(stage="s")
    varied = pd.concat([synthetic(0.4, 1e4, variant="on"), synthetic(0.4, 1e4, seed=1, variant="off")]).assign(stage="t")
    _, cmp = scaling_fit_table(pd.concat([floor, varied]), ["s", "t"], [{"name": "f", "on": "on", "off": "off"}], n_boot=50)
    assert cmp.set_index("stage")["changes"].to_dict() == {"s": "not testable: every run graduated at 500 steps", "t": "neither"}


@pytest.mark.parametrize("model", [{"n_layer": 2, "n_head": 4, "d_model": 64, "block_size": 48, "dropout": 0.0},
                                   {"n_layer": 1, "n_head": 2, "d_model": 16, "block_size": 32, "dropout": 0.0}])  # fmt: skip
def test_non_embedding_parameters_leave_out_the_embeddings_only(model):
    gpt = GPT(ModelConfig(vocab_size=len(VOCAB), **model))
    every = sum(p.numel() for p in gpt.parameters())  # the head is tied to the token embedding: counted once
    embeddings = gpt.tok_emb.weight.numel() + gpt.pos_emb.weight.numel()
    assert non_embedding_params(model) == every - embeddings


def test_a_scaling_sweep_must_exist_and_vary_the_model():
    cfg = load_yaml(ROOT / "tests/config/smoke.yaml")
    check(cfg)
    bad = copy.deepcopy(cfg)
    bad["scaling"]["sweep"] = "nope"
    with pytest.raises(ConfigError, match="scaling.sweep: unknown sweep 'nope'"):
        check(bad)
    bad = copy.deepcopy(cfg)
    bad["scaling"]["sweep"] = "recipe"
    with pytest.raises(ConfigError, match="must all be model keys"):
        check(bad)
