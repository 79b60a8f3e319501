"""The ledger of attempts (docs/attempts.csv): validated, counted across attempts, and refused when incomplete."""

import pandas as pd
import pytest

from arithsignal.analysis.attempts import LEDGER, REQUIRED, across_attempts, markdown, read


def test_the_repository_s_ledger_is_valid_and_counts_every_attempt():
    ledger = read(LEDGER)
    counted = {e["hypothesis"]: e for e in across_attempts(ledger)}
    interaction = counted["carry: effect x model size"]
    assert interaction["k"] >= 3  # seeds 0-3 at 64/32, seeds 4-7 at 64/16, and that design on another machine
    assert interaction["bound"] == pytest.approx(
        min(1.0, interaction["k"] * min(float(x["holm_p"]) for x in interaction["attempts"]))
    )
    assert any(
        x["changed_after_seeing"] for x in interaction["attempts"]
    )  # the 64/16 design came after a result was seen


def _write(tmp_path, rows):
    path = tmp_path / "attempts.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _row(**kw):
    base = {c: "x" for c in REQUIRED} | {"hypothesis": "h: pooled effect", "attempt": "1", "p_value": "0.2",
                                         "holm_p": "0.4", "outcome": "undecided at this design", "data_hash": "",
                                         "changed_after_seeing": ""}  # fmt: skip
    return base | kw


@pytest.mark.parametrize("field", ["outcome", "commit", "model", "holm_p"])
def test_an_attempt_with_a_field_left_empty_is_refused(tmp_path, field):
    with pytest.raises(ValueError, match=field):
        read(_write(tmp_path, [_row(**{field: ""})]))


def test_a_missing_column_an_unknown_outcome_and_a_gap_in_the_numbering_are_refused(tmp_path):
    with pytest.raises(ValueError, match="missing columns"):
        read(_write(tmp_path, [{k: v for k, v in _row().items() if k != "seeds"}]))
    with pytest.raises(ValueError, match="does not use"):
        read(_write(tmp_path, [_row(outcome="significant")]))
    with pytest.raises(ValueError, match="numbered"):
        read(_write(tmp_path, [_row(), _row(attempt="3")]))
    with pytest.raises(ValueError, match="outside"):
        read(_write(tmp_path, [_row(p_value="1.5")]))


def test_this_run_counts_as_one_more_attempt_unless_the_ledger_holds_its_data(tmp_path):
    ledger = read(_write(tmp_path, [_row(data_hash="abc", model="lognormal"), _row(attempt="2", holm_p="0.02")]))
    table = pd.DataFrame([{"hypothesis": "h: pooled effect", "stages": "x", "data_hash": "new", "model": "lognormal",
                           "holm_p": 0.01, "p_value": 0.01, "estimate": 2.0, "outcome": "effect"}])  # fmt: skip
    (entry,) = across_attempts(ledger, table)
    assert entry["k"] == 3 and entry["bound"] == pytest.approx(0.03)
    (entry,) = across_attempts(ledger, table.assign(data_hash="abc"))
    assert entry["k"] == 2 and entry["bound"] == pytest.approx(0.04)


def test_an_attempt_at_other_stages_is_another_hypothesis(tmp_path):
    """Another preset's carry entry (the smoke preset's toy stages) does not count the default's attempts."""
    ledger = read(_write(tmp_path, [_row(stages="a, b"), _row(attempt="2", stages="a, b", holm_p="0.01")]))
    table = pd.DataFrame([{"hypothesis": "h: pooled effect", "stages": "c", "data_hash": "z", "model": "lognormal",
                           "holm_p": 0.3, "p_value": 0.3, "estimate": 1.0,
                           "outcome": "undecided at this design"}])  # fmt: skip
    (entry,) = across_attempts(ledger, table)
    assert entry["k"] == 1 and entry["attempts"] == [] and entry["bound"] == pytest.approx(0.3)
    # the summary still names the same name's attempts elsewhere, for a reader who counts them as one claim
    text = "\n".join(markdown(ledger, table.assign(kind="effect"), 0.05))
    assert "judged on a, b (another hypothesis): 2 attempt(s)" in text and "bound across them 0.020" in text, text
    # numbered per hypothesis and stages: attempt 1 at other stages is the first of another hypothesis
    read(_write(tmp_path, [_row(stages="a, b"), _row(attempt="2", stages="a, b"), _row(stages="c")]))
    with pytest.raises(ValueError, match="judged on c are not numbered"):
        read(_write(tmp_path, [_row(stages="a, b"), _row(attempt="2", stages="c")]))
