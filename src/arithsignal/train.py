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

import math
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
from .formats import PAD_ID, ROLE_ANSWER, ROLE_CARRY, ROLE_NONE, ROLE_SCRATCH, VOCAB, completion_roles, encode
from .io import CorruptFileError, atomic_path, read_parquet
from .model import GPT, ModelConfig
from .progress import gradient_snr, noise_scale_microbatches

CHECKPOINT_FORMAT = 2


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
    """A stage's training problems, tokenised once (no per-step Python work on text)."""

    name: str
    ids: torch.Tensor  # (n, max_len) token ids, padded with PAD
    roles: torch.Tensor  # (n, max_len) formats.ROLE_* of each token; ROLE_NONE for prompt and padding
    lengths: torch.Tensor  # (n,) full sequence length
    valid: pd.DataFrame


def tensorise(name: str, train: pd.DataFrame, valid: pd.DataFrame) -> StageTensors:
    pairs = list(zip(train["prompt"], train["completion"], strict=True))
    width = max(len(p) + len(c) for p, c in pairs)
    ids = torch.full((len(pairs), width), PAD_ID, dtype=torch.long)
    roles = torch.full((len(pairs), width), ROLE_NONE, dtype=torch.int8)
    for i, (p, c) in enumerate(pairs):
        ids[i, : len(p) + len(c)] = torch.tensor(encode(p + c))
        roles[i, len(p) : len(p) + len(c)] = torch.tensor(completion_roles(c), dtype=torch.int8)
    lengths = torch.tensor([len(p) + len(c) for p, c in pairs])
    return StageTensors(name, ids, roles, lengths, valid.reset_index(drop=True))


@dataclass
class Batch:
    x: torch.Tensor  # (B, T) inputs
    y: torch.Tensor  # (B, T) next-token targets; -100 outside the completion
    role: torch.Tensor  # (B, T) formats.ROLE_* of each target
    real: torch.Tensor  # (B, T) inputs that are tokens, not padding (a prefix of each row)

    def to(self, device: torch.device) -> Batch:
        return Batch(*(t.to(device, non_blocking=True) for t in (self.x, self.y, self.role, self.real)))

    def rows(self, index: slice | torch.Tensor) -> Batch:
        return Batch(self.x[index], self.y[index], self.role[index], self.real[index])


def pick_device() -> torch.device:
    """ARITHSIGNAL_DEVICE if set, else the GPU this job was given (CUDA_VISIBLE_DEVICES), else CPU."""
    wanted = os.environ.get("ARITHSIGNAL_DEVICE", "auto")
    if wanted == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(wanted)


def make_batch(stages: list[StageTensors], current: int, batch_size: int, replay_share: float, gen: torch.Generator) -> Batch:
    """One batch, trimmed to its longest row; a share ``replay_share`` of its rows replays earlier stages."""
    n_replay = round(batch_size * replay_share) if current > 0 else 0
    which = torch.full((batch_size,), current, dtype=torch.long)
    if n_replay:
        which[:n_replay] = torch.randint(0, current, (n_replay,), generator=gen)
    picks = []
    for s in which.unique().tolist():
        k = int((which == s).sum())
        picks.append((stages[s], torch.randint(0, len(stages[s].ids), (k,), generator=gen)))
    lengths = torch.cat([st.lengths[pick] for st, pick in picks])
    width = int(lengths.max())

    def gather(field: str, fill: int) -> torch.Tensor:
        parts = [getattr(st, field)[pick, :width] for st, pick in picks]
        return torch.cat([F.pad(p, (0, width - p.shape[1]), value=fill) for p in parts])

    ids, roles = gather("ids", PAD_ID), gather("roles", ROLE_NONE)
    y = torch.where(roles[:, 1:] != ROLE_NONE, ids[:, 1:], -100)
    real = torch.arange(width - 1)[None, :] < (lengths[:, None] - 1)  # the end marker is only ever a target
    return Batch(ids[:, :-1], y, roles[:, 1:], real)


