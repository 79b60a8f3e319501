"""The length analysis on hand-made scores and planted effects: the extension ratio per run, and the comparison's
outcomes, its size under no effect and its power."""

import math

import numpy as np
import pandas as pd
import pytest

from arithsignal.analysis.attempts import REQUIRED, read
from arithsignal.analysis.confirm import outcome_parts
from arithsignal.analysis.length import OUTCOMES, cell_table, comparisons, extension_runs, markdown, stopped_short

AB = [{"name": "carry", "factor": "carry_mask", "on_variant": "on", "off_variant": "off"}]
SAME = {"on": "on", "off": "off"}


def scores(variant, seed, diagonal_exact_match, trained=3, per_cell=10):
    """Scores of one run: a diagonal cell n x n right on round(em * per_cell) of its problems; every off-diagonal
    cell all wrong (they must not count)."""
    rows = []
    tested = len(diagonal_exact_match)
    for da in range(1, tested + 1):
        for db in range(1, tested + 1):
            em = diagonal_exact_match[da - 1] if da == db else 0.0
            kind = (
                "trained"
                if da == db and da <= trained
                else "interpolation"
                if max(da, db) <= trained
                else "extrapolation"
            )
            right = round(em * per_cell)
            for i in range(per_cell):
                rows.append({"variant": variant, "seed": seed, "op": "add", "digits_a": da, "digits_b": db,
                             "kind": kind, "correct": i < right,
                             "digit_accuracy": 1.0 if i < right else 0.5})  # fmt: skip
    return pd.DataFrame(rows)


def test_a_run_solves_the_longest_unbroken_diagonal_from_the_trained_length_at_the_bar():
    table = pd.concat(
        [
            scores("v", 0, [1, 1, 1, 0.9, 0.5, 0.0]),  # solves 4 of 6
            scores("v", 1, [1, 0.8, 1, 1, 0.5, 1]),  # 2x2 below the bar is no gap; 5x5 is: solves 4, whatever follows
            scores("v", 2, [1, 1, 1, 1, 1, 1]),  # every length tested: censored
            scores("v", 3, [0.85, 1, 1, 0.2, 0, 0]),  # the held-out 1-digit facts below the bar: still solves 3
            scores("v", 4, [1, 1, 0.5, 1, 1, 1]),  # misses its own trained length: the longest trained length it solves
            scores("v", 5, [0.5, 0.5, 0.5, 1, 1, 1]),  # no trained length: 0, whatever follows
        ]
    )
    runs = extension_runs(table, 0.9).set_index("seed")
    assert runs["solved"].tolist() == [4, 4, 6, 3, 2, 0]
    assert runs["censored"].tolist() == [False, False, True, False, False, False]
    assert runs["extension"].tolist() == pytest.approx([4 / 3, 4 / 3, 2, 1, 2 / 3, 0])
    assert (runs["trained"] == 3).all() and (runs["tested"] == 6).all()
    # beyond the trained length: the extrapolation cells, off-diagonal ones (all wrong here) included
    assert runs.loc[0, "beyond_exact_match"] == pytest.approx((0.9 + 0.5 + 0.0) / 27)


def runs_of(on, off, tested=6, trained=3):
    """extension_runs' table, hand-made (no predictions, so nothing on stopping short)."""
    rows = [{"variant": v, "seed": i, "op": "add", "solved": n, "censored": n == tested, "trained": trained,
             "tested": tested, "extension": n / trained, "beyond_exact_match": 0.0, "beyond_stopped_short": math.nan}
            for v, values in (("on", on), ("off", off)) for i, n in enumerate(values)]  # fmt: skip
    return pd.DataFrame(rows)


