"""Position schemes (issues 27, 42): abacus and coupled indices on hand-made lines, and every scheme's fast paths (the
KV cache, the unpadded training forward) against the plain ones; the random offset is training's only."""

import copy

import pytest
import torch
from test_training import SETTINGS, stages

from arithsignal.data.formats import Factors, encode, render
from arithsignal.data.splits import Stage
from arithsignal.model.decode import greedy_decode
from arithsignal.model.gpt import GPT, ModelConfig
from arithsignal.model.positions import abacus_indices, coupled_indices, relative_buckets
from arithsignal.train.batches import completion_loss, make_batch
from arithsignal.train.loop import Trainer, model_config
from arithsignal.train.settings import RunSettings


def indices(line: str, units_first: bool = False) -> list[int]:
    return abacus_indices(torch.tensor([encode(line)]), units_first)[0].tolist()


def test_abacus_counts_each_number_from_its_first_digit_as_mcleish_et_al():
    assert indices("123+45=C000;A168$") == [1, 2, 3, 0, 1, 2, 0, 0, 1, 2, 3, 0, 0, 1, 2, 3, 0]


def test_reversed_formats_count_the_prompt_from_its_units_digit_so_a_place_is_one_column():
    # the prompt is written most significant digit first, the completion units first: both count from the units
    line = "".join(render(123, "add", 45, Factors(reverse=True)))
    assert line == "123+45=C000;A861$"
    got = indices(line, units_first=True)
    assert got == [3, 2, 1, 0, 2, 1, 0, 0, 1, 2, 3, 0, 0, 1, 2, 3, 0]
    # the units digits of a (3), of b (5) and of the answer (8) share index 1
    assert [got[i] for i, ch in enumerate(line) if ch in "358"] == [1, 1, 1]


def test_commas_belong_to_their_number_and_read_zero():
    line = "".join(render(1234, "add", 5, Factors(commas=True, scratchpad=False)))
    assert line == "1,234+5=A1,239$"
    assert indices(line) == [1, 0, 2, 3, 4, 0, 1, 0, 0, 1, 0, 2, 3, 4, 0]
    assert indices(line, units_first=True) == [4, 0, 3, 2, 1, 0, 1, 0, 0, 1, 0, 2, 3, 4, 0]


def test_scratchpad_steps_are_numbers_of_their_own():
    line = "".join(render(12, "mul", 34, Factors()))
    assert line == "12*34=P48;P360;C010;S408;A408$"
    got = indices(line)
    runs, run = [], []
    for ch, i in zip(line, got, strict=True):
        if ch.isdigit():
            run.append(i)
        elif run:
            runs.append(run)
            run = []
    assert runs == [[1, 2], [1, 2], [1, 2], [1, 2, 3], [1, 2, 3], [1, 2, 3], [1, 2, 3]]
    assert all(i == 0 for ch, i in zip(line, got, strict=True) if not ch.isdigit())


def coupled(line: str, units_first: bool = True) -> list[int]:
    return coupled_indices(torch.tensor([encode(line)]), units_first)[0].tolist()


def columns(line: str, got: list[int]) -> list[list[int]]:
    """Each number's (or mask's) indices, in the order written."""
    runs, run = [], []
    for ch, i in zip(line + ";", got + [0], strict=True):
        if ch.isdigit():
            run.append(i)
        elif run:
            runs.append(run)
            run = []
    return runs


@pytest.mark.parametrize("carry_mask", [True, False])
def test_coupled_indices_give_a_column_one_index_in_operands_carry_line_and_answer(carry_mask):
    line = "".join(render(123, "add", 45, Factors(reverse=True, carry_mask=carry_mask)))
    assert line == ("123+45=C000;A861$" if carry_mask else "123+45=A861$")
    got = coupled(line)
    # units 2, tens 3, hundreds 4 in every number; "+" predicts 45's first digit (tens, 3): 4; C and A predict a units
    # digit: 1; "=", ";" and "$" read 0
    want = [4, 3, 2, 4, 3, 2, 0] + ([1, 2, 3, 4, 0] if carry_mask else []) + [1, 2, 3, 4, 0]
    assert got == want
    units = [got[i] for i, ch in enumerate(line) if ch in "358"]  # the units digits of a, of b and of the answer
    assert units == [2, 2, 2]


