"""A bad config stops the workflow before any job runs, with a message naming the key."""

import copy
import itertools

import pytest
import yaml
from conftest import ROOT, copy_workflow, load_yaml, snakemake

from arithsignal.config.checks import RELATIONS, check
from arithsignal.config.experiment import ConfigError, canonical_variants, effective_settings

SMOKE = load_yaml(ROOT / "tests/config/smoke.yaml")


def sweep(grid, base="baseline"):
    return {"name": "s", "from": [base], "grid": grid}


def mutate(fn):
    cfg = copy.deepcopy(SMOKE)
    fn(cfg)
    sweeps = {sw["name"] for sw in cfg.get("sweeps", [])}
    if "size" not in sweeps:  # a case that replaces the sweeps tests them, not the size axis that reads one
        if cfg.get("scaling", {}).get("sweep") == "size":
            del cfg["scaling"]
        for entry in cfg.get("analysis", {}).get("family", []):
            if entry.get("sizes") == "size":
                del entry["sizes"]
        cfg["maps"] = [m for m in cfg.get("maps", []) if m["sizes"] != "size"]
    return cfg


# (id, mutation, text the error must contain): every one is refused by the real workflow before any job runs. The
# schema's refusals (a key, a type, a range), and one relation of config.check to show the workflow runs it before any
# job; each relation has its own case below (RELATION_CASES).
BAD = [
    ("unknown_key", lambda c: c.update(learning_rate=0.1), "learning_rate"),
    ("stage_budget_below_the_floor", lambda c: c["stages"][1].update(budget=10), "stages[1].budget (add_2x2)"),
    ("stage_budget_not_a_count", lambda c: c["stages"][1].update(budget=0.5), "budget"),
    ("preset_not_a_folder_name", lambda c: c.update(preset="my/preset"), "preset"),
    ("preset_a_shared_folder", lambda c: c.update(preset="runs"), "preset"),
    ("factor_typo", lambda c: c["factors"].update(cary_mask=True), "cary_mask"),
    ("positions_unknown", lambda c: c["model"].update(positions="rope"), "positions"),
    ("length_op_unknown", lambda c: c["length"]["max_digits"].update(div=3), "div"),
    ("factor_not_bool", lambda c: c["factors"].update(commas="yes"), "commas"),
    ("negative_digits", lambda c: c["stages"][0].update(digits=[-1, 1]), "digits"),
    ("zero_digits", lambda c: c["stages"][0].update(digits=[0, 1]), "digits"),
    ("three_operands", lambda c: c["stages"][0].update(digits=[1, 1, 1]), "digits"),
    ("empty_stages", lambda c: c.update(stages=[]), "stages"),
    ("unknown_operation", lambda c: c["stages"][0].update(op="div"), "op"),
    ("unknown_stage_shapes", lambda c: c["stages"][0].update(shapes="all"), "shapes"),
    ("missing_section", lambda c: c.pop("model"), "model"),
    ("window_size_zero", lambda c: c["graduation"].update(problems_per_window=0), "problems_per_window"),
    ("window_every_zero", lambda c: c["graduation"].update(window_every=0), "window_every"),
    ("seed_not_integer", lambda c: c.update(seeds=[0, "one"]), "seeds"),
    ("replay_share_above_one", lambda c: c["curriculum"].update(replay_share=1.5), "replay_share"),
    ("replay_share_negative", lambda c: c["curriculum"].update(replay_share=-0.1), "replay_share"),
    ("negative_lr", lambda c: c["optim"].update(lr=-0.001), "lr"),
    ("variant_unknown_section", lambda c: c["variants"][1].update(optimizer={"lr": 0.1}), "optimizer"),
    ("one_microbatch", lambda c: c["train"].update(snr_microbatches=1), "snr_microbatches"),
    ("checkpoint_every_in_train", lambda c: c["train"].update(checkpoint_every=100), "checkpoint_every"),  # moved out
    ("threshold_measure_unknown", lambda c: c["analysis"]["family"][2].update(measure="b_a_accuracy"), "measure"),
    ("threshold_zero", lambda c: c["analysis"]["family"][2].update(threshold=0), "threshold"),
    ("threshold_above_one", lambda c: c["analysis"]["family"][2].update(threshold=90), "threshold"),
    ("threshold_without_a_variant", lambda c: c["analysis"]["family"][2].pop("variant"), "variant"),
    ("checkpoint_every_zero", lambda c: c["execution"].update(checkpoint_every=0), "checkpoint_every"),
    ("unknown_schedule", lambda c: c["optim"].update(schedule="step"), "schedule"),
    ("grad_clip_zero", lambda c: c["optim"].update(grad_clip=0), "grad_clip"),
    ("unknown_window_score", lambda c: c["graduation"].update(score="tokens"), "score"),
    ("unknown_graduation_pool", lambda c: c["graduation"].update(pool="test"), "pool"),
    ("sweep_without_grid", lambda c: c.update(sweeps=[{"name": "s", "from": ["baseline"]}]), "grid"),
    ("train_size_zero", lambda c: c["data"].update(train_size=0), "train_size"),
    ("top_k_zero", lambda c: c["evaluation"].update(top_k=0), "top_k"),
    ("minimal_model_without_seeds", lambda c: c["minimal_model"].update(seeds=[]), "seeds"),
    ("ablation_without_a_factor", lambda c: c["ablations"][0].pop("factor"), "factor"),
    ("scaling_without_a_sweep", lambda c: c.update(scaling={}), "sweep"),
    ("family_error_rate_above_one", lambda c: c["analysis"].update(alpha=2), "alpha"),
    ("map_claimed_zero", lambda c: c["maps"][0].update(claimed=0), "claimed"),
    ("after_censored_unknown", lambda c: c["curriculum"].update(after_censored="skip"), "after_censored"),
    ("block_size_below_the_longest_line", lambda c: c["model"].update(block_size=20), "model.block_size (20"),
    (
        "block_size_below_the_length_split",
        lambda c: c["length"]["max_digits"].update(add=9),
        "the length split renders lines",
    ),
]


