"""A trained model on disk, and the device a job runs on: shared by training (which writes
``model.pt``) and evaluation (which reads it), so neither imports the other."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .io import CorruptFileError, atomic_path
from .model import GPT, ModelConfig


def pick_device() -> torch.device:
    """ARITHSIGNAL_DEVICE if set, else the GPU this job was given (CUDA_VISIBLE_DEVICES), else CPU."""
    wanted = os.environ.get("ARITHSIGNAL_DEVICE", "auto")
    if wanted == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(wanted)


def save_model(model: GPT, path: str | Path, meta: dict) -> None:
    """Weights, the model's config and the run's provenance, written atomically."""
    tmp = atomic_path(path)
    torch.save({"model": model.state_dict(), "model_config": dict(model.cfg.__dict__), "meta": meta}, tmp)
    os.replace(tmp, path)


def load_model(path: str | Path, device: torch.device | str = "cpu") -> GPT:
    """The trained model at ``path``, in eval mode; a damaged file is named, never half-read."""
    try:
        saved = torch.load(path, weights_only=True, map_location="cpu")
        model = GPT(ModelConfig(**saved["model_config"]))
        model.load_state_dict(saved["model"])
    except FileNotFoundError:
        raise
    except Exception as e:  # truncated zip, unpickling error, missing keys, ...
        raise CorruptFileError(f"{path}: trained model file is corrupt or truncated ({e}); delete it to have its training job rerun") from e
    return model.to(device).eval()
