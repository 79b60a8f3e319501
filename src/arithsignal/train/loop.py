"""Curriculum training with graduation, replay, censoring and resumable checkpoints.

The graduation rule (the write-up's claim 5): every ``window_every`` steps of a
stage, draw a fresh sample of ``problems_per_window`` problems from a pool,
decode them greedily, and call the window passed when every completion matches
exactly; ``windows`` consecutive passed windows pass the rule. Every window does
this for both of the stage's pools (datasets.py): the train pool (training
problems) and the unseen pool (never trained on). The first time the train pool
passes is the stage's *steps to fit*, the first time the unseen pool passes its
*steps to generalise*; their difference is the memorisation phase (claim 9).
The rule that moves the curriculum on reads the pool ``graduation.pool`` names
(default: unseen, so graduating means generalising); a stage too small to have
an unseen pool reads its train pool, and its two times are the same. A stage
that reaches ``stage_budget`` steps first is *censored* there, and training
moves on to the next stage. A share ``replay_share`` of each batch replays
earlier stages. Each sample is drawn from its own keyed stream and decoded under
no_grad, so decoding one pool changes nothing in training or in the other pool.
The weights as they were when each stage ended are kept (``stage_models``) for
the evaluation at stage end.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ..core.io import CorruptFileError, atomic_path, read_parquet, stable_hash
from ..core.numerics import recorded
from ..data.formats import PAD_ID, ROLE_ANSWER, ROLE_CARRY, ROLE_NONE, ROLE_SCRATCH, VOCAB, completion_roles, encode
from ..model.decode import score_exact
from ..model.gpt import GPT, ModelConfig
from ..model.store import pick_device, save_model, save_stage_models
from .measures import gradient_snr, noise_scale_microbatches
from .optim import build_optimizer, learning_rate, set_lr
from .settings import GraduationSettings, RunSettings

CHECKPOINT_FORMAT = 4  # 4: two graduation pools and the weights at each stage's end
POOLS = ("train", "unseen")  # the graduation pools every window decodes (datasets.SPLITS: train_pool, unseen_pool)


@dataclass
class StageTensors:
    """A stage's training problems, tokenised once (no per-step Python work on text)."""

    name: str
    ids: torch.Tensor  # (n, max_len) token ids, padded with PAD
    roles: torch.Tensor  # (n, max_len) formats.ROLE_* of each token; ROLE_NONE for prompt and padding
    lengths: torch.Tensor  # (n,) full sequence length
    pools: dict[str, pd.DataFrame]  # POOLS -> problems the windows sample (an empty unseen pool: the stage has none)

    @property
    def pools_present(self) -> tuple[str, ...]:
        return tuple(p for p in POOLS if len(self.pools[p]))

    def rule_pool(self, wanted: str) -> str:
        """The pool the rule reads when ``graduation.pool`` is ``wanted``: the train pool where the stage has no unseen one."""
        return wanted if len(self.pools[wanted]) else "train"


def tensorise(name: str, train: pd.DataFrame, train_pool: pd.DataFrame, unseen_pool: pd.DataFrame | None = None) -> StageTensors:
    pairs = list(zip(train["prompt"], train["completion"], strict=True))
    width = max(len(p) + len(c) for p, c in pairs)
    ids = torch.full((len(pairs), width), PAD_ID, dtype=torch.long)
    roles = torch.full((len(pairs), width), ROLE_NONE, dtype=torch.int8)
    for i, (p, c) in enumerate(pairs):
        ids[i, : len(p) + len(c)] = torch.tensor(encode(p + c))
        roles[i, len(p) : len(p) + len(c)] = torch.tensor(completion_roles(c), dtype=torch.int8)
    lengths = torch.tensor([len(p) + len(c) for p, c in pairs])
    unseen = train_pool.iloc[:0] if unseen_pool is None else unseen_pool
    return StageTensors(name, ids, roles, lengths, {"train": train_pool.reset_index(drop=True), "unseen": unseen.reset_index(drop=True)})


def model_config(s: RunSettings) -> ModelConfig:
    """The run's model; the abacus scheme also reads whether the format writes its completion units digit first."""
    extra = {"abacus_units_first": bool(s.factors["reverse"])} if s.model.get("positions") == "abacus" else {}
    return ModelConfig(vocab_size=len(VOCAB), **s.model, **extra)


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


