"""The fast paths compute what the plain ones do (issue 6): the unpadded training forward, the
training loss and gradients against the benchmark's nanoGPT-style reference, and greedy decoding
with the KV cache against re-forwarding the whole sequence."""

import copy
import importlib.util

import pytest
import torch
import torch.nn.functional as F
from conftest import ROOT, load_yaml
from test_training import SETTINGS, stages

from arithsignal.data.formats import VOCAB
from arithsignal.data.splits import Stage
from arithsignal.model.decode import greedy_decode
from arithsignal.train.batches import completion_loss, make_batch
from arithsignal.train.loop import Trainer

spec = importlib.util.spec_from_file_location("bench", ROOT / "benchmarks" / "bench.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


@pytest.fixture(scope="module")
def trainer():
    s = copy.deepcopy(SETTINGS)
    s["model"].update(n_layer=2, n_head=4, d_model=64)
    st = stages(Stage("add_1x1", "add", (1, 1)), Stage("add_2x2", "add", (2, 2)), Stage("mul_2x2", "mul", (2, 2)))
    tr = Trainer(s, seed=0, stages=st, device=torch.device("cpu"), log=lambda m: None)
    tr.state.stage_index = 2  # replay from both earlier stages: rows of three lengths, so real padding
    for _ in range(30):  # move off the initialisation
        tr.train_step()
    return tr


def batch_of(tr, seed=1):
    return make_batch(tr.stages, tr.state.stage_index, 32, 0.5, torch.Generator().manual_seed(seed))


def reference_of(tr) -> bench.RefGPT:
    """The benchmark's reference model with the trainer's weights (its head untied, holding a copy)."""
    m = tr.model.cfg
    ref = bench.RefGPT(len(VOCAB), m.block_size, m.n_layer, m.n_head, m.d_model)
    rename = {
        "tok_emb": "tok",
        "pos_emb": "pos",
        "ln_f": "ln",
        "attn.qkv": "qkv",
        "attn.proj": "proj",
        "mlp.fc": "fc",
        "mlp.proj": "out",
    }
    state = {}
    for k, v in tr.model.state_dict().items():
        for a, b in rename.items():
            k = k.replace(a, b)
        state[k] = v.clone()
    ref.load_state_dict(state)
    return ref


def test_the_batch_has_padding_to_skip(trainer):
    b = batch_of(trainer)
    assert 0.1 < 1 - b.real.float().mean() < 0.9


def test_unpadded_forward_equals_the_padded_one(trainer):
    b = batch_of(trainer)
    want = b.y != -100
    with torch.no_grad():
        full = trainer.model(b.x)[0][want]
        fast = trainer.model.forward_unpadded(b.x, b.real, want)
    assert fast.shape == full.shape
    torch.testing.assert_close(fast, full, rtol=1e-5, atol=1e-5)


def test_training_loss_and_gradients_equal_the_reference_step(trainer):
    b = batch_of(trainer, seed=2)
    ref = reference_of(trainer)
    ref_loss = F.cross_entropy(ref(b.x).reshape(-1, len(VOCAB)), b.y.reshape(-1), ignore_index=-100)
    ref_loss.backward()
    trainer.model.zero_grad(set_to_none=True)
    loss = completion_loss(trainer.model, b, trainer.device)[0].mean()
    loss.backward()
    torch.testing.assert_close(loss, ref_loss, rtol=1e-6, atol=1e-6)
    ref_grads = {n: p.grad for n, p in ref.named_parameters()}
    ours = dict(trainer.model.named_parameters())
    # the tied embedding collects the gradient of the reference's embedding and head
    torch.testing.assert_close(
        ours["tok_emb.weight"].grad, ref_grads["tok.weight"] + ref_grads["head.weight"], rtol=1e-4, atol=1e-6
    )
    torch.testing.assert_close(
        ours["blocks.1.mlp.fc.weight"].grad, ref_grads["blocks.1.fc.weight"], rtol=1e-4, atol=1e-6
    )
    torch.testing.assert_close(
        ours["blocks.0.attn.qkv.bias"].grad, ref_grads["blocks.0.qkv.bias"], rtol=1e-4, atol=1e-6
    )
    torch.testing.assert_close(ours["ln_f.weight"].grad, ref_grads["ln.weight"], rtol=1e-4, atol=1e-6)
    trainer.model.zero_grad(set_to_none=True)


def test_kv_cache_decoding_gives_exactly_the_naive_outputs(trainer):
    valid = trainer.stages[2].pools["train"]
    prompts = list(valid["prompt"][:40]) + ["1+2=", "99+1=", "7*8="]
    fast, fast_top, _ = greedy_decode(trainer.model, prompts, 40, top_k=3, use_cache=True)
    slow, slow_top, _ = greedy_decode(trainer.model, prompts, 40, top_k=3, use_cache=False)
    assert fast == slow
    assert all((a == b).all() for a, b in zip(fast_top, slow_top, strict=True))  # the runner-up tokens too
    assert max(map(len, fast)) > 10  # it decoded well past the prompt, so the cache was exercised


def test_the_last_block_computes_outputs_only_where_the_loss_reads_them(trainer):
    b = batch_of(trainer)
    want = b.y != -100
    rows = {}  # tokens each block's MLP ran on

    def record(k):
        return lambda module, inputs, output: rows.__setitem__(k, inputs[0].shape[0])

    hooks = [blk.mlp.register_forward_hook(record(k)) for k, blk in enumerate(trainer.model.blocks)]
    try:
        with torch.no_grad():
            trainer.model.forward_unpadded(b.x, b.real, want)
    finally:
        for h in hooks:
            h.remove()
    assert rows[0] == int(b.real.sum())  # every real token, no padding
    assert rows[len(rows) - 1] == int(want.sum()) < int(b.real.sum())  # the completion only


def test_the_benchmark_script_runs_its_training_comparison():
    row = bench.bench_training("default", steps=2, repeats=1)[0]
    assert row["speedup"] > 0 and 0 < row["padding_share"] < 1
    assert row["ours_page_faults_per_step"] >= 0 and row["reference_page_faults_per_step"] >= 0


def test_the_benchmark_times_every_size_of_the_scaling_preset_and_d128():
    grid = load_yaml(ROOT / "presets/scaling.yaml")["sweeps"][0]["grid"]
    rows = {r["benchmark"]: r for r in bench.bench_sizes(steps=1, repeats=1)}
    want = {f"size_d{d}_l{n}" for d in grid["model.d_model"] + [128] for n in grid["model.n_layer"]}
    assert set(rows) == want
    # each trainer really has the size it is named by
    assert (
        rows["size_d128_l2"]["non_embedding_params"] == 396_800 and rows["size_d16_l1"]["non_embedding_params"] == 3_312
    )
    assert rows["size_d16_l1"]["time_per_step_vs_smallest"] == 1.0
    assert all(r["ours_steps_per_s"] > 0 for r in rows.values())
