"""Gathering per-run tables into the metrics tables the figures and summaries read."""

from __future__ import annotations

import json
import math

import pandas as pd

from .config import stable_hash
from .io import provenance, read_parquet, write_parquet
from .stats import ablation_table


def concat(paths: list[str]) -> pd.DataFrame:
    """Concatenate per-run tables; each row keeps its run's provenance columns."""
    frames = [read_parquet(p) for p in paths]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def aggregate_job(inputs: dict[str, list[str]], outputs: dict[str, str]) -> None:
    """Job entry point: one metrics table per kind of per-run table."""
    for table, out in outputs.items():
        df = concat(inputs[table])
        write_parquet(df, out)
        print(f"{table}: {len(df)} rows from {len(inputs[table])} runs -> {out}")


def ablation_sides(grads: pd.DataFrame, ablation: dict, canonical: dict[str, str]) -> pd.DataFrame:
    """Graduation rows of an ablation's two variants, labelled with side 'on' / 'off'.

    Variants trained once for several names (see config.canonical_variants) are
    looked up under their canonical name.
    """
    parts = []
    for side in ("on", "off"):
        d = grads[grads["variant"] == canonical[ablation[f"{side}_variant"]]].copy()
        d["side"] = side
        d["shown_as"] = ablation[f"{side}_variant"]
        parts.append(d)
    out = pd.concat(parts, ignore_index=True)
    if "settings" in out:
        out["budget"] = [json.loads(s)["curriculum"]["stage_budget"] for s in out["settings"]]
    return out


def ablation_stats_job(graduation_paths: list[str], ablation: dict, canonical: dict[str, str], stage_order: list[str], out: str) -> None:
    """Job entry point: results/metrics/ablation_<name>.parquet, the per-stage ratio table of one ablation."""
    sides = ablation_sides(concat(graduation_paths), ablation, canonical)
    table = ablation_table(sides, stage_order)
    table.insert(0, "ablation", ablation["name"])
    table.insert(1, "factor", ablation["factor"])
    settings = {"ablation": ablation, "canonical": canonical}
    write_parquet(table, out, provenance(ablation["name"], None, settings, stable_hash(settings)))
    print(table.drop(columns=["ablation"]).to_string())


def failure_table(evals: pd.DataFrame) -> pd.DataFrame:
    """Failed held-out problems with the rank of the correct token in the top-k at the first wrong token."""
    f = evals[~evals["correct"]].copy()
    k = max((len(t) for t in f["topk_tokens"]), default=0)

    def rank(row) -> int:
        toks = list(row["topk_tokens"])
        return toks.index(row["target_token"]) + 1 if row["target_token"] in toks else k + 1

    f["target_rank"] = [rank(r) for _, r in f.iterrows()] if len(f) else []
    f["logit_gap"] = [
        (lg[0] - lg[list(t).index(tt)]) if tt in list(t) else math.nan
        for lg, t, tt in zip(f["topk_logits"], f["topk_tokens"], f["target_token"], strict=True)
    ]
    return f
