"""Side-by-side benchmarks, reported as ratios (this machine is shared and noisy: medians over interleaved repeats).

    python benchmarks/bench.py [--quick] [--out benchmarks/results.csv]

1. training throughput of the project's training step vs a plain nanoGPT-style reference loop
   written here (nn.Linear attention with scaled_dot_product_attention, AdamW, fp32, batches padded
   to their longest row), same model shape, batch size and batches; default and paper preset
   shapes, at the preset's last stage replaying the earlier ones, as training sees it;
   then the SNR-gated update (optim.name: snr_gated) against fused AdamW, whole step and optimiser step;
2. evaluation decoding: batched greedy decoding with the KV cache vs re-forwarding the whole
   sequence per token, at the paper preset's longest scratchpad (4x4 multiplication);
3. graduation-check and progress-measure overhead: shares of training wall time, default preset;
4. workflow overhead: a dry run of this checkout's workflow, Snakemake's own cost per (no-op)
   job, and the Python start-up (imports) of a training job;
5. peak memory (high-water RSS) of a fresh process training each preset's last stage;
6. training steps per second at presets/scaling.yaml's model sizes and at d_model 128 (the width
   left out of its grid for what it costs here), the default recipe, interleaved;
7. portable numerics (numerics.py: ATen and oneDNN pinned to AVX2, MKL to its COMPATIBLE branch) against the
   machine's native paths: a training step at the default and paper shapes, each in a fresh process per mode
   (the paths are fixed when torch is imported), interleaved.

glibc's allocator is pinned (``pin_allocator``) unless ``--default-allocator`` is given.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from arithsignal.data.formats import VOCAB, Factors  # noqa: E402
from arithsignal.data.splits import DataSettings, Stage, build_stage  # noqa: E402
from arithsignal.model.decode import greedy_decode  # noqa: E402
from arithsignal.model.size import non_embedding_params  # noqa: E402
from arithsignal.train.batches import make_batch, tensorise  # noqa: E402
from arithsignal.train.loop import Trainer  # noqa: E402


class RefBlock(nn.Module):
    def __init__(self, d: int, h: int):
        super().__init__()
        self.h = h
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.h, C // self.h).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, C)
        x = x + self.proj(y)
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class RefGPT(nn.Module):
    """The plain reference: nanoGPT's structure, nothing else."""

    def __init__(self, vocab: int, block: int, n_layer: int, n_head: int, d: int):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(block, d)
        self.blocks = nn.Sequential(*[RefBlock(d, n_head) for _ in range(n_layer)])
        self.ln, self.head = nn.LayerNorm(d), nn.Linear(d, vocab, bias=False)

    def forward(self, idx):
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1], device=idx.device))
        return self.head(self.ln(self.blocks(x)))


def preset(name: str) -> dict:
    path = {"default": ROOT / "config.yaml", "paper": ROOT / "presets/paper.yaml"}[name]
    return yaml.safe_load(path.read_text())


FACTORS = Factors(carry_mask=True, commas=True)  # the longest lines


def stage_tensors(cfg: dict, stage: dict, n: int = 2000):
    data = DataSettings(**{**cfg["data"], "train_size": n, "pool_size": 200, "test_size": 100})
    fr = build_stage(Stage.from_config(stage), FACTORS, data)
    return fr, tensorise(stage["name"], fr["train"], fr["train_pool"], fr["unseen_pool"])


def settings_of(cfg: dict) -> dict:
    return {"factors": asdict(FACTORS), **{k: cfg[k] for k in ("model", "optim", "curriculum", "graduation", "train")}}


def last_stage_trainer(
    name: str, n: int = 500, device: str = "cpu", optim: dict | None = None, model: dict | None = None
) -> Trainer:
    """A trainer of the preset at its last (longest) stage, replaying all earlier ones, as training sees it
    (``optim``, ``model``: settings to override, e.g. the optimiser or the width)."""
    cfg = preset(name)
    stages = [stage_tensors(cfg, st, n)[1] for st in cfg["stages"]]
    settings = settings_of(cfg)
    settings["optim"] = {**settings["optim"], **(optim or {})}
    settings["model"] = {**settings["model"], **(model or {})}
    trainer = Trainer(settings, 0, stages, torch.device(device), log=lambda msg: None)
    trainer.state.stage_index = len(stages) - 1
    return trainer


