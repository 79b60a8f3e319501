"""Curriculum training from start to stop, read top to bottom like nanoGPT's train.py.

:meth:`Trainer.run` is the loop. Each step draws a batch (a share ``curriculum.replay_share`` of it replaying earlier
stages), takes the loss on its completion tokens and steps the optimiser (batches.py, optim.py); then, when due, it
takes the progress measures (progress.py) and a train_log row, runs a graduation window (graduation.py: the rule),
ends the stage (graduated, or censored at its budget; after the last stage, the hold; after a censored stage with
``curriculum.after_censored: stop``, the run's end: later stages are not reached) and writes the checkpoint
(checkpoint.py). The weights as they were when each stage ended are kept for the evaluation at stage end.
:func:`train_job` is the workflow's entry: one (variant, seed), from its data files to its tables and models.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import torch

from ..core.io import provenance, stable_hash, write_parquet
from ..core.text import duration
from ..data.formats import VOCAB
from ..model.gpt import GPT, ModelConfig
from ..model.store import pick_device, save_model, save_stage_models
from .batches import StageTensors, completion_loss, load_stages, make_batch
from .checkpoint import Stopped, checkpoint_of, resume, save_checkpoint, stop_requests
from .graduation import RunState, graduation_row, run_window, stage_end_line
from .live import LIVE_FILE, Live, steps_left
from .optim import build_optimizer, learning_rate, set_lr
from .progress import LogAccumulator, ProgressMeasures
from .settings import RunSettings, stage_budget

Log = Callable[[str], None]  # where a run says what it does: print, or stderr_log's


def model_config(s: RunSettings) -> ModelConfig:
    """The run's model; the abacus and coupled schemes (coupled_relative too) also read whether the format writes its
    completion units digit first."""
    reads_order = s.model.get("positions") in ("abacus", "coupled", "coupled_relative")
    extra = {"abacus_units_first": bool(s.factors["reverse"])} if reads_order else {}
    return ModelConfig(vocab_size=len(VOCAB), **s.model, **extra)


class Clock:
    """The run's training wall time, carried across resumes (RunState.elapsed, up to its last checkpoint, plus this
    process's time since), the clocks of its parts, and its speed between two log lines."""

    def __init__(self, st: RunState):
        self.st, self.start = st, time.perf_counter()
        self.last = (self.start, st.step)  # time and step of the last speed read

    def wall(self) -> float:
        return self.st.elapsed + time.perf_counter() - self.start

    def bank(self) -> None:
        """Move this process's time so far into RunState.elapsed (which a checkpoint saves)."""
        now = time.perf_counter()
        self.st.elapsed += now - self.start
        self.start = now

    @contextlib.contextmanager
    def timing(self, part: str) -> Iterator[None]:
        """Add the time the block takes to RunState's clock ``part`` (measure_time, window_time)."""
        t0 = time.perf_counter()
        yield
        setattr(self.st, part, getattr(self.st, part) + time.perf_counter() - t0)

    def speed(self) -> float:
        """Steps per second since the last read."""
        (t, step), now = self.last, time.perf_counter()
        self.last = (now, self.st.step)
        return (self.st.step - step) / max(1e-9, now - t)


