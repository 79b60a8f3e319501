"""Position schemes: the index each token's position embedding reads (``model.positions``, docs/POSITIONS.md).

* ``learned``: the token's place in the sequence, 0, 1, 2, ... (GPT-2); cannot extrapolate past trained lengths.
* ``none``: no position embedding; the causal mask is the only sign of order (NoPE, Kazemnejad et al. 2023).
* ``abacus``: each digit's place within its own number (McLeish et al. 2024, "Transformers Can Do Arithmetic with
  the Right Embeddings"): a number is a run of digits (commas inside it count as part of the number and get index
  0, like every other non-digit token); its digits read 1, 2, 3, ... from the first digit written, so digits of the
  same place in different numbers share an embedding when numbers are written units digit first. Where the format
  writes the completion units digit first (``reverse``) the prompt's numbers, written most significant digit first,
  are counted from their units digit too (from their end), so that a place means the same column everywhere;
  otherwise every number is counted from its first digit, as McLeish et al. do. During training each row adds a
  random offset in [0, ``abacus_max_offset``] to its digits' indices (McLeish et al. draw one per batch), so indices
  beyond the trained lengths are trained too; evaluation adds none.
* ``coupled``: position coupling (Cho et al. 2024, "Position Coupling: Improving Length Generalization of Arithmetic
  Transformers Using Task Structure"): every digit reads its column, counted from the units digit in every number
  (the units digit reads 2, the tens 3, ...), so a column is one index in both operands, every scratchpad number, every
  carry mask and the answer; and the token that *predicts* a number's first digit (the letter or operator just
  before it) reads the index one step before that digit in the number's own direction, as Cho et al.'s "=" does: 1
  before a number written units digit first, its first digit's index + 1 before one written most significant digit
  first. Every other token reads 0, and the per-row training offset moves the predicting tokens with the digits.
  A number written most significant digit first can be counted from its units digit before it is written only if
  its width is known: so most significant first completions need ``pad`` (config relation
  ``coupled_needs_known_widths``), which fixes every number's width by the operands'.
* ``coupled_relative``: no position embedding; instead each attention layer adds to every score a learned bias per
  head on the difference of the two tokens' coupled indices (key minus query), clipped to ``relative_buckets``
  buckets (Cho et al.'s ``coupled_relative_bias``; Jelassi et al. 2023 and Sabbaghi et al. 2024 extrapolate from
  short training lengths with relative schemes). A difference does not change when every index moves, so it takes
  no training offset; it needs known widths as ``coupled`` does.
"""

from __future__ import annotations

import torch

from ..data.formats import OPS, PADDED_WIDTH, STOI

DIGIT_IDS = torch.tensor([STOI[d] for d in "0123456789"])
COMMA_ID = STOI[","]
EQUALS_ID = STOI["="]  # ends the prompt
OPERATOR_IDS = torch.tensor([STOI[o] for o in OPS.values()])
STEP_IDS = torch.tensor([STOI[k] for k in "CPSA"])  # the letters that open a scratchpad step or the answer
SCHEMES = ("learned", "none", "abacus", "coupled", "coupled_relative")


def _count_from_start(is_digit: torch.Tensor, in_number: torch.Tensor) -> torch.Tensor:
    """(B, T): 1 + the digits before each digit within its number, 0 elsewhere."""
    starts = in_number & ~torch.nn.functional.pad(in_number[:, :-1], (1, 0), value=False)
    digits_so_far = is_digit.long().cumsum(1)
    before_start = torch.where(starts, digits_so_far - is_digit.long(), torch.zeros_like(digits_so_far))
    base = before_start.cummax(1).values  # digits_so_far never decreases, so the latest start's value is the largest
    return (digits_so_far - base) * is_digit


def abacus_indices(idx: torch.Tensor, units_first: bool) -> torch.Tensor:
    """(B, T) token ids -> (B, T) abacus indices (module docstring); ``units_first``: the format writes its
    completion units digit first, so the prompt's numbers are counted from their end."""
    is_digit = torch.isin(idx, DIGIT_IDS.to(idx.device))
    in_number = is_digit | (idx == COMMA_ID)
    from_start = _count_from_start(is_digit, in_number)
    if not units_first:
        return from_start
    from_end = _count_from_start(is_digit.flip(1), in_number.flip(1)).flip(1)
    eq = (idx == EQUALS_ID).long()
    in_prompt = (eq.cumsum(1) - eq) == 0  # up to and including the first "="
    return torch.where(in_prompt, from_end, from_start)