def pin_allocator() -> bool:
    """Stop glibc from handing freed memory back to the OS between steps.

    Both training loops share this process. With glibc's default, adaptive thresholds, one loop's
    large blocks get unmapped or trimmed and the other loop (here, the reference) then pays page
    faults for every activation it allocates: that measures the allocator, not the step. Pinned,
    each loop runs as it does alone in its own process (docs/PERFORMANCE.md has the numbers).
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(libc.mallopt(m_trim_threshold, 1 << 30)) and bool(libc.mallopt(m_mmap_threshold, 1 << 25))


def time_it(fn, steps: int, device: str = "cpu") -> tuple[float, float]:
    """Seconds per call, and the process's minor page faults per call."""
    sync = torch.cuda.synchronize if device.startswith("cuda") else lambda: None
    sync()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    sync()
    return (time.perf_counter() - t0) / steps, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / steps


def model_flops_per_token(m: dict, seq_len: float) -> float:
    """Training FLOPs per token, 6N + 12 L d T (Chinchilla/PaLM accounting; N without embeddings)."""
    n = m["n_layer"] * 12 * m["d_model"] ** 2
    return 6 * n + 12 * m["n_layer"] * m["d_model"] * seq_len


def bench_training(
    name: str, steps: int, repeats: int, device: str = "cpu", peak_tflops: float | None = None
) -> list[dict]:
    trainer = last_stage_trainer(name, device=device)
    m, o, c = trainer.s.model, trainer.s.optim, trainer.s.curriculum
    ref = RefGPT(len(VOCAB), m["block_size"], m["n_layer"], m["n_head"], m["d_model"]).to(device)
    ref_opt = torch.optim.AdamW(ref.parameters(), lr=o.lr, weight_decay=o.weight_decay)
    gen = torch.Generator().manual_seed(0)  # the reference draws batches from the same distribution

    def ref_step():
        b = make_batch(trainer.stages, trainer.state.stage_index, o.batch_size, c.replay_share, gen).to(
            torch.device(device)
        )
        loss = F.cross_entropy(ref(b.x).reshape(-1, len(VOCAB)), b.y.reshape(-1), ignore_index=-100)
        ref_opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(ref.parameters(), o.grad_clip)
        ref_opt.step()

    for _ in range(3):  # warm up both
        trainer.train_step()
        ref_step()
    ours, theirs = [], []
    for _ in range(repeats):  # interleaved, so drift in machine load hits both
        ours.append(time_it(trainer.train_step, steps, device))
        theirs.append(time_it(ref_step, steps, device))
    sample = [
        make_batch(trainer.stages, trainer.state.stage_index, o.batch_size, c.replay_share, gen) for _ in range(50)
    ]
    tokens = statistics.mean(int(b.real.sum()) for b in sample)  # problem tokens per batch
    padded = statistics.mean(b.x.numel() for b in sample)  # what the reference computes on
    seq_len = statistics.mean(b.real.sum(1).float().mean().item() for b in sample)
    a, b = statistics.median(t for t, _ in ours), statistics.median(t for t, _ in theirs)
    model_tflops = model_flops_per_token(m, seq_len) * tokens / a / 1e12  # useful work: problem tokens only
    row = {"benchmark": f"training_{name}", "device": device, "ours_s_per_step": a, "reference_s_per_step": b,
           "speedup": b / a,
           "ours_steps_per_s": 1 / a, "ours_tokens_per_s": tokens / a, "reference_tokens_per_s": tokens / b,
           "batch": o.batch_size, "padding_share": 1 - tokens / padded, "model_tflops_per_s": model_tflops,
           "ours_page_faults_per_step": statistics.median(f for _, f in ours),
           "reference_page_faults_per_step": statistics.median(f for _, f in theirs)}  # fmt: skip
    if peak_tflops:
        row["mfu"] = model_tflops / peak_tflops
    return [row]


