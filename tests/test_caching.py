"""Only changed stages rerun: change one thing in a finished smoke tree, dry-run, compare the exact job set."""

import contextlib
from pathlib import Path

import pytest
import yaml
from conftest import SMOKE, load_yaml, scheduled_jobs, snakemake

from arithsignal.config.experiment import MINIMAL_EXPERIMENTS

pytestmark = pytest.mark.workflow

STAGES = ["add_1x1", "add_2x2", "mul_2x1"]
VARIANTS = ["baseline", "carry_off", "commas_on", "commute_on", "mixed_on", "scratchpad_off", "reverse_on", "clip_off",
            "snr_gated", "vectors_own", "abacus"]  # fmt: skip
ABLATIONS_OF = {
    "baseline": ["carry", "commas", "commute", "mixed", "scratchpad", "reverse", "snr_gate", "vectors", "clip"],
    "carry_off": ["carry"], "commas_on": ["commas"], "commute_on": ["commute"], "mixed_on": ["mixed"],
    "scratchpad_off": ["scratchpad"], "reverse_on": ["reverse"], "clip_off": ["clip"], "snr_gated": ["snr_gate"],
    "vectors_own": ["vectors"], "abacus": []
}  # fmt: skip
BASELINE_FORMAT = "carry1-commas0-commute0-mixed0-scratch1-reverse0"
CONFIG = {("preset_config", "")}  # the preset's merged config, written again wherever the config changes
EVERYTHING_AFTER_RUNS = {("aggregate", ""), ("length_stats", ""), ("plot_failures", ""), ("summary", ""), ("all", "")}
# the smoke preset's sweeps: recipe (one point equals the baseline, one clip_off, two are runs of their own) and size
# (d_model 32 is baseline and carry_off themselves); the recipe points' own runs are trained, never evaluated; the
# size points' are evaluated too, for the carry mask's map (its held-out exact match at stage end)
SWEEP_POINTS = [
    "baseline-grad_clip_1.0-schedule_cosine",
    "baseline-grad_clip_none-schedule_cosine",
    "baseline-d_model_16",
    "carry_off-d_model_16",
]
SIZE_POINTS = SWEEP_POINTS[2:]
MAP_JOBS = {("map_stats", "ablation=carry"), ("plot_map", "ablation=carry")}  # the map reads both carry sides
SCALING_JOBS = {("sweep_stats", "sweep=size"), ("plot_sweep", "sweep=size"), ("scaling", ""), ("plot_scaling", "")}
SWEEP_JOBS = {("sweep_stats", "sweep=recipe"), ("plot_sweep", "sweep=recipe")} | SCALING_JOBS


def sweep_runs(seeds=(0,), points=SWEEP_POINTS):
    """The points' training jobs, and the evaluation of those on the size axis (the map reads it)."""
    evaluated = [p for p in points if p in SIZE_POINTS]
    return {("train", f"variant={p}, seed={s}") for p in points for s in seeds} | {
        ("evaluate", f"variant={p}, seed={s}") for p in evaluated for s in seeds
    }


FIGURE_JOBS = (
    {(r, f"ablation={a}") for a in ABLATIONS_OF["baseline"] for r in ("plot_ablation", "plot_length")}
    | {("plot_progress", f"variant={v}") for v in VARIANTS}
    | {("plot_minimal_model", f"experiment={e}") for e in MINIMAL_EXPERIMENTS}
    | {
        ("plot_failures", ""),
        ("plot_sweep", "sweep=recipe"),
        ("plot_sweep", "sweep=size"),
        ("plot_scaling", ""),
        ("plot_map", "ablation=carry"),
        ("all", ""),
    }
)


def runs(variant, seeds=(0,), rules=("train", "evaluate", "evaluate_length")):
    """A run's jobs: its training and both evaluations (the length split's too: the smoke preset has one)."""
    return {(rule, f"variant={variant}, seed={s}") for rule in rules for s in seeds}


CONFIRMED = {"baseline", "carry_off", "commute_on"}  # the variants of the smoke preset's primary family