def test_coupled_indices_in_a_multiplication_s_scratchpad_and_with_commas():
    line = "".join(render(12, "mul", 34, Factors(reverse=True)))
    assert line == "12*34=P84;P063;C010;S804;A804$"
    got = coupled(line)
    assert columns(line, got) == [[3, 2], [3, 2], [2, 3], [2, 3, 4], [2, 3, 4], [2, 3, 4], [2, 3, 4]]
    assert [i for ch, i in zip(line, got, strict=True) if ch in "PCSA"] == [1, 1, 1, 1, 1]
    assert got[line.index("*")] == 4  # before 34's tens digit (3)
    line = "".join(render(1234, "add", 5, Factors(reverse=True, commas=True, scratchpad=False)))
    assert line == "1,234+5=A932,1$"
    assert coupled(line) == [5, 0, 4, 3, 2, 3, 2, 0, 1, 2, 3, 4, 0, 5, 0]  # a comma is no column: 0


@pytest.mark.parametrize("problem", [(987, "add", 65), (52, "sub", 17), (23, "mul", 45), (1234, "add", 5)])
@pytest.mark.parametrize("reverse", [True, False])
def test_coupled_indices_read_the_same_token_by_token_as_over_the_whole_line(problem, reverse):
    """Decoding reads each new token's index over the tokens so far: a letter's index and a padded number's digits
    follow from what is already written, so every prefix of a line gives the indices the whole line gives there."""
    for commas in (False, True):
        f = Factors(reverse=reverse, pad=True, commas=commas)
        line = "".join(render(*problem, f))
        whole = coupled(line, reverse)
        assert all(coupled(line[:t], reverse) == whole[:t] for t in range(line.index("=") + 1, len(line) + 1)), line


def test_malformed_output_never_reads_an_index_below_zero_or_changes_earlier_ones():
    """A model may write more digits than a padded number's width, or an operator in its completion: the extra
    digits read 1, and what it writes later never changes an index already read (the KV cache holds those)."""
    long = coupled("12+34=A004600000", False)
    assert min(long) >= 0 and long[-5:] == [1] * 5
    assert coupled("12+34=C0*", False)[:8] == coupled("12+34=C0", False)


def test_padded_most_significant_first_lines_are_coupled_by_column_too():
    line = "".join(render(123, "add", 45, Factors(pad=True)))
    assert line == "123+045=C000;A0168$"
    # the answer's thousands digit (0) reads 5, one past the operands' hundreds (4); C and A read their number's first
    # digit's index + 1, the index one step before it in the direction it is written
    assert coupled(line, False) == [4, 3, 2, 5, 4, 3, 2, 0, 5, 4, 3, 2, 0, 6, 5, 4, 3, 2, 0]
    line = "".join(render(12, "mul", 34, Factors(pad=True)))
    assert line == "12*34=P0048;P0360;C0010;S0408;A0408$"  # every completion number 2W = 4 digits, masks too
    assert columns(line, coupled(line, False))[2:] == [[5, 4, 3, 2]] * 5
    reversed_line = "".join(render(12, "mul", 34, Factors(pad=True, reverse=True)))
    assert columns(reversed_line, coupled(reversed_line, True))[2:] == [[2, 3, 4, 5]] * 5


def test_the_coupled_offset_moves_the_predicting_tokens_with_the_digits():
    model = GPT(ModelConfig(vocab_size=22, block_size=32, n_layer=1, n_head=2, d_model=8, positions="coupled",
                            abacus_max_offset=7, abacus_units_first=True))  # fmt: skip
    idx = torch.tensor([encode("123+45=C000;A861$")] * 64)
    plain = coupled_indices(idx, True)
    model.eval()
    assert torch.equal(model.position_ids(idx), plain)
    model.train()
    offsets = model.position_ids(idx) - plain
    assert (offsets[plain == 0] == 0).all() and (offsets == offsets[:, :1]).where(plain > 0, True).all()
    assert offsets[:, 0].max() == 7 and len(offsets[:, 0].unique()) > 4  # one offset per row, drawn from [0, 7]
    assert model.pos_emb.num_embeddings == 32 + 7 + 3  # index 0, the predicting 1, columns up to block_size + 2