def bench_optimizer(name: str, steps: int, repeats: int, device: str = "cpu") -> list[dict]:
    """The SNR-gated update against fused AdamW (the workflow's default), same preset shape and batches:
    the whole training step (the article's claim: under 5% more), and the optimiser step alone."""
    trainers = {opt: last_stage_trainer(name, device=device, optim={"name": opt}) for opt in ("adamw", "snr_gated")}
    for tr in trainers.values():
        for _ in range(3):  # warm up, and create the optimisers' state
            tr.train_step()
    whole = {opt: [] for opt in trainers}
    alone = {opt: [] for opt in trainers}
    for _ in range(repeats):  # interleaved, so drift in machine load hits both
        for opt, tr in trainers.items():
            whole[opt].append(time_it(tr.train_step, steps, device)[0])
            alone[opt].append(time_it(tr.opt.step, steps, device)[0])  # on the last step's gradients
    med = {k: {opt: statistics.median(v) for opt, v in d.items()} for k, d in (("step", whole), ("opt", alone))}
    return [{"benchmark": f"optimizer_{name}", "device": device,
             "adamw_s_per_step": med["step"]["adamw"], "snr_gated_s_per_step": med["step"]["snr_gated"],
             "step_ratio": med["step"]["snr_gated"] / med["step"]["adamw"],
             "adamw_optimizer_s": med["opt"]["adamw"], "snr_gated_optimizer_s": med["opt"]["snr_gated"],
             "optimizer_ratio": med["opt"]["snr_gated"] / med["opt"]["adamw"],
             # the gate's extra optimiser time over AdamW's whole step: steadier than step_ratio, whose noise is larger
             "gate_share_of_step": (med["opt"]["snr_gated"] - med["opt"]["adamw"]) / med["step"]["adamw"],
             "params": sum(p.numel() for p in trainers["adamw"].model.parameters())}]  # fmt: skip


def bench_decoding(repeats: int, n: int) -> list[dict]:
    cfg = preset("paper")
    stage = next(s for s in cfg["stages"] if s["name"] == "mul_4x4")
    fr, _ = stage_tensors(cfg, stage, n=n)
    m = settings_of(cfg)["model"]
    torch.manual_seed(0)
    from arithsignal.model.gpt import GPT, ModelConfig

    model = GPT(ModelConfig(vocab_size=len(VOCAB), **m)).eval()
    with torch.no_grad():  # an untrained model may stop at once; silence the end marker to decode full length
        model.tok_emb.weight[VOCAB.index("$")] = -10 * model.tok_emb.weight.mean(0) - 1.0
    prompts = fr["test"]["prompt"].tolist()[:n]
    max_new = max(map(len, fr["test"]["completion"]))
    fast, slow = [], []
    out_fast = out_slow = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out_fast, _, _ = greedy_decode(model, prompts, max_new, use_cache=True)
        fast.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        out_slow, _, _ = greedy_decode(model, prompts, max_new, use_cache=False)
        slow.append(time.perf_counter() - t0)
    assert out_fast == out_slow, "the KV cache changed the greedy outputs"
    a, b = statistics.median(fast), statistics.median(slow)
    mean_len = sum(map(len, out_fast)) / len(out_fast)
    return [{"benchmark": "decoding_kv_cache_paper_mul_4x4", "ours_s": a, "reference_s": b, "speedup": b / a,
             "problems_per_s": len(prompts) / a, "mean_generated_tokens": mean_len,
             "problems": len(prompts)}]  # fmt: skip


def model_sizes() -> list[dict]:
    """presets/scaling.yaml's grid of model sizes, and d_model 128 at each of its depths."""
    grid = yaml.safe_load((ROOT / "presets/scaling.yaml").read_text())["sweeps"][0]["grid"]
    widths, depths = grid["model.d_model"] + [128], grid["model.n_layer"]
    return [{"d_model": d, "n_layer": layers} for layers in depths for d in widths]


def bench_sizes(steps: int, repeats: int, device: str = "cpu") -> list[dict]:
    """Steps per second of the default recipe's last stage at each model size, interleaved so that drift in machine
    load hits every size alike; the ratio to the smallest size is what the scaling preset's range is chosen by."""
    sizes = model_sizes()
    trainers = [last_stage_trainer("default", device=device, model=m) for m in sizes]
    for t in trainers:
        for _ in range(3):  # warm up
            t.train_step()
    times = [[] for _ in trainers]
    for _ in range(repeats):
        for t, ts in zip(trainers, times, strict=True):
            ts.append(time_it(t.train_step, steps, device)[0])
    seconds = [statistics.median(ts) for ts in times]
    params = [non_embedding_params(t.s.model) for t in trainers]  # the trainers' own shapes: the override took
    smallest = seconds[params.index(min(params))]
    return [{"benchmark": f"size_d{m['d_model']}_l{m['n_layer']}", "device": device, "non_embedding_params": n,
             "ours_steps_per_s": 1 / s, "time_per_step_vs_smallest": s / smallest}
            for m, n, s in zip(sizes, params, seconds, strict=True)]  # fmt: skip


