"""Position schemes (issue 27): abacus indices on hand-made lines, and every scheme's fast paths (the KV cache, the
unpadded training forward) against the plain ones; the random abacus offset is training's only."""

import copy

import pytest
import torch
from test_training import SETTINGS, stages

from arithsignal.data.formats import Factors, encode, render
from arithsignal.data.splits import Stage
from arithsignal.model.decode import greedy_decode
from arithsignal.model.gpt import GPT, ModelConfig
from arithsignal.model.positions import abacus_indices
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


@pytest.fixture(scope="module", params=["learned", "none", "abacus"])
def trainer(request):
    s = copy.deepcopy(SETTINGS)
    s["model"].update(positions=request.param, abacus_max_offset=5 if request.param == "abacus" else 0)
    st = stages(Stage("add_1x1", "add", (1, 1)), Stage("add_2x2", "add", (2, 2)))
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
