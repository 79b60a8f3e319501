"""Curriculum training with graduation, replay, censoring and resumable checkpoints.

The graduation rule (DESIGN.md, claim 5): every ``window_every`` steps of a
stage, draw a fresh sample of ``problems_per_window`` problems from the stage's
valid split, decode them greedily, and call the window passed when every
completion matches exactly. ``windows`` consecutive passed windows graduate the
stage; its *steps to graduation* are the steps spent in it. A stage that reaches
``stage_budget`` steps first is *censored* there, and training moves on to the
next stage. A share ``replay_share`` of each batch replays earlier stages.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .config import stable_hash
from .decoding import score_exact
from .formats import PAD_ID, VOCAB, encode
from .io import CorruptFileError, atomic_path, read_parquet
from .model import GPT, ModelConfig

CHECKPOINT_FORMAT = 1


class GraduationTracker:
    """Counts consecutive perfect windows; a failed window resets the count."""

    def __init__(self, windows: int):
        self.windows = windows
        self.streak = 0

    def update(self, passed: bool) -> bool:
        """Record one window; return True when the stage has graduated."""
        self.streak = self.streak + 1 if passed else 0
        return self.streak >= self.windows


@dataclass
class StageTensors:
    name: str
    ids: torch.Tensor  # (n, max_len) token ids, padded with PAD
    lengths: torch.Tensor  # (n,) full sequence length
    prompt_lengths: torch.Tensor  # (n,)
    answer_starts: torch.Tensor  # (n,) position of the answer marker "A"
    valid: pd.DataFrame


def tensorise(name: str, train: pd.DataFrame, valid: pd.DataFrame) -> StageTensors:
    seqs = [encode(p + c) for p, c in zip(train["prompt"], train["completion"], strict=True)]
    width = max(map(len, seqs))
    ids = torch.full((len(seqs), width), PAD_ID, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
    lengths = torch.tensor([len(s) for s in seqs])
    prompt_lengths = torch.tensor([len(p) for p in train["prompt"]])
    answer_starts = torch.tensor([len(p) + c.rindex("A") for p, c in zip(train["prompt"], train["completion"], strict=True)])
    return StageTensors(name, ids, lengths, prompt_lengths, answer_starts, valid.reset_index(drop=True))


def pick_device() -> torch.device:
    """ARITHSIGNAL_DEVICE if set, else the GPU this job was given (CUDA_VISIBLE_DEVICES), else CPU."""
    wanted = os.environ.get("ARITHSIGNAL_DEVICE", "auto")
    if wanted == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(wanted)


def make_batch(stages: list[StageTensors], current: int, batch_size: int, replay_share: float, gen: torch.Generator):
    """Inputs, targets (-100 outside the completion) and an answer-token mask for one batch, trimmed to its longest row."""
    n_replay = round(batch_size * replay_share) if current > 0 else 0
    which = torch.full((batch_size,), current, dtype=torch.long)
    if n_replay:
        which[:n_replay] = torch.randint(0, current, (n_replay,), generator=gen)
    rows, lens, plens, astarts = [], [], [], []
    for s in which.unique().tolist():
        k = int((which == s).sum())
        pick = torch.randint(0, len(stages[s].ids), (k,), generator=gen)
        rows.append(stages[s].ids[pick])
        lens.append(stages[s].lengths[pick])
        plens.append(stages[s].prompt_lengths[pick])
        astarts.append(stages[s].answer_starts[pick])
    width = int(max(int(l.max()) for l in lens))
    x = torch.cat([F.pad(r[:, :width], (0, max(0, width - r.shape[1])), value=PAD_ID) for r in rows])
    lengths, prompt_lengths = torch.cat(lens), torch.cat(plens)
    pos = torch.arange(1, width)[None, :]  # position of each target token
    in_completion = (pos >= prompt_lengths[:, None]) & (pos < lengths[:, None])
    targets = torch.where(in_completion, x[:, 1:], torch.full_like(x[:, 1:], -100))
    is_answer = in_completion & (pos >= torch.cat(astarts)[:, None])
    return x[:, :-1], targets, is_answer


def _lr(step: int, base: float, warmup: int) -> float:
    return base * min(1.0, (step + 1) / max(1, warmup))


def save_checkpoint(path: Path, state: dict) -> None:
    tmp = atomic_path(path)
    torch.save(state, tmp)
    os.replace(tmp, path)  # atomic: a kill leaves either the old or the new checkpoint


def load_checkpoint(path: Path) -> dict:
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except Exception as e:  # truncated zip, unpickling error, ...
        raise CorruptFileError(f"{path}: checkpoint is corrupt or truncated ({e}); delete it to restart this run") from e


class Trainer:
    """One training run: a variant's settings, one seed, all stages in order."""

    def __init__(self, settings: dict, seed: int, stages: list[StageTensors], device: torch.device, log=print):
        self.s, self.seed, self.stages, self.device, self.log = settings, seed, stages, device, log
        m, o = settings["model"], settings["optim"]
        self.run_hash = stable_hash({"settings": settings, "seed": seed})
        longest = max(int(st.lengths.max()) for st in stages)
        if longest > m["block_size"]:
            worst = max(stages, key=lambda st: int(st.lengths.max()))
            raise ValueError(f"stage {worst.name} has sequences of {longest} tokens, more than model.block_size={m['block_size']}")
        torch.manual_seed(seed)
        self.model = GPT(ModelConfig(vocab_size=len(VOCAB), **m)).to(device)
        self.opt = self.model.optimizer(o["lr"], o["weight_decay"], (o["beta1"], o["beta2"]), fused=device.type == "cuda")
        self.gen = torch.Generator().manual_seed(seed)
        self.step = 0  # global optimiser steps
        self.stage = 0
        self.stage_step = 0
        self.window = 0
        self.tracker = GraduationTracker(settings["graduation"]["windows"])
        self.tokens = 0
        self.elapsed = 0.0
        self.acc = self._empty_acc()
        self.train_rows: list[dict] = []
        self.window_rows: list[dict] = []
        self.grad_rows: list[dict] = []

    @staticmethod
    def _empty_acc() -> dict:
        acc = {"loss": 0.0, "grad_norm": 0.0, "clipped": 0, "n": 0}
        for part in ("scratch", "answer"):
            acc.update({f"{part}_loss": 0.0, f"{part}_correct": 0, f"{part}_total": 0})
        return acc

    def weight_norms(self) -> tuple[float, float]:
        """L2 norms of matrices (embeddings, attention, MLP) and of vectors (biases, LayerNorm gains)."""
        with torch.no_grad():
            mats = [p for p in self.model.parameters() if p.dim() >= 2]
            vecs = [p for p in self.model.parameters() if p.dim() < 2]
            return tuple(float(torch.sqrt(sum((p.float() ** 2).sum() for p in ps))) for ps in (mats, vecs))

    # ---------------------------------------------------------------- checkpoints
    def state(self) -> dict:
        return {
            "format": CHECKPOINT_FORMAT,
            "run_hash": self.run_hash,
            "model": self.model.state_dict(),
            "opt": self.opt.state_dict(),
            "gen": self.gen.get_state(),
            "torch_rng": torch.get_rng_state(),
            "counters": [self.step, self.stage, self.stage_step, self.window, self.tracker.streak, self.tokens],
            "elapsed": self.elapsed,
            "acc": dict(self.acc),
            "train_rows": self.train_rows,
            "window_rows": self.window_rows,
            "grad_rows": self.grad_rows,
        }

    def restore(self, st: dict) -> None:
        self.model.load_state_dict(st["model"])
        self.opt.load_state_dict(st["opt"])
        self.gen.set_state(st["gen"])
        torch.set_rng_state(st["torch_rng"])
        self.step, self.stage, self.stage_step, self.window, self.tracker.streak, self.tokens = st["counters"]
        self.elapsed, self.acc = st["elapsed"], dict(st["acc"])
        self.train_rows, self.window_rows, self.grad_rows = st["train_rows"], st["window_rows"], st["grad_rows"]

    # ---------------------------------------------------------------- the loop
    def train_step(self) -> None:
        o, c = self.s["optim"], self.s["curriculum"]
        x, y, is_answer = make_batch(self.stages, self.stage, o["batch_size"], c["replay_share"], self.gen)
        x, y, is_answer = x.to(self.device), y.to(self.device), is_answer.to(self.device)
        lr = _lr(self.step, o["lr"], o["warmup_steps"])
        for g in self.opt.param_groups:
            g["lr"] = lr
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            logits, _ = self.model(x)
        token_loss = F.cross_entropy(logits.float().transpose(1, 2), y, ignore_index=-100, reduction="none")
        mask = y != -100
        loss = token_loss[mask].mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), o["grad_clip"]))
        self.opt.step()
        a = self.acc
        a["loss"] += float(loss.detach())
        right = logits.argmax(-1) == y
        with torch.no_grad():
            for part, m in (("scratch", mask & ~is_answer), ("answer", is_answer)):
                a[f"{part}_loss"] += float(token_loss[m].sum())
                a[f"{part}_correct"] += int(right[m].sum())
                a[f"{part}_total"] += int(m.sum())
        a["grad_norm"] += norm
        a["clipped"] += int(norm > o["grad_clip"])
        a["n"] += 1
        self.tokens += int((x != PAD_ID).sum())
        self.step += 1
        self.stage_step += 1

    def flush_log(self, t0: float) -> None:
        a = self.acc
        if not a["n"]:
            return
        row = {
            "step": self.step,
            "stage": self.stages[self.stage].name,
            "stage_index": self.stage,
            "stage_step": self.stage_step,
            "loss": a["loss"] / a["n"],
            "token_accuracy": (a["scratch_correct"] + a["answer_correct"]) / max(1, a["scratch_total"] + a["answer_total"]),
            "answer_loss": a["answer_loss"] / max(1, a["answer_total"]),
            "answer_token_accuracy": a["answer_correct"] / max(1, a["answer_total"]),
            "scratchpad_loss": a["scratch_loss"] / max(1, a["scratch_total"]) if a["scratch_total"] else float("nan"),
            "scratchpad_token_accuracy": a["scratch_correct"] / a["scratch_total"] if a["scratch_total"] else float("nan"),
            "lr": _lr(self.step - 1, self.s["optim"]["lr"], self.s["optim"]["warmup_steps"]),
            "grad_norm": a["grad_norm"] / a["n"],
            "clip_fraction": a["clipped"] / a["n"],
            "tokens_seen": self.tokens,
            "wall_time_s": self.elapsed + time.perf_counter() - t0,
        }
        row["weight_norm_matrices"], row["weight_norm_vectors"] = self.weight_norms()
        self.train_rows.append(row)
        self.acc = self._empty_acc()

    def window_check(self) -> bool:
        """Run one graduation window; return True if the stage graduates."""
        g = self.s["graduation"]
        st = self.stages[self.stage]
        wgen = np.random.default_rng([self.seed, self.stage, self.window])  # fresh, reproducible sample
        sample = st.valid.iloc[wgen.integers(0, len(st.valid), g["problems_per_window"])]
        res = score_exact(self.model, sample, self.device)
        passed = bool(res["correct"].all())
        graduated = self.tracker.update(passed)
        self.window_rows.append(
            {
                "step": self.step,
                "stage": st.name,
                "stage_index": self.stage,
                "stage_step": self.stage_step,
                "window": self.window,
                "exact_match": float(res["correct"].mean()),
                "digit_accuracy": float(res["digit_accuracy"].mean()),
                "passed": passed,
                "streak": self.tracker.streak,
            }
        )
        self.window += 1
        return graduated

    def end_stage(self, graduated: bool) -> None:
        st = self.stages[self.stage]
        self.grad_rows.append(
            {
                "stage": st.name,
                "stage_index": self.stage,
                "graduated": graduated,
                "censored": not graduated,
                "steps": self.stage_step,  # steps to graduation, or the budget where censored
                "end_step": self.step,
                "windows_run": self.window,
            }
        )
        word = "graduated" if graduated else f"CENSORED (not graduated by step {self.stage_step})"
        self.log(f"stage {st.name} {word} after {self.stage_step} steps (global step {self.step})")
        self.stage += 1
        self.stage_step = self.window = self.tracker.streak = 0

    def run(self, checkpoint: Path | None = None, checkpoint_every: int = 500, log_every: int = 50) -> None:
        g, budget = self.s["graduation"], self.s["curriculum"]["stage_budget"]
        if checkpoint is not None and checkpoint.exists():
            st = load_checkpoint(checkpoint)
            if st.get("run_hash") == self.run_hash and st.get("format") == CHECKPOINT_FORMAT:
                self.restore(st)
                self.log(f"resuming from checkpoint {checkpoint} at step {self.step} (stage {self.stage}, stage step {self.stage_step})")
            else:
                self.log(f"ignoring checkpoint {checkpoint}: it belongs to other settings; starting afresh")
        t0 = time.perf_counter()
        last_t, last_step = t0, self.step
        while self.stage < len(self.stages):
            self.train_step()
            if self.step % log_every == 0:
                self.flush_log(t0)
                now = time.perf_counter()
                r = self.train_rows[-1]
                self.log(
                    f"step {self.step:6d} | stage {r['stage']} ({self.stage + 1}/{len(self.stages)}) step {self.stage_step:5d} "
                    f"| loss {r['loss']:.4f} tok_acc {r['token_accuracy']:.3f} | windows {self.tracker.streak}/{g['windows']} "
                    f"| {(self.step - last_step) / max(1e-9, now - last_t):.1f} steps/s"
                )
                last_t, last_step = now, self.step
            graduated = False
            if self.stage_step % g["window_every"] == 0:
                graduated = self.window_check()
            if graduated or self.stage_step >= budget:
                self.flush_log(t0)
                self.end_stage(graduated)
            if checkpoint is not None and self.step % checkpoint_every == 0:
                self.elapsed += time.perf_counter() - t0
                t0 = time.perf_counter()
                save_checkpoint(checkpoint, self.state())
        self.elapsed += time.perf_counter() - t0

    def frames(self) -> dict[str, pd.DataFrame]:
        return {
            "train_log": pd.DataFrame(self.train_rows),
            "windows": pd.DataFrame(self.window_rows),
            "graduations": pd.DataFrame(self.grad_rows),
        }