def _share_of_training(trainer: Trainer, every: int, extra, groups: int) -> tuple[float, float]:
    """Share of wall time spent in ``extra`` run after every ``every`` training steps, and its seconds per call."""
    train_t = extra_t = 0.0
    for _ in range(groups):
        t0 = time.perf_counter()
        for _ in range(every):
            trainer.train_step()
        t1 = time.perf_counter()
        extra()
        extra_t += time.perf_counter() - t1
        train_t += t1 - t0
    return extra_t / (train_t + extra_t), extra_t / groups


def bench_graduation_overhead(groups: int) -> list[dict]:
    trainer = last_stage_trainer("default")
    every = trainer.s.graduation.window_every
    share, secs = _share_of_training(trainer, every, trainer.window, groups)
    return [{"benchmark": "graduation_overhead_default", "share": share, "seconds": secs, "steps_between": every}]


def bench_progress_overhead(groups: int) -> list[dict]:
    """The progress measures at the default preset's interval (the train step includes their update-share snapshot)."""
    trainer = last_stage_trainer("default")
    every = trainer.s.train.progress_every

    def measure() -> None:
        trainer.progress.measure(trainer.stages, trainer.state.stage_index, trainer.state.step)

    share, secs = _share_of_training(trainer, every, measure, groups)
    return [
        {"benchmark": "progress_measures_overhead_default", "share": share, "seconds": secs, "steps_between": every}
    ]


PEAK_MEMORY_JOB = """
import sys, torch
sys.path.insert(0, {bench!r})
import bench
torch.set_num_threads(1)
trainer = bench.last_stage_trainer({name!r}, n={n})
for _ in range({steps}):
    trainer.train_step()
trainer.progress.measure(trainer.stages, trainer.state.stage_index, trainer.state.step)
trainer.window()
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork and exec
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))
"""


def bench_peak_memory(name: str, steps: int) -> list[dict]:
    """Peak RSS of a fresh process that trains the preset's last stage (with replay), measures progress and runs a
    window."""
    n = preset(name)["data"]["train_size"]
    code = PEAK_MEMORY_JOB.format(bench=str(ROOT / "benchmarks"), name=name, n=n, steps=steps)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return [{"benchmark": f"peak_memory_{name}", "peak_rss_mb": int(out.stdout.split()[-1]) / 1024, "steps": steps}]


