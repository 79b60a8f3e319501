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
"""

from __future__ import annotations

import torch

from ..data.formats import STOI

DIGIT_IDS = torch.tensor([STOI[d] for d in "0123456789"])
COMMA_ID = STOI[","]
EQUALS_ID = STOI["="]  # ends the prompt
SCHEMES = ("learned", "none", "abacus")


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


def n_positions(scheme: str, block_size: int, max_offset: int) -> int:
    """Rows of the position embedding: one per place of the sequence, or per digit place with every offset."""
    if scheme == "learned":
        return block_size
    if scheme == "abacus":
        return (
            block_size + max_offset + 1
        )  # index 0 (not a digit), then places 1 .. block_size shifted up to max_offset
    if scheme == "none":
        return 0
    raise ValueError(f"model.positions {scheme!r}: expected one of {list(SCHEMES)}")
