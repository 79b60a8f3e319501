"""A trained model on disk, and the device a job runs on: shared by training (which writes
``model.pt``) and evaluation (which reads it), so neither imports the other."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..core.io import CorruptFileError, atomic_path
from .gpt import GPT, ModelConfig


def pick_device() -> torch.device:
    """ARITHSIGNAL_DEVICE if set, else the GPU this job was given (CUDA_VISIBLE_DEVICES), else CPU. On a CPU, the
    numeric paths are checked first (numerics.check: a pinned path torch refused fails the job, naming it)."""
    from ..core.numerics import check

    wanted = os.environ.get("ARITHSIGNAL_DEVICE", "auto")
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if wanted == "auto" else wanted)
    if device.type == "cpu":
        check()
    return device


def save_model(model: GPT, path: str | Path, meta: dict) -> None:
    """Weights, the model's config and the run's provenance, written atomically."""
    tmp = atomic_path(path)
    torch.save({"model": model.state_dict(), "model_config": dict(model.cfg.__dict__), "meta": meta}, tmp)
    os.replace(tmp, path)


def save_stage_models(model: GPT, stages: list[str], weights: list[dict], path: str | Path, meta: dict) -> None:
    """The weights as they were when each stage ended (graduated or censored), in stage order, written atomically."""
    tmp = atomic_path(path)
    torch.save({"stages": list(stages), "models": weights, "model_config": dict(model.cfg.__dict__), "meta": meta}, tmp)
    os.replace(tmp, path)


def _load(path: str | Path) -> dict:
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except FileNotFoundError:
        raise
    except Exception as e:  # truncated zip, unpickling error, ...
        raise CorruptFileError(
            f"{path}: trained model file is corrupt or truncated ({e}); delete it to have its training job rerun"
        ) from e


def _model(path: str | Path, config: dict, weights: dict, device: torch.device | str) -> GPT:
    try:
        model = GPT(ModelConfig(**config))
        model.load_state_dict(weights)
    except Exception as e:  # missing or misshapen weights
        raise CorruptFileError(
            f"{path}: trained model file does not hold this model ({e}); delete it to rerun its training job"
        ) from e
    return model.to(device).eval()


def load_model(path: str | Path, device: torch.device | str = "cpu") -> GPT:
    """The trained model at ``path``, in eval mode; a damaged file is named, never half-read."""
    saved = _load(path)
    return _model(path, saved["model_config"], saved["model"], device)


def load_stage_models(path: str | Path, device: torch.device | str = "cpu") -> dict[str, GPT]:
    """Stage name -> the model as it was when that stage ended (``save_stage_models``), in eval mode."""
    saved = _load(path)
    return {
        name: _model(path, saved["model_config"], w, device)
        for name, w in zip(saved["stages"], saved["models"], strict=True)
    }
