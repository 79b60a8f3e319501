"""Damaged files are named, never read as data; provenance travels with every Parquet file."""

import pandas as pd
import pytest
import torch

from arithsignal.core.io import CorruptFileError, provenance, read_parquet, read_provenance, write_parquet
from arithsignal.train.checkpoint import load_checkpoint, save_checkpoint


def test_truncated_parquet_is_named(tmp_path):
    path = tmp_path / "t.parquet"
    write_parquet(pd.DataFrame({"x": range(100)}), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFileError, match=str(path)):
        read_parquet(path)


def test_garbage_parquet_is_named(tmp_path):
    path = tmp_path / "g.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(CorruptFileError, match="g.parquet"):
        read_parquet(path)


def test_truncated_checkpoint_is_named(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"model": {"w": torch.ones(1000)}, "counters": [1, 2]})
    assert load_checkpoint(path)["counters"] == [1, 2]
    data = path.read_bytes()
    path.write_bytes(data[:200])
    with pytest.raises(CorruptFileError, match="checkpoint.pt"):
        load_checkpoint(path)


def test_provenance_is_in_columns_and_metadata(tmp_path):
    path = tmp_path / "p.parquet"
    prov = provenance("carry_off", 2, {"factors": {"carry_mask": False}}, "abc123abc123")
    write_parquet(pd.DataFrame({"x": [1, 2]}), path, prov)
    df = read_parquet(path)
    assert (df["variant"] == "carry_off").all() and (df["seed"] == 2).all()
    assert read_provenance(path) == prov


def test_a_data_column_named_like_provenance_is_refused_not_overwritten(tmp_path):
    prov = provenance("sweep_size", None, {}, "abc123abc123")
    with pytest.raises(ValueError, match=r"\['seed'\] would be overwritten"):
        write_parquet(pd.DataFrame({"seed": [3, 4]}), tmp_path / "s.parquet", prov)
    write_parquet(pd.DataFrame({"seed": [3, 4]}), tmp_path / "plain.parquet")  # without provenance the name is free