def completion_loss(model: GPT, b: Batch, device: torch.device):
    """Per-token loss, logits, targets and roles at the completion tokens of a batch."""
    want = b.y != -100
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        logits = model.forward_unpadded(b.x, b.real, want)
    target = b.y[want]
    return F.cross_entropy(logits.float(), target, reduction="none"), logits, target, b.role[want]


def save_checkpoint(path: Path, checkpoint: dict) -> None:
    tmp = atomic_path(path)
    torch.save(checkpoint, tmp)
    os.replace(tmp, path)  # atomic: a kill leaves either the old or the new checkpoint


def load_checkpoint(path: Path) -> dict:
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except Exception as e:  # truncated zip, unpickling error, ...
        raise CorruptFileError(f"{path}: checkpoint is corrupt or truncated ({e}); delete it to restart this run") from e


@dataclass
class RunState:
    """Where a run stands: with the weights, optimiser and random streams, this is the checkpoint."""

    step: int = 0  # optimiser steps in the run
    stage_index: int = 0  # the current stage, counted from 0
    stage_step: int = 0  # steps in the current stage
    streaks: dict[str, int] = field(default_factory=lambda: dict.fromkeys(POOLS, 0))  # consecutive passed windows per pool
    passed_at: dict[str, int | None] = field(default_factory=lambda: dict.fromkeys(POOLS))  # stage step each pool first passed
    tokens: int = 0  # input tokens seen
    elapsed: float = 0.0  # training wall time up to the last checkpoint
    measure_time: float = 0.0  # of which in progress measures
    window_time: float = 0.0  # of which in graduation windows (both pools)
    holding: bool = False  # in the hold after the last stage (curriculum.hold_steps)
    hold_from: int = 0  # the last stage's step where the hold began
    train_rows: list[dict] = field(default_factory=list)
    window_rows: list[dict] = field(default_factory=list)
    graduation_rows: list[dict] = field(default_factory=list)

    def record_window(self, pool: str, passed: bool, needed: int) -> bool:
        """Count a window of one pool: a failed one resets its streak. True when the pool passes the rule; the first
        such window of the stage (outside the hold) is when the pool passed (steps to fit or to generalise)."""
        self.streaks[pool] = self.streaks[pool] + 1 if passed else 0
        done = self.streaks[pool] >= needed
        if done and not self.holding and self.passed_at[pool] is None:
            self.passed_at[pool] = self.stage_step
        return done

    def next_stage(self) -> None:
        self.stage_index += 1
        self.stage_step = 0
        self.streaks, self.passed_at = dict.fromkeys(POOLS, 0), dict.fromkeys(POOLS)


ROLES = {"scratch": ROLE_SCRATCH, "carry": ROLE_CARRY, "answer": ROLE_ANSWER}
PARAM_CLASSES = ("matrices", "vectors")  # GPT.param_classes
PROGRESS_COLUMNS = [f"{m}_{c}" for m in ("grad_snr", "grad_signal", "grad_noise", "update_share") for c in PARAM_CLASSES] + [
    "noise_scale_b_simple"
]


class LogAccumulator:
    """Running sums between two train_log rows, kept on the device so a step never waits for the host."""

    FIELDS = ["loss", "grad_norm", "clipped", "n"] + [f"{r}_{q}" for r in ROLES for q in ("loss", "correct", "total")]

    def __init__(self, device: torch.device):
        self.device = device
        self.sums = torch.zeros(len(self.FIELDS), dtype=torch.float64, device=device)

    def add(self, loss, norm, clipped, token_loss, right, role) -> None:
        stats = [loss.detach(), norm, clipped.float(), torch.ones((), device=self.device)]
        for r in ROLES.values():
            m = role == r
            stats += [token_loss[m].sum(), right[m].sum(), m.sum()]
        self.sums += torch.stack([t.to(torch.float64) for t in stats])

    def take(self) -> dict[str, float] | None:
        """The means since the last take (None if no step was added), and start afresh."""
        a = dict(zip(self.FIELDS, self.sums.tolist(), strict=True))
        self.sums.zero_()
        if not a["n"]:
            return None

        def mean(num: str, den: str) -> float:
            return a[num] / a[den] if a[den] else float("nan")

        # scratchpad = every completion token before the answer, carry-mask steps included
        for q in ("loss", "correct", "total"):
            a[f"scratchpad_{q}"] = a[f"scratch_{q}"] + a[f"carry_{q}"]
        a["all_correct"] = a["scratchpad_correct"] + a["answer_correct"]
        a["all_total"] = a["scratchpad_total"] + a["answer_total"]
        return {
            "loss": a["loss"] / a["n"],
            "token_accuracy": mean("all_correct", "all_total"),
            **{f"{r}_loss": mean(f"{r}_loss", f"{r}_total") for r in ("answer", "scratchpad", "carry")},
            **{f"{r}_token_accuracy": mean(f"{r}_correct", f"{r}_total") for r in ("answer", "scratchpad", "carry")},
            "grad_norm": a["grad_norm"] / a["n"],
            "clip_fraction": a["clipped"] / a["n"],
        }

    def state(self) -> list[float]:
        return self.sums.tolist()

    def load(self, sums: list[float]) -> None:
        self.sums = torch.tensor(sums, dtype=torch.float64, device=self.device)