@pytest.fixture(scope="module")
def refusal_tree(tmp_path_factory):
    return copy_workflow(tmp_path_factory.mktemp("refusals"))


@pytest.mark.parametrize("name, fn, key", BAD, ids=[b[0] for b in BAD])
def test_bad_config_is_refused_before_any_job(refusal_tree, name, fn, key):
    cfg = mutate(fn)
    # the bad file is the whole config (config.yaml replaced too), as a user's own config would be
    (refusal_tree / "config.yaml").write_text(yaml.safe_dump(cfg))
    bad = refusal_tree / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    r = snakemake(refusal_tree, "all", "--cores", "1", f"--configfile={bad}")
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert key in out, out[-2000:]
    assert not (refusal_tree / "results").exists(), "a job ran before the config was refused"


def test_every_section_of_the_config_has_a_refusal():
    sections = set(load_yaml(ROOT / "schemas/config.schema.yaml")["properties"])
    touched = set()
    for _, fn, _ in BAD:
        cfg = mutate(fn)
        touched |= {k for k in sections if cfg.get(k, "absent") != SMOKE.get(k, "absent")}
    assert touched == sections, f"no refusal test changes {sorted(sections - touched)}"


def _sweeps(*sweeps):
    return lambda c: c.update(sweeps=list(sweeps))


def _analysis(**entry):
    entry = {"ablation": "carry", "stages": ["add_2x2"], "smallest_effect": 1.25, **entry}
    return lambda c: c["analysis"]["family"].append(entry)