def test_a_planted_longer_reach_is_decided_and_its_ratio_read():
    row = comparisons(runs_of([5, 5, 5, 5, 5], [3, 3, 3, 3, 3]), AB, SAME).iloc[0]
    assert row["p_value"] == pytest.approx(2 / 252) and row["p_method"] == "exact"
    assert row["outcome"] == "extends further with the factor" and row["ratio"] == pytest.approx(5 / 3)
    assert row["extension_on"] == pytest.approx(5 / 3) and row["extension_off"] == pytest.approx(1.0)
    row = comparisons(runs_of([3, 3, 3, 4, 3], [5, 5, 6, 5, 5]), AB, SAME).iloc[0]
    assert row["outcome"] == "extends less with the factor"
    assert row["ratio_kind"] == "estimate" and row["ratio"] == pytest.approx(3 / 5)


def test_holm_corrects_over_every_comparison_of_the_config():
    ablations = AB + [{"name": "again", "factor": "reverse", "on_variant": "on", "off_variant": "off"}] * 3
    # 4 comparisons: 2/252 * 4 = 0.032 < 0.05 survives for the first, ties at every step
    table = comparisons(runs_of([5] * 5, [3] * 5), ablations, SAME)
    assert (table["family_size"] == 4).all() and table["holm_p"].iloc[0] == pytest.approx(4 * 2 / 252)
    # at 4 runs a side (2/70 = 0.029) no comparison of three can be decided, however clear
    table = comparisons(runs_of([5] * 4, [3] * 4), ablations[:3], SAME)
    assert (table["holm_p"] > 0.05).all() and set(table["outcome"]) == {"undecided (Holm over 3)"}


def test_the_outcomes_a_test_cannot_reach():
    assert comparisons(runs_of([6] * 5, [6] * 5), AB, SAME).iloc[0]["outcome"].startswith("not testable")
    row = comparisons(runs_of([3] * 5, [3] * 5), AB, SAME).iloc[0]
    assert row["outcome"] == "same on every run (solved 3)" and row["holm_p"] == 1.0
    # a censored median is a bound, as for steps to graduation
    row = comparisons(runs_of([6, 6, 6, 5, 6], [3, 3, 4, 3, 3]), AB, SAME).iloc[0]
    assert row["ratio_kind"] == "lower_bound" and row["ratio_text"].startswith(">= 2.00")
    # a side that solves nothing has no ratio, but is still tested
    row = comparisons(runs_of([2] * 5, [0] * 5), AB, SAME).iloc[0]
    assert row["ratio_text"] == "n/a (a side solves no length)" and row["outcome"] == "extends further with the factor"


def test_every_reading_is_one_of_the_outcomes_and_the_ledger_takes_each(tmp_path):
    """The five readings, planted; each is an OUTCOMES entry with its detail in brackets, so docs/attempts.csv can
    record it as `<ablation>: extension`; a word outside them is refused there, and so is either kind of
    comparison's word on the other kind."""
    planted = [([6] * 5, [6] * 5), ([3] * 5, [3] * 5), ([5] * 5, [3] * 5), ([3] * 5, [5] * 5), ([4, 3, 5], [3, 4, 3])]
    readings = [comparisons(runs_of(on, off), AB, SAME).iloc[0]["outcome"] for on, off in planted]
    assert [outcome_parts(r)[0] for r in readings] == list(OUTCOMES)
    row = {c: "x" for c in REQUIRED} | {"hypothesis": "carry: extension", "attempt": "1", "p_value": "1", "holm_p": "1",
                                        "data_hash": "", "changed_after_seeing": ""}  # fmt: skip
    path = tmp_path / "attempts.csv"
    for reading in readings:
        pd.DataFrame([row | {"outcome": reading}]).to_csv(path, index=False)
        assert read(path)["outcome"].iat[0] == reading
    for hypothesis, outcome in [
        ("carry: extension", "extends somewhat (Holm over 3)"),
        ("carry: extension", "effect"),
        ("carry: pooled effect", "undecided (Holm over 3)"),
    ]:
        pd.DataFrame([row | {"hypothesis": hypothesis, "outcome": outcome}]).to_csv(path, index=False)
        with pytest.raises(ValueError, match="does not use"):  # each kind of comparison in its own words only
            read(path)