class ProgressMeasures:
    """Gradient SNR per parameter class, the noise scale B_simple, and the share of parameters a step
    moves (progress.py has the estimators). They draw their batch from their own generator and
    restore the RNG state afterwards, so measuring never changes the training run."""

    def __init__(self, model: GPT, settings: RunSettings, seed: int, device: torch.device):
        self.model, self.s, self.seed, self.device = model, settings, seed, device
        self.classes = model.param_classes()
        self.pending: dict[str, float] = {}  # measures waiting for the next train_log row

    def due(self, step: int) -> bool:
        every = self.s.train.progress_every
        return every > 0 and step % every == 0

    def weight_norms(self) -> dict[str, float]:
        with torch.no_grad():
            return {f"weight_norm_{c}": float(torch.sqrt(sum((p.float() ** 2).sum() for p in self.classes[c]))) for c in PARAM_CLASSES}

    def snapshot(self) -> dict[str, list[torch.Tensor]]:
        return {c: [p.detach().clone() for p in ps] for c, ps in self.classes.items()}

    def record_update(self, before: dict[str, list[torch.Tensor]], lr: float) -> None:
        """Share of each class's parameters that this step moved by more than update_threshold x the class's own
        learning rate (vectors step at lr x optim.vectors.lr_scale)."""
        rates = {"matrices": lr, "vectors": lr * self.s.optim.vectors["lr_scale"]}
        with torch.no_grad():
            for c, ps in self.classes.items():
                thr = self.s.train.update_threshold * rates[c]
                moved = sum(int(((p - p0).abs() > thr).sum()) for p, p0 in zip(ps, before[c], strict=True))
                self.pending[f"update_share_{c}"] = moved / sum(p.numel() for p in ps)

    def measure(self, stages: list[StageTensors], stage: int, step: int) -> None:
        """SNR and B_simple from the gradients of k micro-batches of one fresh batch at the current weights."""
        k, bs = self.s.train.snr_microbatches, self.s.optim.batch_size
        gen = torch.Generator().manual_seed(1_000_003 * self.seed + step)
        batch = make_batch(stages, stage, bs, self.s.curriculum.replay_share, gen)
        perm = torch.randperm(bs, generator=gen)  # make_batch groups rows by stage; micro-batches must not
        batch = batch.rows(perm).to(self.device)
        b = bs // k
        params = [p for c in PARAM_CLASSES for p in self.classes[c]]
        sizes = [sum(p.numel() for p in self.classes[c]) for c in PARAM_CLASSES]
        flat = []
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            for i in range(k):
                loss = completion_loss(self.model, batch.rows(slice(i * b, (i + 1) * b)), self.device)[0].mean()
                flat.append(torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params)]).double().cpu().numpy())
        grads = np.stack(flat)
        self.pending["noise_scale_b_simple"] = noise_scale_microbatches(grads, b)["b_simple"]
        for c, part in zip(PARAM_CLASSES, np.split(grads, np.cumsum(sizes)[:-1], axis=1), strict=True):
            snr = gradient_snr(part)
            self.pending.update({f"grad_snr_{c}": snr["snr"], f"grad_signal_{c}": snr["signal"], f"grad_noise_{c}": snr["noise"]})

    def take(self) -> dict[str, float]:
        out = {col: self.pending.get(col, float("nan")) for col in PROGRESS_COLUMNS}
        self.pending = {}
        return out