def learning_rate(optim: dict, budget: int, step: int, stage_step: int) -> float:
    """The learning rate of global step ``step``, ``stage_step`` steps into its stage.

    A linear warmup over the run's first ``warmup_steps``, times the stage's schedule: it restarts
    at 1 when a stage starts and, unless constant, decays (cosine or linear) to ``min_lr_ratio``
    over ``decay_steps`` stage steps (the stage budget when null), then holds that floor.
    """
    warm = min(1.0, (step + 1) / max(1, optim["warmup_steps"]))
    if optim["schedule"] == "constant":
        return optim["lr"] * warm
    span = optim["decay_steps"] or budget
    done = min(stage_step, span) / span
    shape = 0.5 * (1 + math.cos(math.pi * done)) if optim["schedule"] == "cosine" else 1 - done
    floor = optim["min_lr_ratio"]
    return optim["lr"] * warm * (floor + (1 - floor) * shape)


def save_checkpoint(path: Path, state: dict) -> None:
    tmp = atomic_path(path)
    torch.save(state, tmp)
    os.replace(tmp, path)  # atomic: a kill leaves either the old or the new checkpoint


def load_checkpoint(path: Path) -> dict:
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except Exception as e:  # truncated zip, unpickling error, ...
        raise CorruptFileError(f"{path}: checkpoint is corrupt or truncated ({e}); delete it to restart this run") from e