def after_runs_of(*variants):
    """What must rerun once these variants' runs change: their ablations, their curricula, every summary, and the
    confirmatory analysis where they are in its family."""
    ablations = {a for v in variants for a in ABLATIONS_OF[v]}
    return (
        {(r, f"ablation={a}") for a in ablations for r in ("ablation_stats", "plot_ablation", "plot_length")}
        | {("plot_progress", f"variant={v}") for v in variants}
        | EVERYTHING_AFTER_RUNS
        | ({("confirm", "")} if CONFIRMED & set(variants) else set())
        | (MAP_JOBS if {"baseline", "carry_off"} & set(variants) else set())
    )


def data_jobs(fmt):
    return {("make_dataset", f"fmt={fmt}, stage={st}") for st in STAGES}


def length_data_job(fmt):
    return {("make_length_split", f"fmt={fmt}")}


def with_config(tree: Path, change) -> str:
    """The smoke preset changed by ``change``, as a user edits a preset: its results stay in results/smoke/."""
    cfg = load_yaml(tree / "tests/config/smoke.yaml")  # preset: smoke
    change(cfg)
    path = tree / "changed.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return f"--configfile={path}"


@contextlib.contextmanager
def edited(path: Path):
    """Append a comment to a module; restore it byte for byte afterwards."""
    original = path.read_bytes()
    path.write_bytes(original + b"\n# an edit\n")
    try:
        yield
    finally:
        path.write_bytes(original)


def test_nothing_changed_nothing_to_do(smoke_tree):
    assert scheduled_jobs(smoke_tree, "all", SMOKE) == set()


def test_a_new_variant_trains_only_that_variant(smoke_tree):
    arg = with_config(smoke_tree, lambda c: c["variants"].append({"name": "wide", "model": {"d_model": 48}}))
    expected = runs("wide") | {("plot_progress", "variant=wide")} | EVERYTHING_AFTER_RUNS | CONFIG
    assert scheduled_jobs(smoke_tree, "all", arg) == expected


def test_a_variant_training_hyperparameter_reruns_only_that_variant(smoke_tree):
    arg = with_config(smoke_tree, lambda c: c["variants"][1].update(optim={"lr": 0.002}))
    # and the size sweep's point that starts from carry_off (it inherits the rate), with the scaling fit that reads it
    expected = (
        runs("carry_off") | after_runs_of("carry_off") | sweep_runs(points=["carry_off-d_model_16"]) | SCALING_JOBS
    ) | CONFIG
    assert scheduled_jobs(smoke_tree, "all", arg) == expected


def test_a_data_factor_in_one_variant_reruns_its_data_and_what_follows(smoke_tree):
    arg = with_config(smoke_tree, lambda c: c["variants"][1].update(factors={"carry_mask": False, "commas": True}))
    fmt = "carry0-commas1-commute0-mixed0-scratch1-reverse0"
    expected = data_jobs(fmt) | length_data_job(fmt) | runs("carry_off") | after_runs_of("carry_off")
    # the size sweep's point that starts from carry_off has its factors, and the scaling fit reads it
    expected |= sweep_runs(points=["carry_off-d_model_16"]) | SCALING_JOBS | CONFIG
    assert scheduled_jobs(smoke_tree, "all", arg) == expected


def test_a_new_seed_runs_only_the_new_runs(smoke_tree):
    arg = with_config(smoke_tree, lambda c: c.update(seeds=[0, 1]))
    expected = set().union(*(runs(v, seeds=[1]) for v in VARIANTS)) | after_runs_of(*VARIANTS)
    assert scheduled_jobs(smoke_tree, "all", arg) == expected | sweep_runs(seeds=[1]) | SWEEP_JOBS | CONFIG


def test_the_figures_shared_style_reruns_every_figure_and_nothing_else(smoke_tree):
    # every figure's module imports report/style.py
    with edited(smoke_tree / "src/arithsignal/report/style.py"):
        jobs = scheduled_jobs(smoke_tree, "all", SMOKE)
    assert jobs == FIGURE_JOBS


def test_one_figure_s_module_reruns_only_that_figure(smoke_tree):
    # each figure's rule declares its own module only (report/figures/), and no other module imports this one
    with edited(smoke_tree / "src/arithsignal/report/figures/ablation.py"):
        jobs = scheduled_jobs(smoke_tree, "all", SMOKE)
    assert jobs == {("plot_ablation", f"ablation={a}") for a in ABLATIONS_OF["baseline"]} | {("all", "")}