def run_checkpoint(path: Path, run_hash: str, log) -> dict | None:
    """The checkpoint at ``path`` in today's layout, or None (said in the log) if it is another run's."""
    ck = load_checkpoint(path)
    if ck.get("run_hash") != run_hash:
        log(f"ignoring checkpoint {path}: it belongs to other settings; starting afresh")
        return None
    if ck.get("format") != CHECKPOINT_FORMAT:
        raise CorruptFileError(f"{path}: checkpoint format {ck.get('format')} is not one this version reads; delete it to restart")
    return ck


WINDOW_SCORES = ("exact_match", "answer_exact_match", "digit_accuracy", "passed")  # window_scores' keys
POOL_COLUMNS = ("exact_match", "answer_exact_match", "digit_accuracy")  # in windows once per pool: train_*, unseen_*


def window_scores(model: GPT, problems: pd.DataFrame, g: GraduationSettings, sample_key: list[int], device: torch.device,
                  reverse: bool = False) -> dict:  # fmt: skip
    """Decode a fresh sample of ``problems`` (drawn from ``sample_key``, so reproducible) and
    score it; ``passed`` when every problem is right under the graduation score."""
    rng = np.random.default_rng(sample_key)
    sample = problems.iloc[rng.integers(0, len(problems), g.problems_per_window)]
    res = score_exact(model, sample, device, reverse=reverse)
    return {
        "exact_match": float(res["correct"].mean()),
        "answer_exact_match": float(res["answer_correct"].mean()),
        "digit_accuracy": float(res["digit_accuracy"].mean()),
        "passed": bool(res["correct" if g.score == "completion" else "answer_correct"].all()),
    }


POOL_KEYS = {"train": [], "unseen": [1]}  # each pool's samples: keys [seed, stage, window, *POOL_KEYS[pool]], streams apart


