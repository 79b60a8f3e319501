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
        "measure_time_s",
        "answer_token_accuracy",
        "scratchpad_token_accuracy",
        "carry_token_accuracy",
        "weight_norm_matrices",
        "weight_norm_vectors",
        "grad_snr_matrices",
        "grad_snr_vectors",
        "noise_scale_b_simple",
        "update_share_matrices",
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
        assert len(df) and set(df["variant"]) == {"baseline", "carry_off", "commas_on", "commute_on", "mixed_on"}
        assert (df["package_version"] != "").all() and (df["config_hash"].str.len() == 12).all()


def test_every_parquet_file_carries_provenance(smoke_run):
    files = list((smoke_run / "results").rglob("*.parquet"))
    assert len(files) > 20
    for f in files:
        if "metrics" in f.parts:
            continue
        prov = read_provenance(f)
        assert set(PROVENANCE_COLUMNS) <= set(prov), f


def test_every_rule_logged_to_its_log_file(smoke_run):
    logs = {p.relative_to(smoke_run / "results/logs").parts[0] for p in (smoke_run / "results/logs").rglob("*.log")}
    expected = {"make_dataset", "train", "evaluate", "aggregate.log", "ablation_stats", "plot_ablation", "plot_progress"}
    assert expected | {"plot_failures.log", "summary.log"} <= logs
    train_log = next((smoke_run / "results/logs/train").rglob("*.log")).read_text()
    assert "steps/s" in train_log and "stage add_1x1" in train_log


def test_second_run_has_nothing_to_do(smoke_run):
    r = snakemake(smoke_run, "all", "-n", "--cores", "2", "--configfile=tests/config/smoke.yaml")
    assert r.returncode == 0
    assert "Nothing to be done" in r.stdout + r.stderr


def test_every_figure_and_the_summary_exist(smoke_run):
    res = smoke_run / "results"
    pdfs = [f"ablation_{a}.pdf" for a in ("carry", "commas", "commute", "mixed")]
    pdfs += [f"progress_{v}.pdf" for v in ("baseline", "carry_off", "commas_on", "commute_on", "mixed_on")]
    pdfs += ["failures.pdf"] + [f"minimal_model_{e}.pdf" for e in ("dynamics", "batch_size", "weight_decay", "dimension")]
    for name in pdfs:
        data = (res / name).read_bytes()
        assert data.startswith(b"%PDF-") and b"%%EOF" in data[-64:], name
    summary = (res / "summary.md").read_text()
    for claim in ("1. Carry mask", "2. Commas", "3. Mixed operand lengths", "4. Both orders", "5. Graduation", "6. Early failures"):
        assert claim in summary
    minimal = (res / "minimal_model_summary.md").read_text()
    for section in ("1. Dynamics", "2. Dimension", "3. Batch size", "4. Weight decay"):
        assert section in minimal
    stats = pq.read_table(res / "metrics/ablation_stats.parquet").to_pandas()
    assert set(stats["ablation"]) == {"carry", "commas", "commute", "mixed"}
    assert {"ratio", "ratio_kind", "ci_low", "ci_high", "censored_on", "censored_off"} <= set(stats.columns)


def test_the_report_gathers_every_figure(smoke_run):
    r = snakemake(smoke_run, "--report", "results/report.html", "--configfile=tests/config/smoke.yaml")
    assert r.returncode == 0, r.stderr[-3000:]
    html = (smoke_run / "results/report.html").read_text(errors="replace")
    for name in ("ablation_carry.pdf", "ablation_commute.pdf", "failures.pdf", "progress_baseline.pdf", "summary.md"):
        assert name in html, name
