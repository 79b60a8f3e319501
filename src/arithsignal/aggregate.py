"""Gathering per-run tables into the metrics tables the figures and summaries read."""

from __future__ import annotations

import pandas as pd

from .io import read_parquet, write_parquet


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
        parts.append(d)
    return pd.concat(parts, ignore_index=True)