def _snakemake(args: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - t0


def bench_workflow(jobs: int, repeats: int) -> list[dict]:
    """Dry run of this checkout's workflow, Snakemake's cost per job, and a job's Python start-up."""
    rows = []
    dry = [_snakemake(["-n", "all"], ROOT) for _ in range(repeats)]
    done = len(list((ROOT / "results/runs").glob("*/seed*/model.pt")))
    rows.append({"benchmark": "workflow_dry_run", "seconds": statistics.median(dry), "finished_runs_in_tree": done})
    with tempfile.TemporaryDirectory() as tmp:  # the scheduler's own cost: jobs that do nothing
        Path(tmp, "Snakefile").write_text(
            f"rule all:\n    input: expand('out/{{i}}.txt', i=range({jobs}))\n"
            "rule one:\n    output: 'out/{i}.txt'\n    shell: 'touch {output}'\n"
        )
        per_job = []
        for _ in range(repeats):
            shutil.rmtree(Path(tmp, "out"), ignore_errors=True)
            per_job.append(_snakemake(["--cores", "1", "--quiet"], Path(tmp)) / jobs)
    rows.append({"benchmark": "snakemake_per_job", "seconds": statistics.median(per_job), "jobs": jobs})
    start = [_python_start(["arithsignal.train.loop"]) for _ in range(repeats)]
    rows.append({"benchmark": "job_python_startup_train", "seconds": statistics.median(start)})
    return rows


def _python_start(modules: list[str]) -> float:
    t0 = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    subprocess.run([sys.executable, "-c", "; ".join(f"import {m}" for m in modules)], check=True, env=env)
    return time.perf_counter() - t0


_STEP_TIMER = """
import sys, time
sys.path.insert(0, {src!r})
from arithsignal.core import numerics
numerics.pin()
import torch
numerics.check()
sys.path.insert(0, {bench!r})
import bench
torch.set_num_threads(1)
tr = bench.last_stage_trainer({name!r}, model={model!r})
for _ in range(2):
    tr.train_step()
t = time.perf_counter()
for _ in range({steps}):
    tr.train_step()
print((time.perf_counter() - t) / {steps})
"""


def bench_numerics(steps: int, repeats: int) -> list[dict]:
    """Seconds per training step under portable and native numerics, one fresh process per measurement, the two modes
    interleaved; the ratio of medians is the cost of portable numerics."""
    rows = []
    # the default shape, narrower defaults (what a cheaper default would cost: issue 40), and the paper shape
    shapes = [("default", {}), *(("default", {"d_model": d}) for d in (48, 32)), ("paper", {})]
    for name, model in shapes:
        times: dict[str, list[float]] = {"portable": [], "native": []}
        n = steps if name == "default" else max(1, steps // 10)
        for _ in range(repeats):
            for mode in times:
                code = _STEP_TIMER.format(src=str(ROOT / "src"), bench=str(ROOT / "benchmarks"), name=name, steps=n,
                                          model=model)  # fmt: skip
                env = {**os.environ, "ARITHSIGNAL_NUMERICS": mode}
                out = subprocess.run(
                    [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
                ).stdout
                times[mode].append(float(out.strip().splitlines()[-1]))
        med = {m: statistics.median(t) for m, t in times.items()}
        label = name + "".join(f"_{k}{v}" for k, v in model.items())
        rows.append({"benchmark": f"numerics_{label}", "portable_ms": 1000 * med["portable"],
                     "native_ms": 1000 * med["native"], "portable_over_native": med["portable"] / med["native"],
                     "steps": n, "repeats": repeats})  # fmt: skip
    return rows


GROUPS = ("training", "optimizer", "decoding", "overhead", "memory", "workflow", "sizes", "numerics")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer steps and repeats (a smoke check of the script)")
    p.add_argument("--only", nargs="+", choices=GROUPS, default=GROUPS, help="run only these groups")
    p.add_argument(
        "--device", default="cpu", help="device of the training comparison, e.g. cuda (the rest runs on CPU)"
    )
    p.add_argument(
        "--peak-tflops", type=float, help="the device's peak dense TFLOP/s at the training precision, for MFU"
    )
    p.add_argument("--out", default=str(ROOT / "benchmarks/results.csv"))
    p.add_argument(
        "--default-allocator", action="store_true", help="leave glibc's allocator as it is (see pin_allocator)"
    )
    args = p.parse_args()
    pinned = False if args.default_allocator else pin_allocator()
    torch.set_num_threads(1)  # as the workflow's training jobs
    q = args.quick
    rows = []
    if "training" in args.only:
        gpu = args.device != "cpu"
        rows += bench_training("default", 5 if q else 30, 3 if q else 5, args.device, args.peak_tflops)
        rows += bench_training("paper", 2 if q else (30 if gpu else 3), 3, args.device, args.peak_tflops)
    if "optimizer" in args.only:
        gpu = args.device != "cpu"
        rows += bench_optimizer("default", 5 if q else 30, 3 if q else 7, args.device)
        rows += bench_optimizer("paper", 2 if q else (30 if gpu else 3), 3 if q else 5, args.device)
    if "decoding" in args.only:
        rows += bench_decoding(repeats=1 if q else 3, n=32 if q else 64)
    if "overhead" in args.only:
        rows += bench_graduation_overhead(2 if q else 5)
        rows += bench_progress_overhead(2 if q else 5)
    if "memory" in args.only:
        rows += bench_peak_memory("default", steps=20)
        rows += bench_peak_memory("paper", steps=2 if q else 5)
    if "workflow" in args.only:
        rows += bench_workflow(jobs=20 if q else 50, repeats=1 if q else 3)
    if "sizes" in args.only:
        rows += bench_sizes(5 if q else 30, 2 if q else 5, args.device)
    if "numerics" in args.only:
        rows += bench_numerics(5 if q else 40, 1 if q else 5)
    df = pd.DataFrame(rows)
    df.insert(0, "date", time.strftime("%Y-%m-%d"))
    df.insert(1, "torch", torch.__version__)
    df.insert(2, "threads", torch.get_num_threads())
    df.insert(3, "allocator_pinned", pinned)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, index=False)
    for row in rows:  # one line each, only the fields that benchmark has
        fields = (f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items() if k != "benchmark")
        print(f"{row['benchmark']}: {', '.join(fields)}")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