def test_the_relative_bucket_is_the_clipped_index_difference_alone():
    q = torch.tensor([[2, 3, 9]])
    k = torch.tensor([[0, 1, 2, 3, 4, 5, 9, 20]])
    got = relative_buckets(q, k, 7)
    want = (k[:, None, :] - q[:, :, None]).clamp(-3, 3) + 3
    assert torch.equal(got, want) and got.min() == 0 and got.max() == 6
    assert torch.equal(relative_buckets(q + 11, k + 11, 7), got)  # a shift of every index changes nothing


def test_the_relative_bias_is_added_to_every_score_by_index_difference_under_the_causal_mask():
    """With queries and keys at zero, attention is softmax(bias) over the keys a query may see: each head's weights
    follow its learned value of the clipped key-minus-query difference of coupled indices, and nothing else."""
    torch.manual_seed(0)
    model = GPT(ModelConfig(vocab_size=22, block_size=32, n_layer=1, n_head=2, d_model=8,
                            positions="coupled_relative", relative_buckets=5, abacus_units_first=True))  # fmt: skip
    attn = model.blocks[0].attn
    line = torch.tensor([encode("123+45=C000;A861$")])
    q_ids, k_ids = model.relative(line)
    T = line.shape[1]
    zeros = torch.zeros(1, 2, T, 4)
    values = torch.randn(1, 2, T, 4)
    y = attn._attend_biased(zeros, zeros, values, (q_ids, k_ids), 0.0).view(1, T, 2, 4).transpose(1, 2)
    table = attn.rel_bias.weight  # (buckets, heads)
    diff = (k_ids[0][None, :] - q_ids[0][:, None]).clamp(-2, 2) + 2
    for h in range(2):
        scores = table[diff, h].masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
        torch.testing.assert_close(y[0, h], scores.softmax(-1) @ values[0, h])
    assert model.pos_emb is None  # no absolute embedding under the relative scheme


@pytest.fixture(scope="module", params=["learned", "none", "abacus", "coupled", "coupled-pad", "coupled_relative-pad"])
def trainer(request):
    s = copy.deepcopy(SETTINGS)
    scheme, padded = request.param.removesuffix("-pad"), request.param.endswith("-pad")
    s["model"].update(positions=scheme, abacus_max_offset=5 if scheme in ("abacus", "coupled") else 0)
    if scheme == "coupled_relative":
        s["model"]["relative_buckets"] = 5
    # coupled indices need the completion units digit first, or padded numbers whose widths are known in advance
    s["factors"].update(reverse=request.param == "coupled", pad=padded)
    factors = Factors(reverse=s["factors"]["reverse"], pad=padded)
    st = stages(Stage("add_1x1", "add", (1, 1)), Stage("add_2x2", "add", (2, 2)), factors=factors)
    tr = Trainer(s, seed=0, stages=st, device=torch.device("cpu"), log=lambda m: None)
    tr.state.stage_index = 1
    for _ in range(30):  # move off the initialisation
        tr.train_step()
    return tr


def test_kv_cache_decoding_gives_the_naive_outputs_under_every_scheme(trainer):
    prompts = list(trainer.stages[1].pools["train"]["prompt"][:30]) + ["1+2=", "99+1="]
    fast, fast_top, _ = greedy_decode(trainer.model, prompts, 30, top_k=3, use_cache=True)
    slow, slow_top, _ = greedy_decode(trainer.model, prompts, 30, top_k=3, use_cache=False)
    assert fast == slow
    assert all((a == b).all() for a, b in zip(fast_top, slow_top, strict=True))