class Trainer:
    """One training run: a variant's settings, one seed, all stages in order."""

    def __init__(self, settings: dict, seed: int, stages: list[StageTensors], device: torch.device, log=print):
        self.s, self.seed, self.stages, self.device, self.log = RunSettings.from_dict(settings), seed, stages, device, log
        self.run_hash = stable_hash({"settings": settings, "seed": seed})
        longest, block = max(int(st.lengths.max()) for st in stages), self.s.model["block_size"]
        if longest > block:
            worst = max(stages, key=lambda st: int(st.lengths.max()))
            raise ValueError(f"stage {worst.name} has sequences of {longest} tokens, more than model.block_size={block}")
        torch.manual_seed(seed)
        self.model = GPT(model_config(self.s)).to(device)
        self.opt = build_optimizer(self.model.param_classes(), self.s.optim, fused=True)
        self.gen = torch.Generator().manual_seed(seed)
        self.state = RunState()
        self.log_sums = LogAccumulator(device)
        self.progress = ProgressMeasures(self.model, self.s, seed, device)
        self.stage_models: list[dict[str, torch.Tensor]] = []  # the weights at each stage's end, in stage order

    # ---------------------------------------------------------------- checkpoints
    def checkpoint(self) -> dict:
        return {
            "format": CHECKPOINT_FORMAT,
            "run_hash": self.run_hash,
            "model": self.model.state_dict(),
            "opt": self.opt.state_dict(),
            "gen": self.gen.get_state(),
            "torch_rng": torch.get_rng_state(),
            "state": asdict(self.state),
            "log_sums": self.log_sums.state(),
            "pending": dict(self.progress.pending),
            "stage_models": self.stage_models,
            "numerics": recorded(),  # which numeric paths computed it (a resume under others is no longer bit-identical)
        }

    def resume(self, path: Path) -> None:
        """Continue from the checkpoint at ``path`` if it belongs to this run; otherwise say why not."""
        ck = run_checkpoint(path, self.run_hash, self.log)
        if ck is None:
            return
        self.model.load_state_dict(ck["model"])
        self.opt.load_state_dict(ck["opt"])
        self.gen.set_state(ck["gen"])
        torch.set_rng_state(ck["torch_rng"])
        self.state = RunState(**ck["state"])
        self.log_sums.load(ck["log_sums"])
        self.progress.pending = dict(ck["pending"])
        self.stage_models = list(ck["stage_models"])
        if ck.get("numerics", recorded()) != recorded():
            self.log(f"warning: resuming under other numerics than the checkpoint's (no longer bit-identical to an uninterrupted "
                     f"run): checkpoint {ck['numerics']}, now {recorded()}")  # fmt: skip
        st = self.state
        self.log(f"resuming from checkpoint {path} at step {st.step} (stage {st.stage_index}, stage step {st.stage_step})")

    # ---------------------------------------------------------------- one step, one log row, one window
    def lr(self, step: int, stage_step: int) -> float:
        return learning_rate(self.s.optim, self.s.curriculum.stage_budget, step, stage_step)

    def train_step(self) -> None:
        st, o = self.state, self.s.optim
        batch = make_batch(self.stages, st.stage_index, o.batch_size, self.s.curriculum.replay_share, self.gen)
        st.tokens += int(batch.real.sum())
        lr = self.lr(st.step, st.stage_step)
        set_lr(self.opt, lr)
        token_loss, logits, target, role = completion_loss(self.model, batch.to(self.device), self.device)
        loss = token_loss.mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        max_norm = math.inf if o.grad_clip is None else o.grad_clip  # inf: measured, never clipped
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm)
        before = self.progress.snapshot() if self.progress.due(st.step + 1) else None
        self.opt.step()
        if before is not None:
            self.progress.record_update(before, lr)
        with torch.no_grad():
            self.log_sums.add(loss, norm, norm > max_norm, token_loss, logits.argmax(-1) == target, role)
        st.step += 1
        st.stage_step += 1

    def log_row(self, wall_time: float) -> dict | None:
        """Close a train_log row: the means since the last row, with where the run stands."""
        means = self.log_sums.take()
        if means is None:
            return None
        st = self.state
        row = {"step": st.step, "stage": self.stages[st.stage_index].name, "stage_index": st.stage_index, "stage_step": st.stage_step}
        row["hold"] = st.holding
        row.update(means)
        row.update({"lr": self.lr(st.step - 1, st.stage_step - 1), "tokens_seen": st.tokens})
        row.update({"wall_time_s": wall_time, "measure_time_s": st.measure_time, "window_time_s": st.window_time})
        row.update(self.progress.weight_norms())
        row.update(self.progress.take())
        st.train_rows.append(row)
        return row

    def window(self) -> bool:
        """Run one graduation window on each of the stage's pools; return True if the stage graduates under the rule.
        In the hold the windows are scored and logged the same way, but the rule no longer counts them."""
        g, st = self.s.graduation, self.state
        t0 = time.perf_counter()
        index = st.stage_step // g.window_every - 1  # windows run every window_every stage steps
        stage, reverse = self.stages[st.stage_index], self.s.factors["reverse"]
        rule = stage.rule_pool(g.pool)
        row = {"step": st.step, "stage": stage.name, "stage_index": st.stage_index, "stage_step": st.stage_step, "hold": st.holding,
               "window": index, "pool": rule}  # fmt: skip
        done, scores = {}, {}
        for pool in POOLS:
            scores[pool] = dict.fromkeys(WINDOW_SCORES, math.nan)  # no unseen pool: its columns stay empty (NaN)
            if len(stage.pools[pool]):
                key = [self.seed, st.stage_index, index, *POOL_KEYS[pool]]
                scores[pool] = window_scores(self.model, stage.pools[pool], g, key, self.device, reverse)
                done[pool] = st.record_window(pool, scores[pool]["passed"], g.windows)
            row.update({f"{pool}_{k}": float(scores[pool][k]) for k in POOL_COLUMNS})
            row[f"{pool}_streak"] = st.streaks[pool] if pool in done else math.nan
        row.update({**scores[rule], "streak": st.streaks[rule]})  # the rule's sample, under the plain names
        st.window_rows.append(row)
        st.window_time += time.perf_counter() - t0
        return not st.holding and done[rule]

    def end_stage(self, graduated: bool) -> None:
        st, g = self.state, self.s.graduation
        stage = self.stages[st.stage_index]
        rule = stage.rule_pool(g.pool)
        times = {}
        for measure, pool in (("fit", "train"), ("generalise", stage.rule_pool("unseen"))):  # no unseen pool: fit is generalising
            at = st.passed_at[pool]
            times |= {f"{measure}_steps": st.stage_step if at is None else at, f"{measure}_censored": at is None}
        st.graduation_rows.append(
            {"stage": stage.name, "stage_index": st.stage_index, "pool": rule, "unseen_pool": "unseen" in stage.pools_present,
             "graduated": graduated, "censored": not graduated,
             "steps": st.stage_step,  # steps to graduation under the rule, or the budget where censored
             **times, "end_step": st.step, "windows_run": st.stage_step // g.window_every}
        )  # fmt: skip
        self.stage_models.append({k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()})
        word = "graduated" if graduated else f"CENSORED (not graduated by step {st.stage_step})"
        fit = "not fitted" if times["fit_censored"] else f"fitted at {times['fit_steps']}"
        gen = "not generalised" if times["generalise_censored"] else f"generalised at {times['generalise_steps']}"
        self.log(f"stage {stage.name} {word} on its {rule} pool after {st.stage_step} steps (global step {st.step}): {fit}, {gen}")
        hold = self.s.curriculum.hold_steps
        if st.stage_index == len(self.stages) - 1 and hold > 0:
            st.holding, st.hold_from = True, st.stage_step
            self.log(f"holding: {hold} more steps on {stage.name}, with windows every {g.window_every} steps")
        else:
            st.next_stage()

    def hold_over(self) -> bool:
        st = self.state
        return st.holding and st.stage_step - st.hold_from >= self.s.curriculum.hold_steps

    def end_hold(self) -> None:
        st = self.state
        self.log(f"hold done after {st.stage_step - st.hold_from} steps (global step {st.step})")
        st.holding = False
        st.next_stage()

    def run(self, checkpoint: Path | None = None, checkpoint_every: int | None = None, log_every: int | None = None) -> None:
        """Train through every stage (see :func:`train_loop`)."""
        train_loop(self, checkpoint, checkpoint_every, log_every)

    def frames(self) -> dict[str, pd.DataFrame]:
        st = self.state
        tables = {"train_log": st.train_rows, "windows": st.window_rows, "graduations": st.graduation_rows}
        return {name: pd.DataFrame(rows) for name, rows in tables.items()}


# SIGTERM: scancel, preemption and the time limit (SLURM), `kill`; SIGUSR1: the warning a SLURM job
# asks for before its time limit (profiles/slurm); SIGINT: Ctrl-C, which the terminal sends to every
# process of Snakemake's group, its local jobs included.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)


class Stopped(Exception):
    """Training stopped on a signal after finishing its step and writing its checkpoint."""

    def __init__(self, signum: int, step: int, checkpoint: Path):
        self.signum, self.step, self.checkpoint = signum, step, checkpoint
        super().__init__(
            f"stopped by {signal.Signals(signum).name} after step {step}; checkpoint written to {checkpoint}, "
            "so the retry (or the same command again) resumes from this step"
        )


@contextlib.contextmanager
def stop_requests():
    """While training, a stop signal only records that it came (the loop reads it after each step);
    the handlers that were there before are restored afterwards."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield received
        return

    def request(signum, frame) -> None:
        received.append(signum)

    before = {s: signal.signal(s, request) for s in STOP_SIGNALS}
    try:
        yield received
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


def train_loop(tr: Trainer, checkpoint: Path | None = None, checkpoint_every: int | None = None, log_every: int | None = None) -> None:
    """The loop, as nanoGPT's: batch, loss, step; then log, graduation window, checkpoint.

    With ``checkpoint``, resume from it when it is this run's, and write it every
    ``checkpoint_every`` steps (atomically), so a killed job continues where it was; and on
    a stop signal (STOP_SIGNALS) finish the step, write the checkpoint and raise Stopped.
    """
    with stop_requests() if checkpoint is not None else contextlib.nullcontext([]) as stop:
        _loop(tr, checkpoint, checkpoint_every, log_every, stop)


def _loop(tr: Trainer, checkpoint: Path | None, checkpoint_every: int | None, log_every: int | None, stop: list[int]) -> None:
    g = tr.s.graduation
    checkpoint_every = checkpoint_every or tr.s.train.checkpoint_every
    log_every = log_every or tr.s.train.log_every
    if checkpoint is not None and checkpoint.exists():
        tr.resume(checkpoint)
    st = tr.state
    t0 = time.perf_counter()
    last_t, last_step = t0, st.step
    while st.stage_index < len(tr.stages):
        tr.train_step()
        if tr.progress.due(st.step):
            tm = time.perf_counter()
            tr.progress.measure(tr.stages, st.stage_index, st.step)
            st.measure_time += time.perf_counter() - tm
        if st.step % log_every == 0:
            r = tr.log_row(st.elapsed + time.perf_counter() - t0)
            now = time.perf_counter()
            tr.log(
                f"step {st.step:6d} | stage {r['stage']} ({st.stage_index + 1}/{len(tr.stages)}) step {st.stage_step:5d} "
                f"| loss {r['loss']:.4f} tok_acc {r['token_accuracy']:.3f} | windows "
                + ", ".join(f"{pool} {st.streaks[pool]}/{g.windows}" for pool in tr.stages[st.stage_index].pools_present)
                + " "
                f"| {(st.step - last_step) / max(1e-9, now - last_t):.1f} steps/s"
            )
            last_t, last_step = now, st.step
        graduated = st.stage_step % g.window_every == 0 and tr.window()
        if graduated or (not st.holding and st.stage_step >= tr.s.curriculum.stage_budget):
            tr.log_row(st.elapsed + time.perf_counter() - t0)
            tr.end_stage(graduated)
        elif tr.hold_over():
            tr.log_row(st.elapsed + time.perf_counter() - t0)
            tr.end_hold()
        if checkpoint is not None and (st.step % checkpoint_every == 0 or stop):
            st.elapsed += time.perf_counter() - t0
            t0 = time.perf_counter()
            save_checkpoint(checkpoint, tr.checkpoint())
        if stop and st.stage_index < len(tr.stages):
            raise Stopped(stop[0], st.step, checkpoint)
    st.elapsed += time.perf_counter() - t0


def load_stages(names: list[str], train_paths: list[str], train_pool_paths: list[str], unseen_pool_paths: list[str]) -> list[StageTensors]:
    """Every stage's tensors and graduation pools (datasets.SPLITS), in curriculum order."""
    cols = ["prompt", "completion"]
    paths = zip(names, train_paths, train_pool_paths, unseen_pool_paths, strict=True)
    return [tensorise(name, read_parquet(t, cols), read_parquet(tp), read_parquet(up)) for name, t, tp, up in paths]


def stderr_log(prefix: str):
    def log(msg: str) -> None:
        print(f"[{prefix}] {msg}", file=sys.stderr, flush=True)

    return log


def train_job(settings: dict, variant: str, seed: int, inputs: dict, outputs: dict, threads: int = 1) -> None:
    """Job entry point: train one (variant, seed) and write its Parquet logs and final model."""
    from ..core.io import provenance, write_parquet

    torch.set_num_threads(threads)
    device = pick_device()
    log = stderr_log(f"{variant} seed {seed}")
    names = [s["name"] for s in settings["stages"]]
    log(f"device {device}, {threads} thread(s), stages {names}")
    stages = load_stages(names, inputs["train"], inputs["train_pool"], inputs["unseen_pool"])
    for st in stages:
        pools = ", ".join(f"{p} {len(st.pools[p])}" for p in st.pools_present)
        rule = st.rule_pool(settings["graduation"]["pool"])
        log(f"stage {st.name}: {len(st.ids)} training problems; graduation pools: {pools}; the rule reads the {rule} pool")
    trainer = Trainer(settings, seed, stages, device, log)
    log(f"model: {sum(p.numel() for p in trainer.model.parameters()):,} parameters")
    ckpt = Path(outputs["model"]).with_name("checkpoint.pt")
    try:
        trainer.run(ckpt)
    except Stopped as e:
        log(str(e))
        raise SystemExit(128 + e.signum) from None  # the shell's status for "killed by this signal": a failed job
    prov = provenance(variant, seed, settings, stable_hash(settings))
    for name, df in trainer.frames().items():
        write_parquet(df, outputs[name], prov)
    save_model(trainer.model, outputs["model"], prov)
    save_stage_models(trainer.model, names, trainer.stage_models, outputs["stage_models"], prov)
    ckpt.unlink(missing_ok=True)  # outputs are complete; the checkpoint has done its job
    st = trainer.state
    clocks = (("progress measures", st.measure_time), ("graduation windows", st.window_time))
    share = {what: t / max(1e-9, st.elapsed) for what, t in clocks}
    log(f"done: {st.step} steps in {st.elapsed:.1f}s (" + ", ".join(f"{v:.1%} in {k}" for k, v in share.items()) + ")")
