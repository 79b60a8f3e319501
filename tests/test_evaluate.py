"""Scoring helpers and the error taxonomy."""

import pytest

from arithsignal.evaluate.held_out import classify_error, first_wrong
from arithsignal.model.decode import digit_accuracy


def test_first_wrong():
    assert first_wrong("C01;A46$", "C01;A46$") == -1
    assert first_wrong("C01;A47$", "C01;A46$") == 6
    assert first_wrong("C01;A4", "C01;A46$") == 6


def test_digit_accuracy_is_right_aligned():
    assert digit_accuracy("A1035$", "A1035$") == 1.0
    assert digit_accuracy("A1045$", "A1035$") == 0.75
    assert digit_accuracy("A035$", "A1035$") == 0.75
    assert digit_accuracy("C01;", "A1035$") == 0.0


@pytest.mark.parametrize(
    "pred, true, cls",
    [
        ("1035", 1035, "correct"),
        ("1045", 1035, "off_by_one_digit_1"),
        ("1036", 1035, "off_by_one_digit_0"),
        ("2070", 1035, "doubled"),
        ("1034", 2068, "halved"),
        ("2072", 1035, "pm1_doubled"),
        ("517", 1035, "pm1_halved"),
        ("9999", 1035, "other"),
        ("", 1035, "malformed"),
    ],
)
def test_error_taxonomy(pred, true, cls):
    assert classify_error(pred, true) == cls