class Trainer:
    """One training run: a variant's settings, one seed, all stages in order."""

    def __init__(self, settings: dict, seed: int, stages: list[StageTensors], device: torch.device, log: Log = print):
        self.s, self.seed, self.stages = RunSettings.from_dict(settings), seed, stages
        self.device, self.log = device, log
        self.run_hash = stable_hash({"settings": settings, "seed": seed})
        longest, block = max(int(st.lengths.max()) for st in stages), self.s.model["block_size"]
        if longest > block:
            worst = max(stages, key=lambda st: int(st.lengths.max())).name
            raise ValueError(f"stage {worst} has sequences of {longest} tokens, more than model.block_size={block}")
        torch.manual_seed(seed)
        self.model = GPT(model_config(self.s)).to(device)
        self.opt = build_optimizer(self.model.param_classes(), self.s.optim, fused=True)
        self.gen = torch.Generator().manual_seed(seed)
        self.state = RunState()
        self.log_sums = LogAccumulator(device)
        self.progress = ProgressMeasures(self.model, self.s, seed, device)
        self.stage_models: list[dict[str, torch.Tensor]] = []  # the weights at each stage's end, in stage order
        self.budgets = [stage_budget(settings, st.name) for st in stages]  # per stage, in stage order

    def run(
        self,
        checkpoint: Path | None = None,
        checkpoint_every: int | None = None,
        log_every: int | None = None,
        live: Live | None = None,
    ) -> None:
        """Train through every stage: batch, loss, step; then progress measures, log row, window, stage end, checkpoint.

        With ``checkpoint``, resume from it when it is this run's, and write it every ``checkpoint_every`` steps
        (atomically), so a killed job continues where it was; and on a stop signal (checkpoint.STOP_SIGNALS) finish
        the step, write the checkpoint and raise Stopped. ``checkpoint_every`` is required with ``checkpoint`` (an
        execution setting, not in the run's settings); ``log_every``: the settings' if None. With ``live``, the
        tables go out as they grow (live.py), rewritten first from where the run starts or resumes.
        """
        if checkpoint is not None and not checkpoint_every:
            raise ValueError("a run with a checkpoint needs checkpoint_every (config execution.checkpoint_every)")
        log_every = log_every or self.s.train.log_every
        with stop_requests() if checkpoint is not None else contextlib.nullcontext([]) as stop:
            if checkpoint is not None and checkpoint.exists():
                resume(self, checkpoint)
            st, clock = self.state, Clock(self.state)
            if live is not None:
                live.restart(st)
            try:
                while st.stage_index < len(self.stages):
                    self.train_step()
                    self.after_step(clock, log_every)
                    if live is not None:
                        live.sync(st)
                    if checkpoint is not None and (st.step % checkpoint_every == 0 or stop):
                        clock.bank()
                        save_checkpoint(checkpoint, checkpoint_of(self))
                    if stop and st.stage_index < len(self.stages):
                        raise Stopped(stop[0], st.step, checkpoint)
            finally:
                if live is not None:
                    live.close()
            clock.bank()

    def after_step(self, clock: Clock, log_every: int) -> None:
        """What follows a step, in order: the progress measures, the log line, the graduation window, then the
        stage's end (graduated, or its budget spent) or the hold's end."""
        st, g, c = self.state, self.s.graduation, self.s.curriculum
        if self.progress.due(st.step):
            with clock.timing("measure_time"):
                self.progress.measure(self.stages, st.stage_index, st.step)
        if st.step % log_every == 0:
            self.log(self.log_line(self.log_row(clock.wall()), clock.speed()))
        graduated = False
        if st.stage_step % g.window_every == 0:
            with clock.timing("window_time"):
                graduated = self.window()
        if graduated or (not st.holding and st.stage_step >= self.budgets[st.stage_index]):
            self.log_row(clock.wall())
            self.end_stage(graduated)
        elif st.holding and st.stage_step - st.hold_from >= c.hold_steps:
            self.log_row(clock.wall())
            self.end_hold()

    def steps_left(self) -> int:
        """The most steps the run can still take: every stage to its budget, and the hold (live.steps_left)."""
        st = self.state
        hold_from = st.hold_from if st.holding else None
        return steps_left(self.budgets, st.stage_index, st.stage_step, self.s.curriculum.hold_steps, hold_from)

    def lr(self, step: int, stage_step: int) -> float:
        """The learning rate of a step (optim.learning_rate: the schedule restarts in every stage)."""
        return learning_rate(self.s.optim, self.budgets[self.state.stage_index], step, stage_step)

    def train_step(self) -> None:
        """One optimiser step on a fresh batch of the current stage, with replay; its sums go to the next log row."""
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
        """Close a train_log row: the means since the last row, with where the run stands (None: no step since)."""
        means = self.log_sums.take()
        if means is None:
            return None
        st, stage = self.state, self.stages[self.state.stage_index]
        row = {
            "step": st.step,
            "stage": stage.name,
            "stage_index": st.stage_index,
            "stage_step": st.stage_step,
            "hold": st.holding,
        }
        row.update(means)
        row.update({"lr": self.lr(st.step - 1, st.stage_step - 1), "tokens_seen": st.tokens})
        row.update({"wall_time_s": wall_time, "measure_time_s": st.measure_time, "window_time_s": st.window_time})
        row.update(self.progress.weight_norms())
        row.update(self.progress.take())
        st.train_rows.append(row)
        return row

    def log_line(self, row: dict, speed: float) -> str:
        """The log's line on a train_log row: where the run stands, its loss, each pool's streak, its speed."""
        st, stage = self.state, self.stages[self.state.stage_index]
        streaks = ", ".join(f"{pool} {st.streaks[pool]}/{self.s.graduation.windows}" for pool in stage.pools_present)
        c, place = self.s.curriculum, f"stage {row['stage']} ({st.stage_index + 1}/{len(self.stages)})"
        if st.holding:
            where = f"{place} hold step {st.stage_step - st.hold_from:5d}/{c.hold_steps}"
        else:
            where = f"{place} step {st.stage_step:5d}/{self.budgets[st.stage_index]}"
        loss = f"loss {row['loss']:.4f} tok_acc {row['token_accuracy']:.3f}"
        left = f"at most {duration(self.steps_left() / max(speed, 1e-9))} left"  # every stage to its budget
        return f"step {st.step:6d} | {where} | {loss} | windows {streaks} | {speed:.1f} steps/s, {left}"

    def window(self) -> bool:
        """A graduation window on each of the stage's pools (graduation.run_window); True if the stage graduates."""
        return run_window(self.model, self.stages[self.state.stage_index], self.state, self.s, self.seed, self.device)

    def end_stage(self, graduated: bool) -> None:
        """Record the stage's graduation and its weights; then the next stage, or the hold after the last one."""
        st, g = self.state, self.s.graduation
        row = graduation_row(self.stages[st.stage_index], st, g, graduated, self.budgets[st.stage_index])
        st.graduation_rows.append(row)
        self.stage_models.append({k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()})
        self.log(stage_end_line(row))
        hold, last = self.s.curriculum.hold_steps, st.stage_index == len(self.stages) - 1
        if last and hold > 0:
            st.holding, st.hold_from = True, st.stage_step
            self.log(f"holding: {hold} more steps on {row['stage']}, with windows every {g.window_every} steps")
        elif not graduated and not last and self.s.curriculum.after_censored == "stop":
            later = ", ".join(s.name for s in self.stages[st.stage_index + 1 :])
            self.log(f"stopping (curriculum.after_censored: stop): {later} not reached")
            st.stage_index = len(self.stages)  # the run is done: no row, no weights for the stages not reached
        else:
            st.next_stage()

    def end_hold(self) -> None:
        """The hold after the last stage is over: the run is done."""
        st = self.state
        self.log(f"hold done after {st.stage_step - st.hold_from} steps (global step {st.step})")
        st.holding = False
        st.next_stage()

    def frames(self) -> dict[str, pd.DataFrame]:
        """The run's tables so far: train_log, windows, graduations."""
        st = self.state
        tables = {"train_log": st.train_rows, "windows": st.window_rows, "graduations": st.graduation_rows}
        return {name: pd.DataFrame(rows) for name, rows in tables.items()}