def test_the_comparison_holds_its_size_under_no_effect_and_detects_a_planted_one():
    rng = np.random.default_rng(0)
    null = [
        comparisons(runs_of(rng.integers(2, 6, 5), rng.integers(2, 6, 5)), AB, SAME, n_boot=50).iloc[0]["holm_p"]
        for _ in range(200)
    ]
    assert np.mean(np.array(null) < 0.05) <= 0.06  # exact, so at most alpha (discreteness makes it smaller)
    planted = [
        comparisons(runs_of(rng.integers(4, 7, 5), rng.integers(1, 4, 5)), AB, SAME, n_boot=50).iloc[0]["holm_p"]
        for _ in range(100)
    ]
    assert np.mean(np.array(planted) < 0.05) > 0.8


def test_the_summary_section_names_every_variant_and_comparison():
    runs = runs_of([5] * 5, [3] * 5)
    text = "\n".join(markdown(runs, comparisons(runs, AB, SAME), 0.9))
    assert "| on | add | 5 | 1.67 | 5 of 5 |" in text and "| off | add | 5 | 1.00 | 0 of 5 |" in text
    assert "| carry | add | 1.67 | 1.00 | 1.67 [" in text and "extends further with the factor" in text


def test_the_summary_section_gives_each_diagonal_cell_and_the_interpolation_range():
    """Mean over runs with the best run in brackets; the hand-made scores get every interpolation cell wrong."""
    s = pd.concat([scores("on", 0, [1.0, 1.0, 1.0, 0.8]), scores("on", 1, [1.0, 1.0, 1.0, 0.4])], ignore_index=True)
    runs = extension_runs(s, 0.9)
    text = "\n".join(markdown(runs, comparisons(runs, AB, SAME), 0.9, cell_table(s)))
    assert "| on | add | 1.00 (1.00) | 1.00 (1.00) | 1.00 (1.00) | 0.60 (0.80) | 0.0% to 0.0% |" in text, text


def test_a_wrong_answer_that_ends_early_is_counted_as_stopping_short():
    """Only wrong answers beyond the trained lengths count: a right one, a long wrong one and a trained cell's short
    wrong one do not."""
    s = scores("on", 0, [1.0, 1.0, 1.0, 0.0], per_cell=4)
    s["completion"], s["prediction"] = "C0000;A12345$", "C0000;A12345$"
    four = (s["digits_a"] == 4) & (s["digits_b"] == 4)
    s.loc[four, "prediction"] = ["C0000;A12$", "C0000;A123$", "C0000;A1234$", "C0000;A123456$"]
    s.loc[(s["kind"] == "interpolation") & ~s["correct"], "prediction"] = "C0000;A12345678$"  # wrong, long
    s.loc[s.index[0], ["correct", "prediction"]] = [False, "C$"]  # a trained cell's short answer
    short = stopped_short(s)
    off_diagonal = ((s["kind"] == "extrapolation") & ~four).sum()  # wrong, right length
    assert short[("on", 0, "add")] == pytest.approx(3 / (4 + off_diagonal))
    runs = extension_runs(s, 0.9)
    assert runs["beyond_stopped_short"].iat[0] == pytest.approx(3 / (4 + off_diagonal))
    assert stopped_short(s.drop(columns=["prediction"])).empty


def test_the_summary_section_lists_every_run_with_its_cells():
    s = pd.concat([scores("on", 0, [1.0, 1.0, 1.0, 0.95]), scores("on", 1, [1.0, 1.0, 1.0, 0.4])], ignore_index=True)
    runs = extension_runs(s, 0.9)
    text = "\n".join(markdown(runs, comparisons(runs, AB, SAME), 0.9, cell_table(s)))
    assert "| on | 0 | add | 4+ | 1.33 | 1.00 | 1.00 | 1.00 | 1.00 |" in text, text
    assert "| on | 1 | add | 3 | 1.00 | 1.00 | 1.00 | 1.00 | 0.40 |" in text, text
