"""What the confirmatory analysis decides, and on which rows: the family's hypotheses as the config declares them,
and the design of each (one row per run and judged stage), built from the gathered graduations table."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from .survival import FAMILIES, Intervals


@dataclass(frozen=True)
class Hypothesis:
    """One member of the primary family, as declared in the config's ``analysis.family``."""

    ablation: str  # the ablation, or a threshold entry's name
    kind: str  # effect | size_interaction | threshold
    stages: tuple[str, ...]
    smallest_effect: float  # the equivalence margin [1/m0, m0] on the ratio scale (nan for a threshold)
    claimed: float | None = None  # the claim's own size, on the same scale (effect only)
    model: str = "lognormal"  # the AFT distribution declared before the run (analysis.model)
    variant: str = ""  # a threshold's: the variant, its held-out measure and the bar (analysis/threshold.py)
    measure: str = ""
    threshold: float = math.nan

    @property
    def name(self) -> str:
        if self.kind == "threshold":
            return f"{self.ablation}: {self.variant}'s {self.measure} above {self.threshold:g}"
        return f"{self.ablation}: {'pooled effect' if self.kind == 'effect' else 'effect x model size'}"

    @property
    def other_model(self) -> str:
        return next(f for f in FAMILIES if f != self.model)


@dataclass
class Design:
    """The rows of one ablation's analysis: one per run and judged stage."""

    y: Intervals  # (n,) log bounds of each row's steps
    row_run: np.ndarray  # (n,) which run a row belongs to, 0..R-1
    stage: np.ndarray  # (n,) stage index, 0..q-1
    z: np.ndarray  # (R,) 1: the factor on
    stratum: np.ndarray  # (R,) model size index (labels are permuted within it)
    log_size: np.ndarray  # (R,) log N, centred on the mean of the design's distinct sizes
    graduated: np.ndarray  # (n,) bool
    window_every: int  # the rule's window grid
    log_size_mean: float = 0.0  # what log_size is centred on
    stage_names: tuple[str, ...] = ()  # per stage index
    size_names: tuple[str, ...] = ()  # per stratum ("d_model 16"), in the order of log N

    @classmethod
    def from_rows(cls, run, stage, z, log_n, steps, censored, window_every, budget, floor, size_name=None) -> Design:
        """From per-row columns (run and stage labels of any type; z, log_n constant within a run; ``size_name``: a
        label of each row's model size, by default its N)."""
        run, stage = np.asarray(run), np.asarray(stage)
        runs, row_run = np.unique(run, return_inverse=True)
        stages, stage_ix = np.unique(stage, return_inverse=True)
        first = np.array([np.flatnonzero(row_run == r)[0] for r in range(len(runs))])
        z_run, log_n_run = np.asarray(z, int)[first], np.asarray(log_n, float)[first]
        sizes, stratum = np.unique(np.round(log_n_run, 9), return_inverse=True)
        if size_name is not None:
            names = np.asarray(size_name)[first]
        else:
            names = np.array([f"N {math.exp(x):,.0f}" for x in log_n_run])
        size_names = tuple(str(names[np.flatnonzero(stratum == k)[0]]) for k in range(len(sizes)))
        y = Intervals.from_steps(steps, censored, window_every, budget, floor)
        return cls(y, row_run, stage_ix, z_run, stratum, log_n_run - sizes.mean(), ~np.asarray(censored, bool),
                   int(window_every), float(sizes.mean()), tuple(str(x) for x in stages), size_names)  # fmt: skip

    def select(self, rows: np.ndarray) -> Design:
        """The design on a subset of its rows (a stage left out, or one model size), every index renumbered and the
        sizes centred again on the ones left."""
        rows = np.asarray(rows, bool)
        runs, row_run = np.unique(self.row_run[rows], return_inverse=True)
        stages, stage = np.unique(self.stage[rows], return_inverse=True)
        strata, stratum = np.unique(self.stratum[runs], return_inverse=True)
        log_n = self.log_size[runs] + self.log_size_mean
        mean = float(np.unique(np.round(log_n, 9)).mean())
        y = Intervals(self.y.lo[rows], self.y.hi[rows], self.y.limit[rows], self.y.start[rows])
        return Design(y, row_run, stage, self.z[runs], stratum, log_n - mean, self.graduated[rows], self.window_every,
                      mean, tuple(self.stage_names[i] for i in stages) if self.stage_names else (),
                      tuple(self.size_names[i] for i in strata) if self.size_names else ())  # fmt: skip

    def cell(self) -> np.ndarray:
        """(stage, model size) of each row, as one index: the strata within which the two sides are read alike."""
        return self.stage * self.sizes + self.stratum[self.row_run]

    def censored_cells(self) -> str:
        """How many (run, stage) cells are censored, per model size and side: what a decision rests on."""
        side, size = self.z[self.row_run], self.stratum[self.row_run]
        parts = []
        for k in range(self.sizes):
            name = self.size_names[k] if self.size_names else f"size {k}"
            cells = [(v, (size == k) & (side == s)) for v, s in (("on", 1), ("off", 0))]
            counts = [f"{v} {int((~self.graduated[mask]).sum())} of {int(mask.sum())}" for v, mask in cells]
            parts.append(f"{name}: " + ", ".join(counts))
        return "; ".join(parts)

    @property
    def sizes(self) -> int:
        return int(self.stratum.max()) + 1

    @property
    def stages(self) -> int:
        return int(self.stage.max()) + 1

    def stage_onehot(self) -> np.ndarray:
        return np.eye(self.stages)[self.stage]

    def base(self) -> np.ndarray:
        """Stage means, and with several sizes a size slope per stage."""
        S = self.stage_onehot()
        return np.hstack([S, S * self.log_size[self.row_run][:, None]]) if self.sizes > 1 else S

    def identified(self, kind: str) -> tuple[bool, str]:
        """Can the data fix the term at all? The pooled effect needs a graduated run on some side; the interaction a
        stage where both sides graduated at two sizes or more."""
        if kind == "effect":
            ok = bool(self.graduated.any())
            return ok, "" if ok else "every run of both sides censored at every judged stage"
        if self.sizes < 2:
            return False, "the runs are of one model size"
        side, size = self.z[self.row_run], self.stratum[self.row_run]
        for s in range(self.stages):
            sizes_graduated = [len(set(size[(self.stage == s) & (side == v) & self.graduated])) for v in (0, 1)]
            if min(sizes_graduated) >= 2:
                return True, ""
        return False, "no judged stage where both sides graduated at two model sizes or more"


