"""What a train_log row records besides where the run stands: the means of its steps and the progress measures.

* :class:`LogAccumulator`: loss, token accuracy (overall and per role: answer, scratchpad, carry-mask steps),
  gradient norm and clipping, summed over the steps since the last row, on the device.
* :class:`ProgressMeasures`: every ``train.progress_every`` steps, the gradient SNR per parameter class and the noise
  scale B_simple (the estimators are in measures.py, which knows nothing of training), and the share of parameters
  the step moved; weight norms in every row.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..data.formats import ROLE_ANSWER, ROLE_CARRY, ROLE_SCRATCH
from ..model.gpt import GPT
from .batches import StageTensors, completion_loss, make_batch
from .measures import gradient_snr, noise_scale_microbatches
from .settings import RunSettings

ROLES = {"scratch": ROLE_SCRATCH, "carry": ROLE_CARRY, "answer": ROLE_ANSWER}
PARAM_CLASSES = ("matrices", "vectors")  # GPT.param_classes
PROGRESS_COLUMNS = [
    f"{m}_{c}" for m in ("grad_snr", "grad_signal", "grad_noise", "update_share") for c in PARAM_CLASSES
] + ["noise_scale_b_simple"]


class LogAccumulator:
    """Running sums between two train_log rows, kept on the device so a step never waits for the host."""

    FIELDS = ["loss", "grad_norm", "clipped", "n"] + [f"{r}_{q}" for r in ROLES for q in ("loss", "correct", "total")]

    def __init__(self, device: torch.device):
        self.device = device
        self.sums = torch.zeros(len(self.FIELDS), dtype=torch.float64, device=device)

    def add(self, loss: Tensor, norm: Tensor, clipped: Tensor, token_loss: Tensor, right: Tensor, role: Tensor) -> None:
        """One step: its mean loss, gradient norm and whether it was clipped; per completion token, its loss, whether
        its argmax was right, and its role."""
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
    moves (measures.py has the estimators). They draw their batch from their own generator and
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
            return {
                f"weight_norm_{c}": float(torch.sqrt(sum((p.float() ** 2).sum() for p in self.classes[c])))
                for c in PARAM_CLASSES
            }

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
                flat.append(
                    torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params)]).double().cpu().numpy()
                )
        grads = np.stack(flat)
        self.pending["noise_scale_b_simple"] = noise_scale_microbatches(grads, b)["b_simple"]
        for c, part in zip(PARAM_CLASSES, np.split(grads, np.cumsum(sizes)[:-1], axis=1), strict=True):
            snr = gradient_snr(part)
            self.pending.update(
                {f"grad_snr_{c}": snr["snr"], f"grad_signal_{c}": snr["signal"], f"grad_noise_{c}": snr["noise"]}
            )

    def take(self) -> dict[str, float]:
        """The measures since the last row (NaN where none was taken), and start afresh."""
        out = {col: self.pending.get(col, float("nan")) for col in PROGRESS_COLUMNS}
        self.pending = {}
        return out
