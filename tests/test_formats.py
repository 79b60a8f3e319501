"""The grammar: every rendered line parses and checks out; corrupted lines are rejected."""

import itertools
import re
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arithsignal.data.formats import (
    FACTORS,
    Factors,
    FormatError,
    answer_of,
    answer_text,
    check,
    decode,
    encode,
    parse,
    render,
)

ALL_FACTORS = [Factors(*bits) for bits in itertools.product([False, True], repeat=6)]  # 64 combinations
operands = st.integers(min_value=0, max_value=99_999)


@given(a=operands, b=operands, op=st.sampled_from(["add", "sub", "mul"]), factors=st.sampled_from(ALL_FACTORS))
def test_rendered_lines_check_out(a, b, op, factors):
    if op == "sub" and a < b:
        a, b = b, a
    prompt, completion = render(a, op, b, factors)
    line = prompt + completion
    p = check(line, factors)
    assert (p.a, p.op, p.b) == (a, op, b)
    assert int(answer_text(completion, factors.reverse)) == {"add": a + b, "sub": a - b, "mul": a * b}[op]
    assert decode(encode(line)) == line
    assert prompt.endswith("=") and completion.endswith("$")
    assert ("C" in completion) == (factors.scratchpad and factors.carry_mask and (op != "mul" or b >= 10))
    assert completion.startswith("A") == (not factors.scratchpad or (op != "mul" and not factors.carry_mask))
    forward = "".join(render(a, op, b, Factors(factors.carry_mask, factors.commas, scratchpad=factors.scratchpad)))
    if factors.reverse:  # the same line with every written number and mask read backwards, prompt untouched
        assert line[: len(prompt)] == forward[: len(prompt)] and len(line) == len(forward)
        assert [t[::-1] for t in re.split(r"[;ACPS$]", completion)] == re.split(r"[;ACPS$]", forward[len(prompt) :])


def test_the_checker_accepts_a_line_only_in_its_own_format():
    """Every combination renders a line that checks under its own factors; reversal and the
    scratchpad are part of the check (a line written forwards is refused as reversed, and so on)."""
    for f in ALL_FACTORS:
        line = "".join(render(1234, "mul", 5678, f))
        check(line, f)
        for other in ({"reverse": not f.reverse}, {"scratchpad": not f.scratchpad}):
            with pytest.raises(FormatError):
                check(line, Factors(**{**f.__dict__, **other}))


def test_examples_from_the_format_doc():
    f = Factors(carry_mask=True, commas=True)
    assert "".join(render(1234, "add", 5678, f)) == "1,234+5,678=C0011;A6,912$"
    assert "".join(render(23, "mul", 45, f)) == "23*45=P115;P920;C100;S1,035;A1,035$"
    assert "".join(render(23, "mul", 45, Factors(carry_mask=False))) == "23*45=P115;P920;S1035;A1035$"
    assert "".join(render(52, "sub", 17, Factors())) == "52-17=C01;A35$"
    assert "".join(render(1234, "add", 5678, Factors(commas=True, reverse=True))) == "1,234+5,678=C1100;A219,6$"
    assert "".join(render(23, "mul", 45, Factors(reverse=True))) == "23*45=P511;P029;C001;S5301;A5301$"
    assert "".join(render(23, "mul", 45, Factors(scratchpad=False))) == "23*45=A1035$"


@pytest.mark.parametrize(
    "line, factors, complaint",
    [
        ("1234+5678=C0011;A6913$", Factors(), "answer"),  # wrong digit in the answer
        ("1234+5678=C0111;A6912$", Factors(), "step 0"),  # wrong carry bit
        ("1,234+5,678=C0011;A69,12$", Factors(commas=True), "written"),  # misplaced comma
        ("1234+5678=C0011;A6,912$", Factors(commas=False), "written"),  # comma where none belongs
        ("23*45=P115;P930;C100;S1045;A1045$", Factors(), "step 1"),  # wrong partial product
        ("23*45=P115;P920;C100;S1035;A1035$", Factors(carry_mask=False), "step 2"),  # mask where none belongs
        ("23*45=P115;P920;S1035;A1035$", Factors(carry_mask=True), "step 2"),  # mask missing
        ("12-34=C10;A-22$", Factors(), "answer"),  # malformed: negative answer
        ("12+34=A46", Factors(carry_mask=False), "answer"),  # no end marker
        ("1234+5678=C1100;A3196$", Factors(reverse=True), "written|answer"),  # reversed: wrong units digit
        ("1234+5678=C0011;A2196$", Factors(reverse=True), "step 0"),  # reversed: mask in the forward order
        ("1234+5678=C1100;A6912$", Factors(reverse=True), "answer"),  # reversed mask, answer written forwards
        ("23*45=P511;P029;C001;S5301;A5311$", Factors(reverse=True), "answer"),  # reversed: wrong digit in the answer
        ("23*45=P511;P029;C100;S5301;A5301$", Factors(reverse=True), "step 2"),  # reversed: mask out of order
        (
            "1,234+5,678=C1100;A2,196$",
            Factors(reverse=True, commas=True),
            "written",
        ),  # reversed: comma counted from the wrong end
        ("23*45=A1036$", Factors(scratchpad=False), "answer"),  # no scratchpad: wrong answer
        ("23*45=P115;P920;C100;S1035;A1035$", Factors(scratchpad=False), "steps"),  # a scratchpad where none belongs
        ("23*45=A1035$", Factors(), "steps"),  # the scratchpad missing
    ],
)
def test_checker_rejects_corrupted_lines(line, factors, complaint):
    with pytest.raises(FormatError, match=complaint):
        check(line, factors)