def hypotheses(analysis: dict) -> list[Hypothesis]:
    """The family's hypotheses in declaration order: each ablation entry's pooled effect, then (with sizes) its
    interaction, under the distribution the analysis declares; each threshold entry's threshold."""
    out = []
    model = analysis.get("model", "lognormal")
    for h in analysis["family"]:
        stages = tuple(h["stages"])
        if "threshold" in h:
            out.append(Hypothesis(h["name"], "threshold", stages, math.nan, None, "t-test", h["variant"],
                                  h["measure"], float(h["threshold"])))  # fmt: skip
            continue
        out.append(Hypothesis(h["ablation"], "effect", stages, h["smallest_effect"], h.get("claimed"), model))
        if "sizes" in h:
            out.append(Hypothesis(h["ablation"], "size_interaction", stages, h["smallest_effect"], None, model))
    return out


def size_names(runs: list[dict]) -> dict[str, str]:
    """A label of each run's model size from the model keys that differ between the runs ("d_model 16"), else N."""
    from ..model.size import non_embedding_params

    keys = sorted({k for r in runs for k in r["model"]})
    varying = [k for k in keys if len({json.dumps(r["model"].get(k)) for r in runs}) > 1]
    return {r["run"]: ", ".join(f"{k} {r['model'][k]}" for k in varying) or f"N {non_embedding_params(r['model']):,}"
            for r in runs}  # fmt: skip


def design_rows(graduations, runs: list[dict], stages: list[str]):
    """The graduations rows of a family entry's runs at its stages, in a fixed order."""
    meta = {r["run"]: r for r in runs}
    d = graduations[graduations["variant"].isin(meta) & graduations["stage"].isin(stages)]
    return d.sort_values(["variant", "seed", "stage_index"])


def data_hash(graduations, runs: list[dict], stages: list[str]) -> str:
    """A hash of exactly the data a hypothesis is decided on (run, seed, stage, steps, censored): the same runs read
    again give the same hash, on any machine, so the ledger can tell a new attempt from a re-reading."""
    from ..core.io import stable_hash

    d = design_rows(graduations, runs, stages)
    return stable_hash([[str(v), int(s), str(st), int(n), bool(c)] for v, s, st, n, c in
                        d[["variant", "seed", "stage", "steps", "censored"]].itertuples(index=False)])  # fmt: skip


def design_of(graduations, runs: list[dict], stages: list[str]) -> Design:
    """The design of a family entry from the gathered graduations table: its runs ({run, side, model}) at its stages."""
    from ..model.size import non_embedding_params

    meta = {r["run"]: r for r in runs}
    d = design_rows(graduations, runs, stages)
    settings = [json.loads(x) for x in d["settings"]]
    windows = {(g["graduation"]["window_every"], g["graduation"]["windows"]) for g in settings}
    if len(windows) != 1:
        raise ValueError(f"the runs of one hypothesis must share the window grid; they have {sorted(windows)}")
    ((every, count),) = windows
    names = size_names([meta[v] for v in sorted(set(d["variant"]))])
    return Design.from_rows(
        [f"{v}/{s}" for v, s in zip(d["variant"], d["seed"], strict=True)],
        d["stage"].to_numpy(),
        [int(meta[v]["side"] == "on") for v in d["variant"]],
        [math.log(non_embedding_params(meta[v]["model"])) for v in d["variant"]],
        d["steps"].to_numpy(),
        d["censored"].to_numpy(),
        every,
        d["budget"].to_numpy(),  # each row's stage budget, as the run recorded it
        every * count,
        [names[v] for v in d["variant"]],
    )
