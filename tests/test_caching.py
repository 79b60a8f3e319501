"""Only changed stages rerun: change one thing in a finished smoke tree, dry-run, compare the exact job set."""

from pathlib import Path

import pytest
import yaml
from conftest import SMOKE, load_yaml, scheduled_jobs

pytestmark = pytest.mark.workflow

STAGES = ["add_1x1", "add_2x2", "mul_2x1"]
DOWNSTREAM = {("aggregate", ""), ("plot_ablation", "ablation=carry"), ("plot_curriculum", ""), ("all", "")}


def runs(variant, seeds=(0,)):
    return {(rule, f"variant={variant}, seed={s}") for rule in ("train", "evaluate") for s in seeds}


def data_jobs(fmt):
    return {("make_dataset", f"fmt={fmt}, stage={st}") for st in STAGES}


def with_config(tree: Path, change) -> str:
    cfg = load_yaml(tree / "tests/config/smoke.yaml")
    change(cfg)
    path = tree / "changed.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return f"--configfile={path}"


def edited(path: Path):
    """Context manager: append a comment to a module, restore it byte for byte afterwards."""
    import contextlib

    @contextlib.contextmanager
    def cm():
        original = path.read_bytes()
        path.write_bytes(original + b"\n# an edit\n")
        try:
            yield
        finally:
            path.write_bytes(original)

    return cm()


def test_nothing_changed_nothing_to_do(smoke_tree):
    assert scheduled_jobs(smoke_tree, "all", SMOKE) == set()


def test_a_variant_training_hyperparameter_reruns_only_that_variant(smoke_tree):
    arg = with_config(smoke_tree, lambda c: c["variants"][1].update(optim={"lr": 0.002}))
    assert scheduled_jobs(smoke_tree, "all", arg) == runs("carry_off") | DOWNSTREAM


def test_a_data_factor_in_one_variant_reruns_its_data_and_what_follows(smoke_tree):
    arg = with_config(smoke_tree, lambda c: c["variants"][1].update(factors={"carry_mask": False, "commas": True}))
    expected = data_jobs("carry0-commas1-commute0-mixed0") | runs("carry_off") | DOWNSTREAM
    assert scheduled_jobs(smoke_tree, "all", arg) == expected


def test_a_new_seed_runs_only_the_new_runs(smoke_tree):
    arg = with_config(smoke_tree, lambda c: c.update(seeds=[0, 1]))
    expected = {(r, f"variant={v}, seed=1") for r in ("train", "evaluate") for v in ("baseline", "carry_off")} | DOWNSTREAM
    assert scheduled_jobs(smoke_tree, "all", arg) == expected


def test_the_plotting_module_reruns_only_figures(smoke_tree):
    with edited(smoke_tree / "src/arithsignal/plots.py"):
        jobs = scheduled_jobs(smoke_tree, "all", SMOKE)
    assert jobs == {("plot_ablation", "ablation=carry"), ("plot_curriculum", ""), ("all", "")}


def test_the_model_module_reruns_training_and_what_follows_but_no_data(smoke_tree):
    with edited(smoke_tree / "src/arithsignal/model.py"):
        jobs = scheduled_jobs(smoke_tree, "all", SMOKE)
    assert jobs == runs("baseline") | runs("carry_off") | DOWNSTREAM


def test_one_figure_builds_only_what_it_needs(smoke_tree):
    arg = with_config(smoke_tree, lambda c: c["variants"].append({"name": "commas_on", "factors": {"commas": True}}))
    # a new variant that the carry figure does not show: asking for the figure schedules nothing
    assert scheduled_jobs(smoke_tree, "results/ablation_carry.pdf", arg) == set()


def test_reordering_keys_in_the_config_is_not_a_change(smoke_tree):
    arg = with_config(smoke_tree, lambda c: None)  # yaml.safe_dump writes the keys sorted
    assert scheduled_jobs(smoke_tree, "all", arg) == set()