# One case per relation config.check enforces (config.RELATIONS): the mutated smoke config breaks that relation alone
RELATION_CASES = {
    "stage_digits_order": lambda c: c["stages"][1].update(digits=[1, 2]),
    "stage_names_unique": lambda c: c["stages"].append(dict(c["stages"][0])),
    "variant_names_unique": lambda c: c["variants"].append({"name": "baseline"}),
    "pool_within_train": lambda c: c["data"].update(pool_size=1000),
    "seeds_unique": lambda c: c.update(seeds=[0, 0]),
    "ablation_variant_known": lambda c: c["ablations"][0].update(off_variant="nope"),
    "ablation_factor_direction": lambda c: c["ablations"][0].update(on_variant="carry_off", off_variant="baseline"),
    "ablation_clip_direction": lambda c: c["ablations"][-1].update(on_variant="clip_off", off_variant="baseline"),
    "ablation_optimiser_direction": lambda c: c["ablations"][6].update(on_variant="baseline", off_variant="snr_gated"),
    "ablation_vectors_differ": lambda c: c["ablations"][7].update(on_variant="baseline"),
    "ablation_names_unique": lambda c: c["ablations"].append(dict(c["ablations"][0])),
    "progress_on_log_grid": lambda c: c["train"].update(progress_every=c["train"]["log_every"] + 1),
    "minimal_snr_within_steps": lambda c: c["minimal_model"].update(snr_every=500),
    "budget_holds_a_graduation": lambda c: c["curriculum"].update(stage_budget=10),
    "microbatches_divide_batch": lambda c: c["train"].update(snr_microbatches=5),
    "heads_divide_width": lambda c: c["model"].update(n_head=3),
    "block_holds_longest_line": lambda c: c["variants"].append({"name": "tight", "model": {"block_size": 24}}),
    "length_op_trained": lambda c: c["length"]["max_digits"].update(sub=3),
    "length_covers_trained": lambda c: c["length"]["max_digits"].update(add=1),
    "block_holds_length_line": lambda c: (
        c["length"]["max_digits"].update(add=12),
        c["variants"][-1]["model"].update(abacus_max_offset=20),  # the abacus variant's offset still covers the split
    ),  # fmt: skip
    "coupled_needs_known_widths": lambda c: c["variants"].append(
        {"name": "coupled", "model": {"positions": "coupled", "abacus_max_offset": 3}}
    ),
    "every_shape_without_mixed_lengths": lambda c: c["stages"][2].update(shapes="every"),  # mixed_on mixes 1x1 in
    # 4-digit sums (5-digit answers) against the 3-digit numbers the stages train: 2 places untrained at offset 1
    "offset_covers_length": lambda c: (
        c["length"]["max_digits"].update(add=4),
        c["variants"][-1]["model"].update(abacus_max_offset=1),
    ),  # fmt: skip
    # without a scratchpad the carry mask has nowhere to be written: "bare" is scratchpad_off's data under another name
    "ablations_differ": lambda c: (
        c["variants"].append({"name": "bare", "factors": {"scratchpad": False, "carry_mask": False}}),
        c["ablations"].append(
            {"name": "scratchpad_bare", "factor": "scratchpad", "on_variant": "baseline", "off_variant": "bare"},
        ),
    ),  # fmt: skip
    "sweep_names_unique": _sweeps(sweep({"optim.lr": [0.01]}), sweep({"optim.lr": [0.02]})),
    "sweep_base_known": _sweeps(sweep({"optim.lr": [0.1]}, base="nope")),
    "sweep_key_known": _sweeps(sweep({"optim.lrr": [0.1]})),
    "sweep_value_valid": _sweeps(sweep({"optim.lr": [0.01, -1]})),
    "sweep_name_characters": _sweeps(sweep({"optim.vectors": [{"lr_scale": 2.0, "weight_decay": 0.0}]})),
    "sweep_name_taken": lambda c: (
        c["variants"].append({"name": "baseline-lr_0.01", "optim": {"lr": 0.02}}),
        c.update(sweeps=[sweep({"optim.lr": [0.01]})]),
    ),  # fmt: skip
    "sweep_points_agree": _sweeps(
        sweep({"optim.grad_clip": [None]}),
        {**sweep({"optim.grad_clip": ["none"]}), "name": "t"},
    ),
    "scaling_sweep_known": lambda c: c["scaling"].update(sweep="nope"),
    "scaling_sweep_model_keys": lambda c: c["scaling"].update(sweep="recipe"),
    # the variants' own size
    "scaling_sweep_two_sizes": lambda c: c["sweeps"][1]["grid"].update({"model.d_model": [32]}),
    "analysis_ablation_known": _analysis(ablation="nope"),
    "analysis_ablation_once": _analysis(),
    "analysis_stage_known": lambda c: c["analysis"]["family"][0].update(stages=["add_1x1", "nope"]),
    "analysis_stage_differs": lambda c: c["analysis"]["family"][0].update(stages=["add_2x2", "mul_2x1"]),
    "analysis_stage_once": lambda c: c["analysis"]["family"][0].update(stages=["add_2x2", "add_2x2"]),
    "analysis_sizes_known": lambda c: c["analysis"]["family"][0].update(sizes="nope"),
    "analysis_sizes_sweep": lambda c: c["analysis"]["family"][0].update(sizes="recipe"),
    "map_ablation_known": lambda c: c["maps"].append(dict(c["maps"][0])),  # mapped twice
    "map_sizes_sweep": lambda c: c["maps"][0].update(sizes="recipe"),
    "ablation_entry_alone": lambda c: c["analysis"]["family"][1].update(measure="commute_exact_match"),
    "threshold_entry_alone": lambda c: c["analysis"]["family"][2].update(smallest_effect=1.25),
    "threshold_name_unique": lambda c: c["analysis"]["family"][2].update(name="reverse"),  # an ablation not in it
    "threshold_variant_known": lambda c: c["analysis"]["family"][2].update(variant="nope"),
    "threshold_stage_known": lambda c: c["analysis"]["family"][2].update(stages=["add_2x2", "nope"]),
    "threshold_held_out": lambda c: c["analysis"]["family"][2].update(variant="commute_on"),
}


