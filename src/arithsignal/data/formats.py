"""The character-level problem format: rendering, tokenising, parsing and checking.

docs/FORMAT.md is the one description of the grammar, with examples (a test checks every example against this code).
In short: a prompt ``a OP b =``, then the completion the model is trained and scored on, the scratchpad's steps (carry
masks ``C``, partial products ``P``, running sums ``S``, each ending in ``;``) and the answer ``A...$``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields

OPS = {"add": "+", "sub": "-", "mul": "*"}
OP_NAMES = {v: k for k, v in OPS.items()}
COMMUTATIVE = {"add", "mul"}

PAD = "#"
END = "$"
VOCAB = PAD + "0123456789+-*=;,CPSA" + END
STOI = {ch: i for i, ch in enumerate(VOCAB)}
PAD_ID = STOI[PAD]
END_ID = STOI[END]


def _factor(default: bool, key: str, optional: bool = False):
    return field(default=default, metadata={"key": key, "optional": optional})


@dataclass(frozen=True)
class Factors:
    """The switches of the data format, declared once: the config's factor names, the data-format directory key
    (``carry1-commas0-...``, from each ``key``) and its wildcard pattern all come from here; tests check the JSON schema
    against it. What each one does is described once, in the schema (docs/CONFIG.md) and in docs/FORMAT.md."""

    carry_mask: bool = _factor(True, "carry")
    commas: bool = _factor(False, "commas")
    commute: bool = _factor(False, "commute")
    mixed_lengths: bool = _factor(False, "mixed")
    scratchpad: bool = _factor(True, "scratch")
    reverse: bool = _factor(False, "reverse")
    # optional: off where a config does not name it, and then absent from the format key, so that every format and
    # run named before it existed keeps its name (and its data and runs are not redone)
    pad: bool = _factor(False, "pad", optional=True)


FACTORS = tuple(f.name for f in fields(Factors))
FACTOR_KEYS = {f.name: f.metadata["key"] for f in fields(Factors)}
OPTIONAL_FACTORS = tuple(f.name for f in fields(Factors) if f.metadata["optional"])


@dataclass
class Parsed:
    """A line split back into its parts."""

    a: int
    op: str
    b: int
    steps: list[tuple[str, str]] = field(default_factory=list)  # (kind, raw text)
    answer: int = 0
    prompt_numbers: list[str] = field(default_factory=list)  # the operands as written
    written_numbers: list[str] = field(default_factory=list)  # every number of the completion as written


class FormatError(ValueError):
    """A line that does not follow the grammar or does not check out arithmetically."""


# ---------------------------------------------------------------- rendering


def fmt_num(n: int, commas: bool, width: int = 0) -> str:
    """``n`` zero-padded to ``width`` digits, with thousands separators (counted from the units) with ``commas``."""
    digits = str(n).zfill(width)
    if not commas:
        return digits
    head = len(digits) % 3 or 3
    return ",".join([digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)])


# pad: the width of every number a completion writes, the widest answer of operands W wide, as (times, plus) W:
# W + 1 for add, W for sub, 2W for mul (model/positions.py reads the same table to index a padded completion)
PADDED_WIDTH = {"add": (1, 1), "sub": (1, 0), "mul": (2, 0)}


def widths(a: int, op: str, b: int, factors: Factors) -> tuple[int, int]:
    """With ``pad``: the operands' width W (the longer one's digits) and the completion's (``PADDED_WIDTH``);
    (0, 0) without."""
    if not factors.pad:
        return 0, 0
    w = max(len(str(a)), len(str(b)))
    times, plus = PADDED_WIDTH[op]
    return w, times * w + plus


def carry_bits(x: int, y: int, op: str, width: int = 0) -> str:
    """Carry (add) or borrow (sub) out of each column, most significant column first, over the longer number's
    columns or ``width`` columns if more."""
    width = max(len(str(x)), len(str(y)), width)
    bits, carry = [], 0
    for i in range(width):
        dx, dy = (x // 10**i) % 10, (y // 10**i) % 10
        if op == "add":
            carry = 1 if dx + dy + carry >= 10 else 0
        else:
            carry = 1 if dx - dy - carry < 0 else 0
        bits.append(str(carry))
    return "".join(reversed(bits))


def scratchpad_steps(a: int, op: str, b: int, carry_mask: bool, width: int = 0) -> list[tuple[str, int | str]]:
    """The worked steps for a problem, before any number is formatted; ``width``: the columns of the masks inside a
    multiplication (its padded completion width), at least their numbers' own."""
    if op in ("add", "sub"):
        return [("C", carry_bits(a, b, op))] if carry_mask else []
    steps: list[tuple[str, int | str]] = []
    running = 0
    for i, digit in enumerate(reversed(str(b))):
        partial = a * int(digit) * 10**i
        steps.append(("P", partial))
        if i > 0:
            if carry_mask:
                steps.append(("C", carry_bits(running, partial, "add", width)))
            steps.append(("S", running + partial))
        running += partial
    return steps