def load_stages(stage_names: list[str], train_paths: list[str], valid_paths: list[str]) -> list[StageTensors]:
    out = []
    for name, tp, vp in zip(stage_names, train_paths, valid_paths, strict=True):
        out.append(tensorise(name, read_parquet(tp, ["prompt", "completion"]), read_parquet(vp)))
    return out


def save_model(model: GPT, path: str | Path, meta: dict) -> None:
    tmp = atomic_path(path)
    torch.save({"model": model.state_dict(), "model_config": dict(model.cfg.__dict__), "meta": meta}, tmp)
    os.replace(tmp, path)


def load_model(path: str | Path, device: torch.device | str = "cpu") -> GPT:
    st = load_checkpoint(Path(path))
    model = GPT(ModelConfig(**st["model_config"]))
    model.load_state_dict(st["model"])
    return model.to(device).eval()


def stderr_log(prefix: str):
    def log(msg: str) -> None:
        print(f"[{prefix}] {msg}", file=sys.stderr, flush=True)

    return log


def train_job(settings: dict, variant: str, seed: int, inputs: dict, outputs: dict, threads: int = 1) -> None:
    """Job entry point: train one (variant, seed) and write its Parquet logs and final model."""
    from .io import provenance, write_parquet

    torch.set_num_threads(threads)
    device = pick_device()
    log = stderr_log(f"{variant} seed {seed}")
    names = [s["name"] for s in settings["stages"]]
    log(f"device {device}, {threads} thread(s), stages {names}")
    stages = load_stages(names, inputs["train"], inputs["valid"])
    trainer = Trainer(settings, seed, stages, device, log)
    log(f"model: {sum(p.numel() for p in trainer.model.parameters()):,} parameters")
    ckpt = Path(outputs["model"]).with_name("checkpoint.pt")
    tr = settings["train"]
    trainer.run(ckpt, checkpoint_every=tr["checkpoint_every"], log_every=tr["log_every"])
    prov = provenance(variant, seed, settings, stable_hash(settings))
    for name, df in trainer.frames().items():
        write_parquet(df, outputs[name], prov)
    save_model(trainer.model, outputs["model"], prov)
    ckpt.unlink(missing_ok=True)  # outputs are complete; the checkpoint has done its job
    log(f"done: {trainer.step} steps in {trainer.elapsed:.1f}s")