def test_checkpointing_more_often_reruns_nothing(smoke_tree):
    # an execution setting (config execution:): in no run's settings or hash, read by the train rule as a resource
    arg = with_config(smoke_tree, lambda c: c["execution"].update(checkpoint_every=7))
    assert scheduled_jobs(smoke_tree, "all", arg) == set()


def test_a_message_of_the_config_checks_reruns_nothing(smoke_tree):
    # config/checks.py runs when the workflow starts (its checks, its variants); no job runs its code, so no job reruns
    with edited(smoke_tree / "src/arithsignal/config/checks.py"):
        assert scheduled_jobs(smoke_tree, "all", SMOKE) == set()


def test_the_length_analysis_reruns_its_table_the_summary_and_the_length_figures_but_no_run(smoke_tree):
    with edited(smoke_tree / "src/arithsignal/analysis/length.py"):
        jobs = scheduled_jobs(smoke_tree, "all", SMOKE)
    length_figures = {("plot_length", f"ablation={a}") for a in ABLATIONS_OF["baseline"]}  # they read its cell table
    assert jobs == length_figures | {("length_stats", ""), ("summary", ""), ("all", "")}


def test_a_helper_imported_through_a_subpackage_reruns_the_rule_that_uses_it_and_no_other(smoke_tree):
    # analysis/attempts.py is named by no rule: report/summary.py imports it from the analysis subpackage
    with edited(smoke_tree / "src/arithsignal/analysis/attempts.py"):
        assert scheduled_jobs(smoke_tree, "all", SMOKE) == {("summary", ""), ("all", "")}


def test_the_family_s_threshold_reruns_only_the_analysis_and_the_summary(smoke_tree):
    # the bar of claim 4's threshold hypothesis is a declaration, not a run's setting: no training, no evaluation
    # (the preset's record of its merged config is written again too)
    change = with_config(smoke_tree, lambda c: c["analysis"]["family"][2].update(threshold=0.8))
    assert scheduled_jobs(smoke_tree, "all", change) == {("confirm", ""), ("summary", ""), ("preset_config", ""),
                                                         ("all", "")}  # fmt: skip


def test_the_summary_text_reruns_only_the_summary(smoke_tree):
    with edited(smoke_tree / "src/arithsignal/report/summary.py"):
        assert scheduled_jobs(smoke_tree, "all", SMOKE) == {("summary", ""), ("all", "")}


def test_the_model_module_reruns_training_and_what_follows_but_no_data(smoke_tree):
    with edited(smoke_tree / "src/arithsignal/model/gpt.py"):
        jobs = scheduled_jobs(smoke_tree, "all", SMOKE)
    assert jobs == set().union(*(runs(v) for v in VARIANTS)) | after_runs_of(*VARIANTS) | sweep_runs() | SWEEP_JOBS


def test_a_module_that_training_imports_reruns_training_too(smoke_tree):
    # train/measures.py is named by no rule: the rules declare what their modules import, transitively
    with edited(smoke_tree / "src/arithsignal/train/measures.py"):
        jobs = scheduled_jobs(smoke_tree, "all", SMOKE)
    experiments = MINIMAL_EXPERIMENTS
    minimal = {(r, f"experiment={e}") for e in experiments for r in ("minimal_model", "plot_minimal_model")}
    minimal |= {("minimal_model_summary", "")}
    assert (
        jobs
        == set().union(*(runs(v) for v in VARIANTS)) | after_runs_of(*VARIANTS) | minimal | sweep_runs() | SWEEP_JOBS
    )


def test_one_sweep_figure_builds_only_what_it_needs(workflow_copy):
    from conftest import SMOKE

    jobs = scheduled_jobs(workflow_copy, "results/smoke/sweep_recipe.pdf", SMOKE)
    # the points equal to the baseline and to clip_off are their runs
    train_only = {("train", f"variant={v}, seed=0") for v in ("baseline", "clip_off")} | sweep_runs(
        points=SWEEP_POINTS[:2]
    )
    assert jobs == data_jobs(BASELINE_FORMAT) | train_only | {
        ("sweep_stats", "sweep=recipe"),
        ("plot_sweep", "sweep=recipe"),
    }


