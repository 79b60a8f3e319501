"""The map of an ablation's effect over model size and stage, on planted cells: how far each cell's data identify
its ratio, where the claimed size lies, runs that never reached a stage, the figure and the summary's section."""

import numpy as np
import pandas as pd
import pytest

from arithsignal.analysis.maps import CLAIMED_READINGS, READINGS, map_markdown, map_table
from arithsignal.report.figures.maps import map_figure

SEEDS = [0, 1, 2, 3, 4]
RUNS = [{"run": f"{side}{n}", "side": side} for side in ("on", "off") for n in (16, 64)]
SIZES = {r["run"]: {"size": f"d_model {r['run'][-2:]}", "n_params": int(r["run"][-2:]) ** 2} for r in RUNS}


def rows(run: str, stage: str, steps: list[float], budget: int = 6000) -> pd.DataFrame:
    """One run's graduations rows at a stage, one per seed: a step count, or None where censored at the budget."""
    seeds = SEEDS[: len(steps)]
    return pd.DataFrame({"variant": run, "seed": seeds, "stage": stage, "budget": budget,
                         "steps": [budget if s is None else s for s in steps],
                         "censored": [s is None for s in steps]})  # fmt: skip


def cells(parts: list[pd.DataFrame], claimed: float | None = 4.8, stages=("a",)) -> pd.DataFrame:
    g = pd.concat(parts, ignore_index=True)
    on = g["variant"].str.startswith("on")
    acc = g[["variant", "seed", "stage"]].assign(stage_end_exact_match=np.where(on, 0.9, 0.5))
    return map_table(g, acc, RUNS, SIZES, list(stages), {}, SEEDS, claimed).set_index(["size", "stage"])


def test_both_sides_observed_is_identified_and_the_claim_is_read_against_the_interval():
    t = cells(
        [
            rows("on64", "a", [1000, 1100, 1200, 900, 1000]),
            rows("off64", "a", [2000, 2100, 1900, 2200, 2000]),
            rows("on16", "a", [1000, 1050, 950, 1000, 1020]),
            rows("off16", "a", [5000, 5200, 4900, 5100, None]),
        ]
    )
    big, small = t.loc[("d_model 64", "a")], t.loc[("d_model 16", "a")]
    assert big["reading"] == "identified" and big["ratio"] == pytest.approx(2.0)
    assert big["claimed_reading"] == "excluded from above"  # the interval lies below 4.8
    assert small["reading"] == "identified" and small["censored_off"] == 1  # one censored run a side is allowed
    assert small["claimed_reading"] in ("inside", "excluded from below") and small["ci_low"] > 4.0
    assert big["exact_match_diff"] == pytest.approx(0.4) and big["exact_match_low"] <= 0.4 <= big["exact_match_high"]


def test_the_off_side_all_censored_gives_a_lower_bound():
    t = cells(
        [
            rows("on64", "a", [1000, 1100, 1200, 900, 1000]),
            rows("off64", "a", [None] * 5),
            rows("on16", "a", [1000] * 5),
            rows("off16", "a", [None, None, 3000, 3100, 2900]),
        ]
    )
    big, small = t.loc[("d_model 64", "a")], t.loc[("d_model 16", "a")]
    assert big["reading"] == "lower bound" and big["ci_high"] == np.inf
    assert big["ci_low"] == pytest.approx(5.0) and big["claimed_reading"] == "excluded from below"  # at least 5 > 4.8
    assert small["ci_low"] == pytest.approx(2.9) and small["claimed_reading"] == "not excluded"  # a bound under 4.8
    assert small["reading"] == "lower bound"  # the median observed, but two censored runs: "at least" only


def test_too_few_observed_is_not_identified():
    t = cells(
        [
            rows("on64", "a", [None] * 5),
            rows("off64", "a", [None] * 5),  # both sides censored throughout
            rows("on16", "a", [1000]),
            rows("off16", "a", [2000, 2100, 2200]),
        ]
    )  # one run reached the stage
    for size in ("d_model 64", "d_model 16"):
        r = t.loc[(size, "a")]
        assert r["reading"] == "not identified" and r["claimed_reading"] == "not identified"
    assert t.loc[("d_model 16", "a"), "not_reached_on"] == 4  # the four runs that stopped before it, left out
    assert set(t["reading"]) <= set(READINGS) and set(t["claimed_reading"]) <= set(CLAIMED_READINGS)


def test_runs_that_never_reached_a_stage_are_left_out_not_read_as_slow():
    """Two off-side runs stopped before stage b (after_censored: stop): b is read on the other three, unchanged."""
    on = [rows("on64", s, [1000, 1100, 1200, 900, 1000]) for s in "ab"]
    off = [rows("off64", "a", [2000, None, None, 2000, 2100]), rows("off64", "b", [3000, 3100, 2900])]
    t = cells([*on, *off, rows("on16", "a", [1000] * 5), rows("off16", "a", [1000] * 5)], stages=("a", "b"))
    b = t.loc[("d_model 64", "b")]
    assert (b["n_off"], b["not_reached_off"], b["censored_off"]) == (3, 2, 0)
    assert b["reading"] == "identified" and b["ratio"] == pytest.approx(3.0)
    assert t.loc[("d_model 16", "b"), "reading"] == "not identified"  # no run of that size reached b


def test_the_figure_and_the_summary_section_show_every_cell(tmp_path):
    t = cells(
        [
            rows("on64", "a", [1000] * 5),
            rows("off64", "a", [None] * 5),
            rows("on16", "a", [1000] * 5),
            rows("off16", "a", [2000] * 5),
        ],
        claimed=None,
    ).reset_index()
    t.insert(0, "ablation", "carry")
    t["sides_differ"], t["problem_space"] = True, 100
    panels = map_figure(t, ["a"], "carry", str(tmp_path / "map.pdf"))
    assert (tmp_path / "map.pdf").stat().st_size > 0 and len([p for p in panels if "stage" in p]) == 2
    text = "\n".join(map_markdown(t, "map_carry.pdf"))
    assert "Identified cells: 1 of 2" in text and "The largest lower bound: at least" in text
    assert "The largest identified ratio: 2.00" in text and "(none declared)" in text
    assert "d_model 16, a (100 problems; 256 non-embedding parameters; median steps with the factor on: 1000)" in text
    assert "The write-up's regime: 4-digit multiplication" in text


def test_a_stage_s_problem_space_counts_ordered_operand_pairs():
    from arithsignal.analysis.maps import problem_space

    assert problem_space("add", [1, 1]) == 100 and problem_space("add", [3, 3]) == 900 * 900
    assert problem_space("mul", [4, 4]) == 9000 * 9000  # the write-up's "about 10^8"
    assert problem_space("add", [2, 2], "every") == 100 * 100  # 1x1, 1x2, 2x1 and 2x2: every pair below 100


def test_the_pilot_s_budgets_follow_the_declared_rule():
    """1.5 x the slowest generalised pilot run, rounded up to 1,000, within [6,000, 30,000]; none generalised:
    30,000."""
    from arithsignal.analysis.maps import pilot_budgets

    g = pd.concat([rows("on16", "a", [500, 900]), rows("off16", "b", [4100, None], budget=30000),
                   rows("on16", "b", [9800]), rows("off16", "c", [None, None], budget=30000),
                   rows("on64", "d", [21000])])  # fmt: skip
    out = pilot_budgets(g, ["a", "b", "c", "d"]).set_index("stage")
    assert out["budget"].to_dict() == {"a": 6000, "b": 15000, "c": 30000, "d": 30000}
    assert out.loc["b", "censored"] == 1 and out.loc["c", "slowest generalised"] == "none"
