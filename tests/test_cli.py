"""The command line: `compare` finds every kind of difference, `show` reads presets as Snakemake does."""

import os
import shutil
import time

import pytest
from conftest import ROOT, run_dir, run_file

from arithsignal.__main__ import main
from arithsignal.core.io import read_parquet, write_parquet

RUN = run_dir(ROOT, "baseline", "tests/config/smoke.yaml").removeprefix("results/")  # runs/baseline-<key>/seed0


@pytest.fixture
def two_trees(smoke_tree, tmp_path):
    """Two copies of the smoke tree's per-run tables, identical until a test plants a difference in the second."""
    for name in ("a", "b"):
        shutil.copytree(smoke_tree / "results/runs", tmp_path / name / "runs")
    return tmp_path / "a", tmp_path / "b"


def _rewrite(path, change):
    write_parquet(change(read_parquet(path)), path)


def test_compare_finds_a_tree_equal_to_its_copy(two_trees, capsys):
    assert main(["compare", *map(str, two_trees)]) == 0
    assert "DIFFERENT" not in capsys.readouterr().out


@pytest.mark.parametrize(
    "plant, said",
    [
        ("a file in the second tree only", "missing in"),
        ("a file in the first tree only", "missing in"),
        ("a column on one side only", "columns on one side only: ['extra']"),
        ("a row fewer", "rows against"),
        ("a different value", "values differ in ['steps']"),
    ],
)
def test_compare_fails_on_every_kind_of_difference(two_trees, capsys, plant, said):
    a, b = two_trees
    grads = b / RUN / "graduations.parquet"
    if plant == "a file in the second tree only":
        shutil.copytree(b / RUN, b / RUN.replace("seed0", "seed9"))
    elif plant == "a file in the first tree only":
        run_file(b / RUN, "eval").unlink()
    elif plant == "a column on one side only":
        _rewrite(grads, lambda df: df.assign(extra=1))
    elif plant == "a row fewer":
        _rewrite(grads, lambda df: df.iloc[:-1])
    else:
        _rewrite(grads, lambda df: df.assign(steps=df["steps"] + 100))
    assert main(["compare", str(a), str(b)]) == 1
    assert said in capsys.readouterr().out