def test_unpadded_forward_equals_the_padded_one_under_every_scheme(trainer):
    b = make_batch(trainer.stages, 1, 32, 0.5, torch.Generator().manual_seed(1))
    want = b.y != -100
    trainer.model.eval()  # no abacus offset: the two paths read the same indices
    with torch.no_grad():
        full = trainer.model(b.x)[0][want]
        fast = trainer.model.forward_unpadded(b.x, b.real, want)
    trainer.model.train()
    torch.testing.assert_close(fast, full, rtol=1e-5, atol=1e-5)


def test_the_abacus_offset_shifts_every_digit_of_a_row_alike_in_training_only():
    model = GPT(
        ModelConfig(
            vocab_size=22, block_size=32, n_layer=1, n_head=2, d_model=8, positions="abacus", abacus_max_offset=7
        )
    )
    idx = torch.tensor([encode("123+45=C000;A168$")] * 64)
    plain = abacus_indices(idx, False)
    model.eval()
    assert torch.equal(model.position_ids(idx), plain)
    model.train()
    torch.manual_seed(0)
    shifted = model.position_ids(idx)
    digits = plain > 0
    offsets = shifted - plain
    assert (offsets[~digits] == 0).all()
    per_row = offsets[:, 0]
    assert (offsets[digits] == per_row[:, None].expand_as(offsets)[digits]).all()  # one offset per row
    assert per_row.min() == 0 and per_row.max() == 7 and len(per_row.unique()) > 4  # drawn from [0, max]
    torch.manual_seed(0)
    assert torch.equal(model.position_ids(idx), shifted)  # seeded by torch's generator, which checkpoints keep


def test_learned_positions_are_the_default_model():
    s = RunSettings.from_dict(SETTINGS)
    explicit = copy.deepcopy(SETTINGS)
    explicit["model"]["positions"] = "learned"
    a, b = model_config(s), model_config(RunSettings.from_dict(explicit))
    torch.manual_seed(0)
    ma = GPT(a)
    torch.manual_seed(0)
    mb = GPT(b)
    assert ma.pos_emb.weight.shape == (SETTINGS["model"]["block_size"], SETTINGS["model"]["d_model"])
    assert all(torch.equal(x, y) for x, y in zip(ma.state_dict().values(), mb.state_dict().values(), strict=True))


def test_the_abacus_model_reads_whether_the_format_is_reversed():
    s = copy.deepcopy(SETTINGS)
    s["model"]["positions"] = "abacus"
    s["factors"]["reverse"] = True
    assert model_config(RunSettings.from_dict(s)).abacus_units_first
    s["model"]["positions"] = "none"
    assert not model_config(RunSettings.from_dict(s)).abacus_units_first
    assert GPT(model_config(RunSettings.from_dict(s))).pos_emb is None


def test_learned_positions_train_as_they_did_before_position_schemes_existed():
    """40 steps of a small run, read as the code before model.positions (c746639) read them: its held-out batch loss
    and weight norm were 0.7842752933502197 and 13.582871240389675 (tolerances for another CPU's float rounding;
    a change to what the learned path computes moves them far more)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the value was recorded
    try:
        st = stages(Stage("add_1x1", "add", (1, 1)), Stage("add_2x2", "add", (2, 2)))
        tr = Trainer(SETTINGS, seed=0, stages=st, device=torch.device("cpu"), log=lambda m: None)
        tr.state.stage_index = 1
        for _ in range(40):
            tr.train_step()
        b = make_batch(tr.stages, 1, 64, 0.5, torch.Generator().manual_seed(5))
        with torch.no_grad():
            loss = completion_loss(tr.model, b, tr.device)[0].mean().item()
            norm = sum(float(p.double().pow(2).sum()) for p in tr.model.parameters()) ** 0.5
    finally:
        torch.set_num_threads(threads)
    assert loss == pytest.approx(0.7842752933502197, rel=1e-4)
    assert norm == pytest.approx(13.582871240389675, rel=1e-5)