ROLES = {"scratch": ROLE_SCRATCH, "carry": ROLE_CARRY, "answer": ROLE_ANSWER}
# running sums between two train_log rows, kept on the device so a step never waits for it
ACC_FIELDS = ["loss", "grad_norm", "clipped", "n"] + [f"{r}_{q}" for r in ROLES for q in ("loss", "correct", "total")]
PARAM_CLASSES = ("matrices", "vectors")  # GPT.param_classes
TIMING_COLUMNS = ["wall_time_s", "measure_time_s"]  # the only train_log columns that differ between identical runs
PROGRESS_COLUMNS = [f"{m}_{c}" for m in ("grad_snr", "grad_signal", "grad_noise", "update_share") for c in PARAM_CLASSES] + [
    "noise_scale_b_simple"
]


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
        self.opt = self.model.optimizer(o["lr"], o["weight_decay"], (o["beta1"], o["beta2"]), fused=True)
        self.classes = self.model.param_classes()
        self.gen = torch.Generator().manual_seed(seed)
        self.step = 0  # global optimiser steps
        self.stage = 0
        self.stage_step = 0
        self.window = 0
        self.tracker = GraduationTracker(settings["graduation"]["windows"])
        self.tokens = 0
        self.elapsed = 0.0
        self.measure_time = 0.0  # wall time spent in progress measures
        self.acc = torch.zeros(len(ACC_FIELDS), dtype=torch.float64, device=device)
        self.pending: dict[str, float] = {}  # progress measures waiting for the next train_log row
        self.train_rows: list[dict] = []
        self.window_rows: list[dict] = []
        self.grad_rows: list[dict] = []

    def weight_norms(self) -> tuple[float, float]:
        """L2 norms of the matrices and of the vectors."""
        with torch.no_grad():
            return tuple(float(torch.sqrt(sum((p.float() ** 2).sum() for p in self.classes[c]))) for c in PARAM_CLASSES)

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
            "elapsed": [self.elapsed, self.measure_time],
            "acc": self.acc.tolist(),
            "pending": dict(self.pending),
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
        self.elapsed, self.measure_time = st["elapsed"]
        self.acc = torch.tensor(st["acc"], dtype=torch.float64, device=self.device)
        self.pending = dict(st["pending"])
        self.train_rows, self.window_rows, self.grad_rows = st["train_rows"], st["window_rows"], st["grad_rows"]

    # ---------------------------------------------------------------- the loop
    def _loss(self, b: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-token loss, logits, targets and roles at the completion tokens of a batch."""
        want = b.y != -100
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            logits = self.model.forward_unpadded(b.x, b.real, want)
        target = b.y[want]
        return F.cross_entropy(logits.float(), target, reduction="none"), logits, target, b.role[want]

    def _progress_due(self, step: int) -> bool:
        every = self.s["train"]["progress_every"]
        return every > 0 and step % every == 0

    def train_step(self) -> None:
        o, c = self.s["optim"], self.s["curriculum"]
        batch = make_batch(self.stages, self.stage, o["batch_size"], c["replay_share"], self.gen)
        self.tokens += int(batch.real.sum())
        lr = learning_rate(o, c["stage_budget"], self.step, self.stage_step)
        for g in self.opt.param_groups:
            g["lr"] = lr
        token_loss, logits, target, role = self._loss(batch.to(self.device))
        loss = token_loss.mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        max_norm = math.inf if o["grad_clip"] is None else o["grad_clip"]  # inf: measured, never clipped
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm)
        before = self._snapshot() if self._progress_due(self.step + 1) else None
        self.opt.step()
        if before is not None:
            self.pending.update(self._update_shares(before, lr))
        with torch.no_grad():
            right = logits.argmax(-1) == target
            stats = [loss.detach(), norm, (norm > max_norm).float(), torch.ones((), device=self.device)]
            for r in ROLES.values():
                m = role == r
                stats += [token_loss[m].sum(), right[m].sum(), m.sum()]
            self.acc += torch.stack([t.to(torch.float64) for t in stats])
        self.step += 1
        self.stage_step += 1

    # ---------------------------------------------------------------- progress measures
    def _snapshot(self) -> dict[str, list[torch.Tensor]]:
        return {c: [p.detach().clone() for p in ps] for c, ps in self.classes.items()}

    def _update_shares(self, before: dict[str, list[torch.Tensor]], lr: float) -> dict[str, float]:
        """Share of each class's parameters that this step moved by more than update_threshold x lr."""
        thr = self.s["train"]["update_threshold"] * lr
        out = {}
        with torch.no_grad():
            for c, ps in self.classes.items():
                moved = sum(int(((p - p0).abs() > thr).sum()) for p, p0 in zip(ps, before[c], strict=True))
                out[f"update_share_{c}"] = moved / sum(p.numel() for p in ps)
        return out

    def measure_progress(self) -> dict[str, float]:
        """Gradient SNR per parameter class and the noise scale B_simple, from the gradients of
        k micro-batches of one fresh batch at the current weights (progress.py has the estimators).

        The batch comes from its own generator, and the RNG state is restored after, so
        measuring never changes the training run.
        """
        k, o = self.s["train"]["snr_microbatches"], self.s["optim"]
        gen = torch.Generator().manual_seed(1_000_003 * self.seed + self.step)
        batch = make_batch(self.stages, self.stage, o["batch_size"], self.s["curriculum"]["replay_share"], gen)
        perm = torch.randperm(o["batch_size"], generator=gen)  # make_batch groups rows by stage; micro-batches must not
        batch = batch.rows(perm).to(self.device)
        b = o["batch_size"] // k
        params = [p for c in PARAM_CLASSES for p in self.classes[c]]
        sizes = [sum(p.numel() for p in self.classes[c]) for c in PARAM_CLASSES]
        flat = []
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            for i in range(k):
                loss = self._loss(batch.rows(slice(i * b, (i + 1) * b)))[0].mean()
                flat.append(torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params)]).double().cpu().numpy())
        grads = np.stack(flat)
        out = {"noise_scale_b_simple": noise_scale_microbatches(grads, b)["b_simple"]}
        for c, part in zip(PARAM_CLASSES, np.split(grads, np.cumsum(sizes)[:-1], axis=1), strict=True):
            snr = gradient_snr(part)
            out.update({f"grad_snr_{c}": snr["snr"], f"grad_signal_{c}": snr["signal"], f"grad_noise_{c}": snr["noise"]})
        return out

    def flush_log(self, t0: float) -> None:
        a = dict(zip(ACC_FIELDS, self.acc.tolist(), strict=True))
        if not a["n"]:
            return

        def mean(num: str, den: str) -> float:
            return a[num] / a[den] if a[den] else float("nan")

        # scratchpad = every completion token before the answer, carry-mask steps included
        for q in ("loss", "correct", "total"):
            a[f"scratchpad_{q}"] = a[f"scratch_{q}"] + a[f"carry_{q}"]
        a["all_correct"] = a["scratchpad_correct"] + a["answer_correct"]
        a["all_total"] = a["scratchpad_total"] + a["answer_total"]
        row = {
            "step": self.step,
            "stage": self.stages[self.stage].name,
            "stage_index": self.stage,
            "stage_step": self.stage_step,
            "loss": a["loss"] / a["n"],
            "token_accuracy": mean("all_correct", "all_total"),
            **{f"{r}_loss": mean(f"{r}_loss", f"{r}_total") for r in ("answer", "scratchpad", "carry")},
            **{f"{r}_token_accuracy": mean(f"{r}_correct", f"{r}_total") for r in ("answer", "scratchpad", "carry")},
            "lr": learning_rate(self.s["optim"], self.s["curriculum"]["stage_budget"], self.step - 1, self.stage_step - 1),
            "grad_norm": a["grad_norm"] / a["n"],
            "clip_fraction": a["clipped"] / a["n"],
            "tokens_seen": self.tokens,
            "wall_time_s": self.elapsed + time.perf_counter() - t0,
            "measure_time_s": self.measure_time,
        }
        row["weight_norm_matrices"], row["weight_norm_vectors"] = self.weight_norms()
        row.update({col: self.pending.get(col, float("nan")) for col in PROGRESS_COLUMNS})
        self.train_rows.append(row)
        self.acc.zero_()
        self.pending = {}

    def window_check(self) -> bool:
        """Run one graduation window; return True if the stage graduates."""
        g = self.s["graduation"]
        st = self.stages[self.stage]
        wgen = np.random.default_rng([self.seed, self.stage, self.window])  # fresh, reproducible sample
        sample = st.valid.iloc[wgen.integers(0, len(st.valid), g["problems_per_window"])]
        res = score_exact(self.model, sample, self.device)
        passed = bool(res["correct" if g["score"] == "completion" else "answer_correct"].all())
        graduated = self.tracker.update(passed)
        self.window_rows.append(
            {
                "step": self.step,
                "stage": st.name,
                "stage_index": self.stage,
                "stage_step": self.stage_step,
                "window": self.window,
                "exact_match": float(res["correct"].mean()),
                "answer_exact_match": float(res["answer_correct"].mean()),
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

    def run(self, checkpoint: Path | None = None, checkpoint_every: int | None = None, log_every: int | None = None) -> None:
        g, budget = self.s["graduation"], self.s["curriculum"]["stage_budget"]
        checkpoint_every = checkpoint_every or self.s["train"]["checkpoint_every"]
        log_every = log_every or self.s["train"]["log_every"]
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
            if self._progress_due(self.step):
                tm = time.perf_counter()
                self.pending.update(self.measure_progress())
                self.measure_time += time.perf_counter() - tm
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
    trainer.run(ckpt)
    prov = provenance(variant, seed, settings, stable_hash(settings))
    for name, df in trainer.frames().items():
        write_parquet(df, outputs[name], prov)
    save_model(trainer.model, outputs["model"], prov)
    ckpt.unlink(missing_ok=True)  # outputs are complete; the checkpoint has done its job
    share = trainer.measure_time / max(1e-9, trainer.elapsed)
    log(f"done: {trainer.step} steps in {trainer.elapsed:.1f}s ({share:.1%} of it in progress measures)")