def test_every_relation_config_check_enforces_has_one_refusal_case():
    assert set(RELATION_CASES) == set(RELATIONS)


@pytest.mark.parametrize("relation", sorted(RELATION_CASES))
def test_each_relation_is_refused_alone_naming_the_key(relation):
    """The case breaks that relation and no other; the message names the key and what was expected."""
    schema = load_yaml(ROOT / "schemas/config.schema.yaml")
    cfg = mutate(RELATION_CASES[relation])
    # the schema check of the sweep values needs the schema; sweep_points_agree is reached only without it
    with pytest.raises(ConfigError) as e:
        check(cfg, None if relation == "sweep_points_agree" else schema)
    assert e.value.relations == {relation}, str(e.value)
    assert all(":" in m for _, m in e.value.problems)  # "key (value): what was expected"


def _breaking(*relations):
    return mutate(lambda c: [RELATION_CASES[r](c) for r in relations])


def test_every_broken_relation_is_refused_at_once_and_the_late_ones_after_the_rest():
    # the late relations resolve every variant, sweep points too: they are checked once the rest hold
    with pytest.raises(ConfigError) as e:
        check(_breaking("seeds_unique", "sweep_base_known", "heads_divide_width"))
    assert e.value.relations == {"seeds_unique", "sweep_base_known"}
    with pytest.raises(ConfigError) as e:
        check(_breaking("heads_divide_width", "progress_on_log_grid"))
    assert e.value.relations == {"heads_divide_width", "progress_on_log_grid"}


def test_a_relation_is_registered_once():
    from arithsignal.config.relations import REGISTRY, relation

    with pytest.raises(ValueError, match="seeds_unique"):
        relation("seeds_unique", "seeds are unique, again")(lambda config: ())
    assert [r.name for r in REGISTRY] == list(RELATIONS)  # the second one was not registered


def test_presets_pass():
    for p in [ROOT / "config.yaml", ROOT / "tests/config/smoke.yaml"]:
        check(load_yaml(p))
    # the bound is the variant's own format's: without masks the longest smoke line is 24 tokens
    tight = {"name": "tight", "factors": {"carry_mask": False}, "model": {"block_size": 24}}
    check(mutate(lambda c: c["variants"].append(tight)))


@pytest.mark.parametrize("digits", [(1, 1), (2, 1), (2, 2)])
@pytest.mark.parametrize("op", ["add", "sub", "mul"])
def test_the_longest_line_is_the_longest_of_every_problem(op, digits):
    """config.check bounds every line by formats.longest_line: it must be the longest of all, in both orders."""
    from arithsignal.data.formats import Factors, longest_line, render
    from arithsignal.data.splits import digit_range

    (la, ha), (lb, hb) = digit_range(digits[0]), digit_range(digits[1])
    for bits in [(1, 1, 0, 0, 1, 0), (0, 0, 0, 0, 1, 0), (1, 1, 0, 0, 1, 1), (0, 0, 0, 0, 0, 0)]:
        f = Factors(*map(bool, bits))
        longest = max(
            len("".join(render(x, op, y, f)))
            for a, b in itertools.product(range(la, ha + 1), range(lb, hb + 1))
            for x, y in ((a, b), (b, a))
            if op != "sub" or x >= y
        )
        assert len(longest_line(op, digits, f)) == longest, (op, digits, f)


