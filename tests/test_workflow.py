"""The real workflow on the smoke preset, in a temporary copy: every rule runs, outputs have their schemas."""

import pyarrow.parquet as pq
import pytest
from conftest import snakemake

from arithsignal.io import PROVENANCE_COLUMNS, read_provenance

pytestmark = pytest.mark.workflow

SCHEMAS = {
    "graduations": {"stage", "stage_index", "graduated", "censored", "steps", "end_step", "windows_run"},
    "train_log": {
        "step",
        "stage",
        "stage_step",
        "loss",
        "token_accuracy",
        "lr",
        "grad_norm",
        "clip_fraction",
        "tokens_seen",
        "wall_time_s",
    },
    "windows": {"step", "stage", "stage_step", "window", "exact_match", "digit_accuracy", "passed", "streak"},
    "eval": {
        "stage",
        "split",
        "a",
        "b",
        "prompt",
        "completion",
        "prediction",
        "correct",
        "first_wrong",
        "digit_accuracy",
        "target_token",
        "topk_tokens",
        "topk_logits",
        "error_class",
    },
}


@pytest.fixture(scope="module")
def smoke_run(smoke_tree):
    return smoke_tree


def test_every_metrics_table_has_its_schema_and_provenance(smoke_run):
    for table, cols in SCHEMAS.items():
        path = smoke_run / "results/metrics" / f"{table}.parquet"
        names = set(pq.read_schema(path).names)
        assert cols | set(PROVENANCE_COLUMNS) <= names, (table, cols - names)
        df = pq.read_table(path).to_pandas()
        assert len(df) and set(df["variant"]) == {"baseline", "carry_off"}
        assert (df["package_version"] != "").all() and (df["config_hash"].str.len() == 12).all()


def test_every_parquet_file_carries_provenance(smoke_run):
    files = list((smoke_run / "results").rglob("*.parquet"))
    assert len(files) > 20
    for f in files:
        if "metrics" in f.parts:
            continue
        prov = read_provenance(f)
        assert set(PROVENANCE_COLUMNS) <= set(prov), f


def test_figures_are_valid_pdfs(smoke_run):
    for name in ("ablation_carry.pdf", "curriculum.pdf"):
        data = (smoke_run / "results" / name).read_bytes()
        assert data.startswith(b"%PDF-") and b"%%EOF" in data[-64:], name
        assert len(data) > 5000


def test_every_rule_logged_to_its_log_file(smoke_run):
    logs = {p.relative_to(smoke_run / "results/logs").parts[0] for p in (smoke_run / "results/logs").rglob("*.log")}
    assert {"make_dataset", "train", "evaluate", "aggregate.log", "plot_ablation", "plot_curriculum.log"} <= logs
    train_log = next((smoke_run / "results/logs/train").rglob("*.log")).read_text()
    assert "steps/s" in train_log and "stage add_1x1" in train_log


def test_second_run_has_nothing_to_do(smoke_run):
    r = snakemake(smoke_run, "all", "-n", "--cores", "2", "--configfile=tests/config/smoke.yaml")
    assert r.returncode == 0
    assert "Nothing to be done" in r.stdout + r.stderr