def answer_of(a: int, op: str, b: int) -> int:
    return {"add": a + b, "sub": a - b, "mul": a * b}[op]


def written(n: int, factors: Factors, width: int = 0) -> str:
    """A number as the model writes it in the completion: zero-padded to ``width``, commas, then reversed with
    ``reverse``."""
    text = fmt_num(n, factors.commas, width)
    return text[::-1] if factors.reverse else text


def completion_steps(a: int, op: str, b: int, factors: Factors) -> list[tuple[str, str]]:
    """The scratchpad steps as written: (kind, text) with numbers and masks in the format's order."""
    if not factors.scratchpad:
        return []
    width = widths(a, op, b, factors)[1]
    return [
        (k, (v[::-1] if factors.reverse else v) if isinstance(v, str) else written(v, factors, width))
        for k, v in scratchpad_steps(a, op, b, factors.carry_mask, width if op == "mul" else 0)
    ]


def render(a: int, op: str, b: int, factors: Factors) -> tuple[str, str]:
    """Return (prompt, completion) for ``a op b`` in the given format."""
    if op not in OPS:
        raise ValueError(f"unknown operation {op!r}; expected one of {sorted(OPS)}")
    if a < 0 or b < 0 or (op == "sub" and a < b):
        raise ValueError(f"operands must be non-negative with a >= b for sub: {a} {op} {b}")
    c, (w, cw) = factors.commas, widths(a, op, b, factors)
    prompt = f"{fmt_num(a, c, w)}{OPS[op]}{fmt_num(b, c, w)}="
    steps = "".join(k + v + ";" for k, v in completion_steps(a, op, b, factors))
    return prompt, steps + "A" + written(answer_of(a, op, b), factors, cw) + END


def longest_line(op: str, digits: tuple[int, int], factors: Factors) -> str:
    """The longest line (prompt + completion) a stage of ``op`` on ``digits`` can render, in either
    operand order (the commute split evaluates b x a in every variant). Every number, mask and sum
    of a line is longest when its operands have the most digits: all nines, or for subtraction the
    largest a over the smallest b (a - b keeps a's digits)."""
    hi = [10**d - 1 for d in digits]
    lo = [0 if d == 1 else 10 ** (d - 1) for d in digits]
    pairs = [(hi[0], hi[1]), (hi[0], lo[1]), (hi[1], hi[0]), (hi[1], lo[0])]
    lines = ["".join(render(a, op, b, factors)) for a, b in pairs if op != "sub" or a >= b]
    return max(lines, key=len)


# ---------------------------------------------------------------- tokens


def encode(text: str) -> list[int]:
    try:
        return [STOI[ch] for ch in text]
    except KeyError as e:
        raise FormatError(f"character {e.args[0]!r} is not in the vocabulary {VOCAB!r}") from None


def decode(ids) -> str:
    return "".join(VOCAB[int(i)] for i in ids)


# ---------------------------------------------------------------- parsing and checking

_NUM = r"\d[\d,]*"  # commas are accepted here and their placement checked in check()
_PROMPT_RE = re.compile(rf"^({_NUM})([+\-*])({_NUM})=")
_STEP_RE = re.compile(rf"^(?:C([01]+)|P({_NUM})|S({_NUM}));")
_ANSWER_RE = re.compile(rf"^A({_NUM})\$$")


def _value(raw: str, reverse: bool = False) -> int:
    digits = raw.replace(",", "")
    return int(digits[::-1] if reverse else digits)


def parse(line: str, reverse: bool = False) -> Parsed:
    """Split a full line (prompt + completion) into its parts; raise FormatError if malformed.
    ``reverse``: the completion's numbers are written units digit first (the prompt never is)."""
    m = _PROMPT_RE.match(line)
    if not m:
        raise FormatError(f"no prompt 'NUM OP NUM =' at the start of {line!r}")
    p = Parsed(a=_value(m[1]), op=OP_NAMES[m[2]], b=_value(m[3]), prompt_numbers=[m[1], m[3]])
    rest = line[m.end() :]
    while rest and rest[0] in "CPS":
        s = _STEP_RE.match(rest)
        if not s:
            raise FormatError(f"malformed step at {rest!r} in {line!r}")
        if s[1] is not None:
            p.steps.append(("C", s[1]))
        else:
            raw = s[2] or s[3]
            p.steps.append(("P" if s[2] else "S", raw))
            p.written_numbers.append(raw)
        rest = rest[s.end() :]
    a = _ANSWER_RE.match(rest)
    if not a:
        raise FormatError(f"no answer 'A NUM $' at the end of {line!r} (left: {rest!r})")
    p.answer = _value(a[1], reverse)
    p.written_numbers.append(a[1])
    return p


