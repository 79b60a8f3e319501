"""Reading and writing the workflow's files: Parquet with provenance, atomic writes.

Every Parquet file carries its provenance twice: as columns (so concatenated
tables keep it per row) and as schema metadata under the key ``arithsignal``.
Reads go through :func:`read_parquet`, which names a corrupt or truncated file
instead of handing back garbage.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import traceback
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .. import __version__

META_KEY = b"arithsignal"
PROVENANCE_COLUMNS = ["variant", "seed", "config_hash", "settings", "package_version", "numerics"]
# wall-clock seconds in train_log (training, of which progress measures, of which graduation windows): the
# only columns that differ between two identical runs
CLOCK_COLUMNS = ["wall_time_s", "measure_time_s", "window_time_s"]


def stable_hash(obj: object, n: int = 12) -> str:
    """A short hash of a JSON-able object, stable across processes and machines (the config hash of provenance)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:n]


class CorruptFileError(RuntimeError):
    """An intermediate file that exists but cannot be trusted."""


def provenance(variant: str, seed: int | None, settings: dict, config_hash: str) -> dict:
    """What a table was computed from and how: the run, its settings and their hash, the package version, and the
    numeric environment of the job that wrote it (numerics.py: the paths torch's kernels took, the CPU, the threads)."""
    from .numerics import recorded

    return {
        "variant": variant,
        "seed": -1 if seed is None else int(seed),
        "config_hash": config_hash,
        "settings": json.dumps(settings, sort_keys=True),
        "package_version": __version__,
        "numerics": recorded(),
    }


def atomic_path(path: str | os.PathLike) -> Path:
    """A temporary sibling of ``path``; rename it onto ``path`` once complete."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    return p.with_name(f".{p.name}.tmp")


def write_parquet(df: pd.DataFrame, path: str | os.PathLike, prov: dict | None = None, as_columns: bool = True) -> None:
    """Write ``df`` (plus provenance columns) atomically and byte-for-byte deterministically. A data column named like
    a provenance column is refused (it would be overwritten): give it a name of its own (a run's seed in a table with
    provenance of its own is ``model_seed``). ``as_columns`` False: the provenance goes in the schema metadata only
    (a table whose rows keep their runs' own provenance columns)."""
    if prov is not None and as_columns:
        clash = sorted(set(df.columns) & set(PROVENANCE_COLUMNS))
        if clash:
            raise ValueError(
                f"{path}: data columns {clash} would be overwritten by the provenance columns; rename them"
            )
        df = df.assign(**{k: prov[k] for k in PROVENANCE_COLUMNS})
    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta.pop(b"pandas", None)  # carries nothing we need, and varies with pandas versions
    if prov is not None:
        meta[META_KEY] = json.dumps(prov, sort_keys=True).encode()
    table = table.replace_schema_metadata(meta)
    tmp = atomic_path(path)
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


def read_parquet(path: str | os.PathLike, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a Parquet file, raising CorruptFileError (naming the file) if it is damaged."""
    try:
        return pq.read_table(path, columns=columns).to_pandas()
    except FileNotFoundError:
        raise
    except (pa.ArrowException, OSError, ValueError) as e:
        raise CorruptFileError(f"{path}: not a readable Parquet file ({e}); delete it to have it rebuilt") from e


def read_provenance(path: str | os.PathLike) -> dict:
    meta = pq.read_schema(path).metadata or {}
    return json.loads(meta[META_KEY]) if META_KEY in meta else {}


@contextlib.contextmanager
def log_to(path: str | os.PathLike):
    """Send stdout and stderr (tracebacks included) of a workflow job to its ``log:`` file."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", buffering=1) as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
        try:
            yield
        except SystemExit:  # a deliberate exit has said why already
            raise
        except BaseException:
            traceback.print_exc()
            raise


def concat(paths: list[str]) -> pd.DataFrame:
    """Concatenate per-run tables; each row keeps its run's provenance columns."""
    frames = [read_parquet(p) for p in paths]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