def test_compare_says_first_when_the_trees_ran_other_numerics(two_trees, capsys):
    """A planted numerics difference (the second tree's ATen path recorded as AVX-512) is named before any
    difference."""
    import json

    from arithsignal.core.io import PROVENANCE_COLUMNS, read_provenance

    a, b = two_trees
    path = b / RUN / "graduations.parquet"
    prov = read_provenance(path)
    prov["numerics"] = json.dumps(json.loads(prov["numerics"]) | {"aten_capability": "AVX512"}, sort_keys=True)
    df = read_parquet(path).drop(columns=PROVENANCE_COLUMNS)
    write_parquet(df.assign(steps=df["steps"] + 100), path, prov)
    assert main(["compare", str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert out.index("numerics differ") < out.index("DIFFERENT") and '"aten_capability": "AVX512"' in out


def test_compare_ignores_clocks_and_provenance(two_trees):
    a, b = two_trees
    _rewrite(b / RUN / "train_log.parquet",
             lambda df: df.assign(wall_time_s=df["wall_time_s"] * 2, package_version="other"))  # fmt: skip
    assert main(["compare", str(a), str(b)]) == 0


def test_show_merges_a_partial_preset_over_the_config(capsys):
    """presets/scratchpad.yaml sets only what it changes (curriculum, variants, family): shown as Snakemake runs it."""
    assert main(["show", "--configfile", str(ROOT / "presets/scratchpad.yaml"), "--variant", "scratchpad_off",
                 "--stage", "mul_2x2", "-n", "2"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if not line.startswith("#")]
    assert len(lines) == 2
    assert all(" | A" in line and "P" not in line.split(" | ")[1] for line in lines)  # no scratchpad


def test_show_names_an_unknown_stage(capsys):
    assert main(["show", "--stage", "div_9x9"]) == 2
    assert "unknown stage 'div_9x9'" in capsys.readouterr().err


def test_the_power_analysis_needs_a_spread_to_simulate_from(tmp_path, capsys):
    assert main(["power", "--results", str(tmp_path), "--spreads", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "give --median-steps and --sigma" in err or "declares no primary family" in err


def test_the_readme_s_power_command_works_from_a_fresh_clone(tmp_path, capsys):
    """No results folder (a fresh clone): the spread recorded in docs/spreads from the default's last run stands in for
    it, and the report says so, with the design's power."""
    assert not (tmp_path / "results").exists()
    args = ["power", f"--configfile={ROOT / 'config.yaml'}", "--results", str(tmp_path / "results"), "--sims", "1"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "docs/spreads/carry.json (recorded from" in out and "no runs under" in out
    threshold = "## commute_accuracy: baseline's commute_exact_match above 0.9"
    for name in ("## carry: pooled effect", "## commas: pooled effect", "## commute: pooled effect",
                 "## mixed: pooled effect", threshold):  # fmt: skip
        assert name in out
    assert "docs/spreads/commute_accuracy.json (recorded from" in out
    assert "held when the typical model's accuracy is above" in out and "not held when it is below" in out
    table = "| power | share of open intervals |" in out
    assert table and "Smallest effect detected" in out or "No effect on the grid" in out
    assert "inverted from the permutation test" in out  # the interval the analysis reports, simulated


def test_the_power_analysis_simulates_the_smoke_design_from_its_own_runs(smoke_tree, capsys):
    args = ["power", "--configfile", str(smoke_tree / "tests/config/smoke.yaml"), "--results",
            str(smoke_tree / "results"), "--sims", "4"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    for name in ("## carry: pooled effect", "## carry: effect x model size", "## commute: pooled effect"):
        assert name in out
    assert "Spread from 4 runs in" in out and "| 1 | " in out and "Predicted" in out


def test_pilot_budgets_reads_every_run_of_the_preset(smoke_tree, capsys):
    args = ["pilot-budgets", "--configfile", str(smoke_tree / "tests/config/smoke.yaml"), "--results",
            str(smoke_tree / "results")]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("15 runs in 15 run folders") and "| add_1x1 |" in out and "| mul_2x1 |" in out


def test_code_inputs_names_the_rules_an_edit_reruns(capsys):
    assert main(["code-inputs", str(ROOT / "src/arithsignal/report/figures/ablation.py")]) == 0
    assert capsys.readouterr().out.split("reruns: ")[1].split() == ["plot_ablation"]
    assert main(["code-inputs", str(ROOT / "src/arithsignal/config/relations.py")]) == 0  # only the host runs checks
    assert "no rule" in capsys.readouterr().out
    assert main(["code-inputs", str(ROOT / "README.md")]) == 2


def test_code_inputs_lists_every_rule_with_its_modules(capsys):
    assert main(["code-inputs"]) == 0
    rules = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines())
    assert "train.loop" in rules["train"].split() and "analysis.confirm" in rules["confirm"].split()
    assert not any(m.startswith(("train", "report")) for m in rules["confirm"].split())


def test_watch_tells_finished_runs_from_one_mid_stage_and_one_stopped(smoke_tree, tmp_path, capsys):
    """A copy of the smoke tree's runs in which baseline seed 0 is training mid-stage (its live file cut in the middle
    of add_2x2, fresh, no model yet, its checkpoint there) and carry_off seed 0 stopped (its file untouched for an
    hour, no model): watch says so, and draws the curves so far."""
    root = tmp_path / "results"
    shutil.copytree(smoke_tree / "results/runs", root / "runs")
    mid = root / RUN
    stopped = root / run_dir(ROOT, "carry_off", "tests/config/smoke.yaml").removeprefix("results/")
    lines = (mid / "live.jsonl").read_text().splitlines()
    cut = next(i for i, line in enumerate(lines) if '"stage_index": 1, "stage_step": 150,' in line)
    (mid / "live.jsonl").write_text("\n".join(lines[: cut + 1]) + "\n")
    for run in (mid, stopped):
        (run / "model.pt").rename(run / "checkpoint.pt")  # stands for the checkpoint a running job keeps
    os.utime(stopped / "live.jsonl", (time.time() - 3600, time.time() - 3600))
    assert main(["watch", str(root), "--png", str(tmp_path / "curves.png")]) == 0
    out = capsys.readouterr().out.splitlines()
    runs = len(list(root.glob("runs/*/seed*")))
    assert out[0] == f"{runs} runs: 1 running, 1 stopped, {runs - 2} done"
    line = next(x for x in out if x.startswith("baseline seed 0"))
    assert "running" in line and "stage add_2x2 (2/3) step 150/300" in line and "of 1 ended stages graduated" in line
    assert "steps/s, at most" in line and "left" in line
    assert "stopped" in next(x for x in out if x.startswith("carry_off seed 0"))
    done = [x for x in out[1:] if " done " in x]
    assert len(done) == runs - 2 and not any("left" in x for x in done)
    assert (tmp_path / "curves.png").read_bytes().startswith(b"\x89PNG")
    assert main(["watch", str(tmp_path / "nothing")]) == 0
    assert "no run has started" in capsys.readouterr().out


def test_length_prints_the_summary_s_length_section_from_the_results_folder(smoke_tree, capsys):
    """Recomputed from the stored scores, the section is summary.md's own, per-run table included."""
    assert main(["length", str(smoke_tree / "results/smoke")]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("## Length generalisation") and "| variant | seed | op | solved | extension |" in out
    assert out in (smoke_tree / "results/smoke/summary.md").read_text()


def test_length_names_the_missing_file(tmp_path, capsys):
    assert main(["length", str(tmp_path)]) == 2
    assert f"{tmp_path / 'config.yaml'}: not there" in capsys.readouterr().err