def test_a_new_sweep_value_trains_only_its_points(smoke_tree):
    arg = with_config(smoke_tree, lambda c: c["sweeps"][0]["grid"]["optim.grad_clip"].append(0.5))
    new = ["baseline-grad_clip_0.5-schedule_constant", "baseline-grad_clip_0.5-schedule_cosine"]
    recipe = {("sweep_stats", "sweep=recipe"), ("plot_sweep", "sweep=recipe")}
    assert scheduled_jobs(smoke_tree, "all", arg) == sweep_runs(points=new) | recipe | {("all", "")} | CONFIG


def test_one_figure_builds_only_what_it_needs(workflow_copy):
    from conftest import SMOKE

    jobs = scheduled_jobs(workflow_copy, "results/smoke/ablation_commute.pdf", SMOKE)
    expected = (
        data_jobs(BASELINE_FORMAT)
        | data_jobs("carry1-commas0-commute1-mixed0-scratch1-reverse0")
        | runs("baseline", rules=("train", "evaluate"))  # the figure reads no length split
        | runs("commute_on", rules=("train", "evaluate"))
        | {("ablation_stats", "ablation=commute"), ("plot_ablation", "ablation=commute")}
    )
    assert jobs == expected


def test_a_variant_outside_a_figure_does_not_touch_it(smoke_tree):
    arg = with_config(smoke_tree, lambda c: c["variants"].append({"name": "wide", "model": {"d_model": 48}}))
    # a new variant that the carry figure does not show: asking for the figure schedules nothing
    assert scheduled_jobs(smoke_tree, "results/smoke/ablation_carry.pdf", arg) == set()


def test_reordering_keys_in_the_config_is_not_a_change(smoke_tree):
    arg = with_config(smoke_tree, lambda c: None)  # yaml.safe_dump writes the keys sorted
    assert scheduled_jobs(smoke_tree, "all", arg) == set()


def test_the_minimal_model_settings_rerun_only_its_branch(smoke_tree):
    arg = with_config(smoke_tree, lambda c: c["minimal_model"].update(steps=150))
    experiments = MINIMAL_EXPERIMENTS
    expected = {(r, f"experiment={e}") for e in experiments for r in ("minimal_model", "plot_minimal_model")}
    assert scheduled_jobs(smoke_tree, "all", arg) == expected | {("minimal_model_summary", ""), ("all", "")} | CONFIG


def test_a_second_preset_keeps_its_own_results_and_reuses_the_first_ones_runs(smoke_tree):
    """After the smoke preset, a second preset (its carry ablation and one new variant) trains only the new variant,
    writes its summary to results/second/ with its merged config, and leaves the smoke preset's folder as it was."""
    smoke_out = smoke_tree / "results/smoke"
    before = {p: p.read_bytes() for p in smoke_out.rglob("*") if p.is_file()}

    c = load_yaml(smoke_tree / "tests/config/smoke.yaml")
    c["preset"] = "second"
    c["variants"] = [*c["variants"][:2], {"name": "wide", "model": {"d_model": 48}}]  # baseline, carry_off, a new one
    c["ablations"] = [c["ablations"][0]]
    c.update(sweeps=[], maps=[], scaling={"sweep": None}, analysis={**c["analysis"], "family": []})
    del c["length"]
    (smoke_tree / "second.yaml").write_text(yaml.safe_dump(c))
    arg = "--configfile=second.yaml"  # results/second/
    trained = {w for rule, w in scheduled_jobs(smoke_tree, "all", arg) if rule == "train"}
    assert trained == {"variant=wide, seed=0"}  # the smoke preset's baseline and carry_off runs are reused
    r = snakemake(smoke_tree, "all", "--cores", "2", arg)
    assert r.returncode == 0, r.stderr[-3000:]
    out = smoke_tree / "results/second"
    assert "Summary: results/second/summary.md" in r.stdout + r.stderr  # the onsuccess handler says where it is
    assert (out / "summary.md").exists() and (out / "summary.html").read_text().startswith("<!DOCTYPE html>")
    assert load_yaml(out / "config.yaml")["variants"][2]["name"] == "wide"
    assert (out / "ablation_carry.pdf").exists() and not (out / "ablation_commas.pdf").exists()
    assert {p: p.read_bytes() for p in smoke_out.rglob("*") if p.is_file()} == before