def test_parse_splits_steps():
    p = parse("23*45=P115;P920;C100;S1035;A1035$")
    assert p.steps == [("P", "115"), ("P", "920"), ("C", "100"), ("S", "1035")]
    assert p.answer == 1035


def test_every_example_in_the_format_doc_is_what_the_code_writes():
    import re

    from conftest import ROOT

    rows = re.findall(r"^\| ([^|]+) \| ([^|]+) \| `([^`]+)` \|$", (ROOT / "docs/FORMAT.md").read_text(), re.M)
    assert len(rows) >= 7
    for _problem, factors_text, line in rows:
        f = Factors(
            carry_mask="carry" in factors_text,
            commas="commas" in factors_text,
            scratchpad="no scratchpad" not in factors_text,
            reverse="reversed" in factors_text,
            pad="padded" in factors_text,
        )
        p = check(line, f)
        assert "".join(render(p.a, p.op, p.b, f)) == line


def test_the_schema_and_the_snakefile_agree_with_the_one_factor_declaration():
    """Factors are declared once (formats.Factors); the schema, which cannot import it, is checked against it."""
    from conftest import ROOT, load_yaml

    from arithsignal.data.formats import FACTORS, FORMAT_KEY_PATTERN, REQUIRED_FACTORS, format_key, parse_format_key

    schema = load_yaml(ROOT / "schemas/config.schema.yaml")
    assert tuple(schema["$defs"]["factors"]["properties"]) == FACTORS
    assert tuple(schema["properties"]["factors"]["required"]) == REQUIRED_FACTORS  # optional ones: off where absent
    assert tuple(schema["properties"]["ablations"]["items"]["properties"]["factor"]["enum"])[: len(FACTORS)] == FACTORS
    assert all(
        schema["$defs"]["factors"]["properties"][name]["description"] for name in FACTORS
    )  # documented there, once
    key = format_key({f: True for f in FACTORS})
    assert re.fullmatch(FORMAT_KEY_PATTERN, key) and parse_format_key(key) == {f: True for f in FACTORS}
    assert "F.FORMAT_KEY_PATTERN" in (ROOT / "Snakefile").read_text()


ALL_FORMATS = [Factors(*bits) for bits in itertools.product([False, True], repeat=len(FACTORS))]


@pytest.mark.parametrize("problem", [(12, "add", 345), (7, "add", 5), (52, "sub", 17), (23, "mul", 45), (12, "mul", 3),
                                     (1234, "mul", 5678), (999, "add", 1)])  # fmt: skip
def test_pad_renders_parses_and_checks_in_every_factor_combination(problem):
    a, op, b = problem
    for f in ALL_FORMATS:
        line = "".join(render(a, op, b, f))
        p = check(line, f)
        assert (p.a, p.op, p.b, p.answer) == (a, op, b, answer_of(a, op, b))
        if f.pad:  # both operands one width; every completion number the width of the widest answer
            w = max(len(str(a)), len(str(b)))
            assert [len(x.replace(",", "")) for x in p.prompt_numbers] == [w, w]
            width = {"add": w + 1, "sub": w, "mul": 2 * w}[op]
            assert {len(x.replace(",", "")) for x in p.written_numbers} == {width}
        unpadded = "".join(render(a, op, b, replace(f, pad=False)))
        if f.pad and unpadded != line:  # where padding writes a zero, the unpadded line is another format
            with pytest.raises(FormatError):
                check(unpadded, f)


def test_a_padded_line_of_a_shape_has_one_length():
    f = Factors(pad=True)
    assert len({len("".join(render(a, "add", b, f))) for a in range(10, 100) for b in range(10, 100, 7)}) == 1


def test_the_format_key_leaves_an_optional_factor_out_when_it_is_off():
    """Every format named before pad existed keeps its key, and its data job the params it had."""
    from arithsignal.data.formats import FORMAT_KEY_PATTERN, format_key, parse_format_key

    old = "carry1-commas0-commute0-mixed0-scratch1-reverse0"
    factors = parse_format_key(old)
    assert "pad" not in factors and format_key(factors) == old and format_key({**factors, "pad": False}) == old
    assert format_key({**factors, "pad": True}) == old + "-pad1" and parse_format_key(old + "-pad1")["pad"]
    assert re.fullmatch(FORMAT_KEY_PATTERN, old) and re.fullmatch(FORMAT_KEY_PATTERN, old + "-pad1")
    assert not re.fullmatch(FORMAT_KEY_PATTERN, old + "-pad0")
    with pytest.raises(ValueError):
        parse_format_key(old + "-pad0")