def stderr_log(prefix: str) -> Log:
    """A log that writes each message to stderr at once, after ``prefix`` (the job's log file under Snakemake)."""

    def log(msg: str) -> None:
        print(f"[{prefix}] {msg}", file=sys.stderr, flush=True)

    return log


def live_header(settings: dict, variant: str, seed: int) -> dict:
    """The first line of a run's live file: what a reader needs to place its rows (report/watch.py)."""
    c, g = settings["curriculum"], settings["graduation"]
    return {"variant": variant, "seed": seed, "stages": [s["name"] for s in settings["stages"]],
            "budgets": [stage_budget(settings, s["name"]) for s in settings["stages"]], "hold_steps": c["hold_steps"],
            "windows": g["windows"],
            "window_every": g["window_every"]}  # fmt: skip


def train_job(
    settings: dict,
    variant: str,
    seed: int,
    inputs: dict,
    outputs: dict,
    threads: int,
    checkpoint_every: int,
    tensorboard: Path | None = None,
) -> None:
    """Job entry point: train one (variant, seed) and write its Parquet logs and final model, with a checkpoint every
    ``checkpoint_every`` steps (an execution setting: it changes nothing the run computes). The tables also go out as
    they grow: to live.jsonl beside the checkpoint, and to TensorBoard under ``tensorboard`` where it is installed."""
    torch.set_num_threads(threads)
    device = pick_device()
    log = stderr_log(f"{variant} seed {seed}")
    names = [s["name"] for s in settings["stages"]]
    log(f"device {device}, {threads} thread(s), stages {names}")
    stages = load_stages(names, inputs["train"], inputs["train_pool"], inputs["unseen_pool"])
    for st in stages:
        pools = ", ".join(f"{p} {len(st.pools[p])}" for p in st.pools_present)
        rule, n = st.rule_pool(settings["graduation"]["pool"]), len(st.ids)
        log(f"stage {st.name}: {n} training problems; graduation pools: {pools}; the rule reads the {rule} pool")
    trainer = Trainer(settings, seed, stages, device, log)
    log(f"model: {sum(p.numel() for p in trainer.model.parameters()):,} parameters")
    ckpt = Path(outputs["model"]).with_name("checkpoint.pt")
    live = Live(ckpt.with_name(LIVE_FILE), live_header(settings, variant, seed), tensorboard)
    if tensorboard is not None and live.tensorboard is None:
        log("no TensorBoard here (pip install -e '.[watch]'): the live record is live.jsonl alone")
    try:
        trainer.run(ckpt, checkpoint_every, live=live)
    except Stopped as e:
        log(str(e))
        raise SystemExit(128 + e.signum) from None  # the shell's status for "killed by this signal": a failed job
    prov = provenance(variant, seed, settings, stable_hash(settings))
    for name, df in trainer.frames().items():
        write_parquet(df, outputs[name], prov)
    save_model(trainer.model, outputs["model"], prov)
    reached = names[: len(trainer.stage_models)]  # fewer than names where after_censored: stop ended the run early
    save_stage_models(trainer.model, reached, trainer.stage_models, outputs["stage_models"], prov)
    ckpt.unlink(missing_ok=True)  # outputs are complete; the checkpoint has done its job
    st = trainer.state
    clocks = (("progress measures", st.measure_time), ("graduation windows", st.window_time))
    share = {what: t / max(1e-9, st.elapsed) for what, t in clocks}
    log(f"done: {st.step} steps in {st.elapsed:.1f}s (" + ", ".join(f"{v:.1%} in {k}" for k, v in share.items()) + ")")