def _completion_widths(idx: torch.Tensor, is_digit: torch.Tensor, in_prompt: torch.Tensor) -> torch.Tensor:
    """(B, T): under ``pad``, the width of the completion number each token belongs to or opens, read off the prompt
    and the step letter before it: the first operand's digits W (padded: both operands' width), then W for an
    addition's or a subtraction's mask, 2W for one inside a multiplication, and W + 1, W or 2W (add, sub, mul) for
    every other number (data/formats.py ``PADDED_WIDTH``)."""
    operator = torch.isin(idx, OPERATOR_IDS.to(idx.device)) & in_prompt
    before_operator = operator.long().cumsum(1) == 0
    w = (is_digit & before_operator).sum(1, keepdim=True)
    is_mul = ((idx == STOI[OPS["mul"]]) & in_prompt).any(1, keepdim=True)  # the prompt's: an operator the model
    is_add = ((idx == STOI[OPS["add"]]) & in_prompt).any(1, keepdim=True)  # writes later must not change earlier ones
    (tm, pm), (ta, pa), (ts, ps) = (PADDED_WIDTH[op] for op in ("mul", "add", "sub"))
    number = torch.where(is_mul, tm * w + pm, torch.where(is_add, ta * w + pa, ts * w + ps))
    mask = torch.where(is_mul, number, w)  # a mask inside a multiplication spans its columns, else the operands'
    letter = torch.isin(idx, STEP_IDS.to(idx.device)) & ~in_prompt
    t = torch.arange(idx.shape[1], device=idx.device).expand_as(idx)
    last_letter = idx.gather(1, torch.where(letter, t, torch.zeros_like(t)).cummax(1).values)
    return torch.where(last_letter == STOI["C"], mask, number)


def coupled_indices(idx: torch.Tensor, units_first: bool) -> torch.Tensor:
    """(B, T) token ids -> (B, T) coupled indices (module docstring): digits from 2 up, counted from the units digit
    in every number; the operator 2 + the second operand's width; every step letter of the completion (C, P, S, A:
    each is followed by its number) 1 before a number written units digit first (``units_first``: ``reverse``), or
    its number's width + 2 before one written most significant digit first, whose width ``pad`` fixes. Every index is
    known when its token is read (the prompt is given whole; a completion number's width follows from the prompt and
    its letter), so decoding token by token reads the indices training read."""
    is_digit = torch.isin(idx, DIGIT_IDS.to(idx.device))
    in_number = is_digit | (idx == COMMA_ID)
    eq = (idx == EQUALS_ID).long()
    in_prompt = (eq.cumsum(1) - eq) == 0  # up to and including the first "="
    from_end = _count_from_start(is_digit.flip(1), in_number.flip(1)).flip(1)
    written = _count_from_start(is_digit, in_number)  # 1, 2, ... in the order written
    width = None if units_first else _completion_widths(idx, is_digit, in_prompt)
    completion = written if units_first else width - written + 1
    place = torch.where(in_prompt, from_end, completion)  # 1: the units digit
    # a digit written beyond its number's width (malformed output only) reads 1, below every column, not an index < 0
    column = torch.where(is_digit, (place + 1).clamp(min=1), torch.zeros_like(place))
    operator = torch.isin(idx, OPERATOR_IDS.to(idx.device)) & in_prompt
    ahead = torch.nn.functional.pad(column[:, 1:], (0, 1))  # the second operand's first digit: its width + 1
    letter = torch.isin(idx, STEP_IDS.to(idx.device)) & ~in_prompt
    before = torch.ones_like(column) if units_first else width + 2
    return torch.where(operator, ahead + 1, torch.where(letter, before, column))


def n_positions(scheme: str, block_size: int, max_offset: int) -> int:
    """Rows of the position embedding: one per place of the sequence, or per digit place with every offset."""
    if scheme == "learned":
        return block_size
    if scheme == "abacus":
        return (
            block_size + max_offset + 1
        )  # index 0 (not a digit), then places 1 .. block_size shifted up to max_offset
    if scheme == "coupled":
        return block_size + max_offset + 3  # index 0, the predicting 1, columns 2 .. block_size + 2, each shifted
    if scheme in ("none", "coupled_relative"):
        return 0
    raise ValueError(f"model.positions {scheme!r}: expected one of {list(SCHEMES)}")


def relative_buckets(query: torch.Tensor, key: torch.Tensor, buckets: int) -> torch.Tensor:
    """(B, Tq) and (B, Tk) coupled indices -> (B, Tq, Tk) bucket of each key's index minus each query's, clipped to
    [-(buckets // 2), buckets // 2] and shifted to [0, buckets)."""
    half = buckets // 2
    return (key[:, None, :] - query[:, :, None]).clamp(-half, half) + half