def check(line: str, factors: Factors) -> Parsed:
    """Parse ``line`` and verify it arithmetically and against the format factors.

    Checks the answer, every partial product and running sum, every carry bit (and the
    masks' order), the comma placement and digit order of every number, and that the
    scratchpad is there or absent as ``factors`` say. Raises FormatError naming the first
    problem found.
    """
    p = parse(line, factors.reverse)
    w, cw = widths(p.a, p.op, p.b, factors)
    for raw in p.prompt_numbers:
        if raw != fmt_num(_value(raw), factors.commas, w):
            want = fmt_num(_value(raw), factors.commas, w)
            raise FormatError(f"number {raw!r} should be written {want!r} (pad={factors.pad}) in {line!r}")
    for raw in p.written_numbers:
        want = written(_value(raw, factors.reverse), factors, cw)
        if raw != want:
            raise FormatError(
                f"number {raw!r} should be written {want!r} "
                f"(commas={factors.commas}, reverse={factors.reverse}, pad={factors.pad}) in {line!r}"
            )
    if p.op == "sub" and p.a < p.b:
        raise FormatError(f"subtraction with a < b in {line!r}")
    expected = completion_steps(p.a, p.op, p.b, factors)
    if p.steps != expected:
        for i, (g, e) in enumerate(zip(p.steps, expected, strict=False)):
            if g != e:
                raise FormatError(f"step {i} is {''.join(g)!r}, expected {''.join(e)!r} in {line!r}")
        raise FormatError(f"{len(p.steps)} scratchpad steps, expected {len(expected)} in {line!r}")
    if p.answer != answer_of(p.a, p.op, p.b):
        raise FormatError(f"answer {p.answer} is wrong, expected {answer_of(p.a, p.op, p.b)} in {line!r}")
    return p


def answer_part(completion: str) -> str:
    """The answer as written, from the last "A" to the end ("A1,035$"); '' when there is none.
    Two completions have the same answer exactly when their answer parts are equal."""
    i = completion.rfind("A")
    return completion[i:] if i >= 0 else ""


def answer_text(completion: str, reverse: bool = False) -> str:
    """The answer digits of a completion, most significant first and without commas ('' when
    there is none); ``reverse``: the completion writes them units digit first."""
    i = completion.rfind("A")
    if i < 0:
        return ""
    digits = completion[i + 1 :].split(END)[0].replace(",", "")
    return digits[::-1] if reverse else digits


# token roles, for progress measures per kind of token
ROLE_NONE, ROLE_SCRATCH, ROLE_CARRY, ROLE_ANSWER = 0, 1, 2, 3


def completion_roles(completion: str) -> list[int]:
    """The role of each completion character: answer (from "A" to the end), carry-mask step
    (a "C" step with its ";"), or other scratchpad."""
    roles, role = [], ROLE_SCRATCH
    for ch in completion:
        if ch == "A":
            role = ROLE_ANSWER
        elif ch == "C" and role != ROLE_ANSWER:
            role = ROLE_CARRY
        roles.append(role)
        if ch == ";" and role == ROLE_CARRY:
            role = ROLE_SCRATCH
    return roles


REQUIRED_FACTORS = tuple(k for k in FACTORS if k not in OPTIONAL_FACTORS)
# the Snakefile's {fmt}: every required factor, then each optional one that is on
FORMAT_KEY_PATTERN = "-".join(f"{FACTOR_KEYS[k]}[01]" for k in REQUIRED_FACTORS) + "".join(
    f"(?:-{FACTOR_KEYS[k]}1)?" for k in OPTIONAL_FACTORS
)


def format_key(factors: dict) -> str:
    """The data-format directory name, e.g. ``carry1-commas0-commute0-mixed0-scratch1-reverse0``, with ``-pad1``
    where an optional factor is on (an optional factor that is off, or absent, is left out)."""
    on = [k for k in OPTIONAL_FACTORS if factors.get(k)]
    return "-".join(
        [f"{FACTOR_KEYS[k]}{int(bool(factors[k]))}" for k in REQUIRED_FACTORS] + [FACTOR_KEYS[k] + "1" for k in on]
    )


def parse_format_key(key: str) -> dict:
    """The factors a data-format directory name stands for (the inverse of :func:`format_key`): every required
    factor, and an optional one only where the key has it (on), so that a key and its params read as before."""
    parts, optional = key.split("-"), {FACTOR_KEYS[k] + "1": k for k in OPTIONAL_FACTORS}
    required, extra = parts[: len(REQUIRED_FACTORS)], parts[len(REQUIRED_FACTORS) :]
    if len(required) != len(REQUIRED_FACTORS) or any(p not in optional for p in extra):
        raise ValueError(
            f"bad data format key {key!r}; expected {len(REQUIRED_FACTORS)} parts "
            f"like {format_key(dict.fromkeys(FACTORS, True))!r}"
        )
    return {k: p.endswith("1") for k, p in zip(REQUIRED_FACTORS, required, strict=True)} | {
        optional[p]: True for p in extra
    }