def merged(preset):
    """A preset as the workflow sees it: merged over config.yaml (dicts key by key, other values replaced)."""
    from snakemake.utils import update_config

    cfg = load_yaml(ROOT / "config.yaml")
    if preset.name != "config.yaml":
        update_config(cfg, load_yaml(preset))
    return cfg


def test_identical_variants_are_trained_once():
    cfg = mutate(lambda c: c["variants"].append({"name": "carry_on_again", "factors": {"carry_mask": True}}))
    canon = canonical_variants(cfg)
    assert canon["carry_on_again"] == "baseline"
    assert canon["carry_off"] == "carry_off"
    assert effective_settings(cfg, "carry_off")["factors"]["carry_mask"] is False


def test_sweeps_expand_into_named_variants_and_share_runs_with_equal_settings():
    from arithsignal.config.experiment import sweep_points

    grid = {"optim.lr": [SMOKE["optim"]["lr"], 0.01], "optim.grad_clip": [SMOKE["optim"]["grad_clip"], None]}
    cfg = mutate(lambda c: c.update(sweeps=[{"name": "s", "from": ["baseline", "carry_off"], "grid": grid}]))
    check(cfg)
    points = sweep_points(cfg)
    # keys in sorted order (grad_clip before lr), whatever order the grid was written in
    names = itertools.product(("baseline", "carry_off"), ("1.0", "none"), (0.003, 0.01))
    assert [p.name for p in points] == [f"{base}-grad_clip_{clip}-lr_{lr}" for base, clip, lr in names]
    assert points[3].label == "grad_clip=none, lr=0.01"
    assert points[3].values == {"optim.grad_clip": None, "optim.lr": 0.01}
    canon = canonical_variants(cfg)
    assert canon["baseline-grad_clip_1.0-lr_0.003"] == "baseline"  # equal settings: trained once
    assert canon["carry_off-grad_clip_1.0-lr_0.003"] == "carry_off"
    assert canon["carry_off-grad_clip_none-lr_0.01"] == "carry_off-grad_clip_none-lr_0.01"
    s = effective_settings(cfg, "carry_off-grad_clip_none-lr_0.01")
    assert s["factors"]["carry_mask"] is False and s["optim"]["lr"] == 0.01 and s["optim"]["grad_clip"] is None


def test_two_sweeps_sharing_a_point_train_it_once():
    from arithsignal.config.experiment import all_variants

    sweeps = [sweep({"optim.lr": [0.01]}), {**sweep({"optim.lr": [0.01, 0.02]}), "name": "t"}]
    cfg = mutate(lambda c: c.update(sweeps=sweeps))
    check(cfg)
    names = [v["name"] for v in all_variants(cfg)]
    assert names.count("baseline-lr_0.01") == 1 and "baseline-lr_0.02" in names


PRESETS = [ROOT / "config.yaml", ROOT / "tests/config/smoke.yaml", *sorted((ROOT / "presets").glob("*.yaml"))]


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.name)
def test_presets_are_valid_and_their_longest_line_fits_the_model(preset):
    """Every preset passes the schema and every relation (config.check bounds each variant's longest line by its
    block size)."""
    from snakemake.utils import validate

    cfg = merged(preset)
    validate(cfg, str(ROOT / "schemas/config.schema.yaml"))
    check(cfg, load_yaml(ROOT / "schemas/config.schema.yaml"))


def test_execution_settings_enter_no_run_s_settings_or_hash():
    from arithsignal.core.io import stable_hash

    cfg = load_yaml(ROOT / "config.yaml")
    other = copy.deepcopy(cfg)
    other["execution"]["checkpoint_every"] = 7
    check(other)
    for v in cfg["variants"]:
        a, b = effective_settings(cfg, v["name"]), effective_settings(other, v["name"])
        assert a == b and stable_hash(a) == stable_hash(b) and "checkpoint_every" not in str(a)


def test_an_optional_factor_spelled_off_is_the_run_it_names_when_left_out():
    """pad: false written out and pad left out are one run (one folder, one hash): an ablation's off side that spells
    it out trains nothing twice."""
    from arithsignal.config.experiment import run_keys

    cfg = mutate(lambda c: c["variants"].append({"name": "unpadded", "factors": {"pad": False}}))
    keys = run_keys(cfg)
    assert keys["unpadded"] == keys["baseline"]
