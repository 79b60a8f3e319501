"""The settings of one training run, typed, as the trainer reads them.

``config.effective_settings`` resolves a variant of the experiment config into the plain dict these are
built from. They live apart from ``config`` (the workflow-time checks and variants), so that editing a
check or one of its messages reruns no training job: the training code imports this module, not that one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OptimSettings:
    lr: float
    weight_decay: float
    beta1: float
    beta2: float
    grad_clip: float | None  # None: never clip
    warmup_steps: int
    batch_size: int
    schedule: str  # constant | cosine | linear, within each stage
    min_lr_ratio: float
    decay_steps: int | None  # None: the stage budget
    name: str  # adamw | snr_gated (optim.py)
    snr_threshold: float  # snr_gated: coordinates with a gradient SNR below it take a step scaled by SNR / threshold
    vectors: dict  # vectors and scalars: {lr_scale: multiple of lr, weight_decay}


def stage_budget(settings: dict, stage: str) -> int:
    """A stage's budget: its own (``stages[].budget``), else the curriculum's ``stage_budget``. The stage is censored
    there if it has not graduated, and its learning-rate schedule runs over it."""
    spec = next((s for s in settings.get("stages", []) if s["name"] == stage), {})
    return int(spec.get("budget", settings["curriculum"]["stage_budget"]))


@dataclass(frozen=True)
class CurriculumSettings:
    replay_share: float
    stage_budget: int  # where a stage has no budget of its own (stage_budget())
    hold_steps: int  # after the last stage ends, train on this many more steps, with held-out windows
    # after a censored stage: continue to the next, or stop (later stages not reached). Optional in the config, so
    # that configs without it keep their runs' hashes
    after_censored: str = "continue"


@dataclass(frozen=True)
class GraduationSettings:
    problems_per_window: int
    windows: int
    window_every: int
    score: str  # completion | answer
    pool: str  # unseen | train: the problems the rule decides on (data/splits.py: the train and unseen pools)


@dataclass(frozen=True)
class TrainSettings:
    log_every: int
    progress_every: int
    snr_microbatches: int
    update_threshold: float


@dataclass(frozen=True)
class RunSettings:
    """A variant's effective settings as the trainer reads them (``effective_settings`` gives the dict)."""

    factors: dict  # the format factors (formats.Factors fields) the run's data are written in
    model: dict  # keyword arguments of model.ModelConfig
    optim: OptimSettings
    curriculum: CurriculumSettings
    graduation: GraduationSettings
    train: TrainSettings

    @classmethod
    def from_dict(cls, settings: dict) -> RunSettings:
        return cls(
            factors=dict(settings["factors"]),
            model=dict(settings["model"]),
            optim=OptimSettings(**settings["optim"]),
            curriculum=CurriculumSettings(**settings["curriculum"]),
            graduation=GraduationSettings(**settings["graduation"]),
            train=TrainSettings(**settings["train"]),
        )
