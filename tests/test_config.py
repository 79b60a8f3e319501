"""A bad config stops the workflow before any job runs, with a message naming the key."""

import copy

import pytest
import yaml
from conftest import ROOT, load_yaml, snakemake

from arithsignal.config import ConfigError, canonical_variants, check, effective_settings

SMOKE = load_yaml(ROOT / "tests/config/smoke.yaml")


def mutate(fn):
    cfg = copy.deepcopy(SMOKE)
    fn(cfg)
    return cfg


# (id, mutation, text the error must contain)
BAD = [
    ("unknown_key", lambda c: c.update(learning_rate=0.1), "learning_rate"),
    ("factor_typo", lambda c: c["baseline"].update(cary_mask=True), "cary_mask"),
    ("factor_not_bool", lambda c: c["baseline"].update(commas="yes"), "commas"),
    ("negative_digits", lambda c: c["stages"][0].update(digits=[-1, 1]), "digits"),
    ("empty_stages", lambda c: c.update(stages=[]), "stages"),
]


@pytest.mark.parametrize("name, fn, key", BAD, ids=[b[0] for b in BAD])
def test_bad_config_is_refused_before_any_job(workflow_copy, name, fn, key):
    bad = workflow_copy / "bad.yaml"
    cfg = mutate(fn)
    bad.write_text(yaml.safe_dump(cfg))
    # the bad file is the whole config (config.yaml replaced), as a user's preset would be
    (workflow_copy / "config.yaml").write_text(yaml.safe_dump(cfg))
    r = snakemake(workflow_copy, "all", "--cores", "1", f"--configfile={bad}")
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert key in out, out[-2000:]
    assert not (workflow_copy / "results").exists(), "a job ran before the config was refused"


SEMANTIC = [
    ("longer_operand_second", lambda c: c["stages"][1].update(digits=[1, 2]), "stages[1]"),
    ("duplicate_variant", lambda c: c["variants"].append({"name": "baseline"}), "duplicate variant"),
    ("ablation_unknown_variant", lambda c: c["ablations"][0].update(off_variant="nope"), "off_variant"),
    ("ablation_wrong_direction", lambda c: c["ablations"][0].update(on_variant="carry_off", off_variant="baseline"), "carry_mask=true"),
    ("budget_below_one_window_run", lambda c: c["curriculum"].update(stage_budget=10), "stage_budget"),
    ("heads_do_not_divide", lambda c: c["model"].update(n_head=3), "n_head"),
]


@pytest.mark.parametrize("name, fn, key", SEMANTIC, ids=[b[0] for b in SEMANTIC])
def test_semantic_errors_name_the_key(name, fn, key):
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        check(mutate(fn))


def test_presets_pass():
    for p in [ROOT / "config.yaml", ROOT / "tests/config/smoke.yaml"]:
        check(load_yaml(p))


def test_identical_variants_are_trained_once():
    cfg = mutate(lambda c: c["variants"].append({"name": "carry_on_again", "factors": {"carry_mask": True}}))
    canon = canonical_variants(cfg)
    assert canon["carry_on_again"] == "baseline"
    assert canon["carry_off"] == "carry_off"
    assert effective_settings(cfg, "carry_off")["factors"]["carry_mask"] is False
