"""The real workflow on the smoke preset, in a temporary copy: every rule runs, outputs have their schemas."""

import re

import pyarrow.parquet as pq
import pytest
from conftest import run_dir, run_file, scheduled_jobs, snakemake

from arithsignal.core.io import PROVENANCE_COLUMNS, read_provenance

pytestmark = pytest.mark.workflow
SMOKE = "tests/config/smoke.yaml"
OUT = "results/smoke"  # the smoke preset's folder (tests/config/smoke.yaml); runs and data are shared
BASELINE_FORMAT = "carry1-commas0-commute0-mixed0-scratch1-reverse0"

SCHEMAS = {
    "graduations": {
        "stage",
        "stage_index",
        "pool",
        "unseen_pool",
        "graduated",
        "censored",
        "steps",
        "end_step",
        "windows_run",
        "fit_steps",
        "fit_censored",
        "generalise_steps",
        "generalise_censored",
    },  # fmt: skip
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
        "window_time_s",
        "answer_token_accuracy",
        "scratchpad_token_accuracy",
        "carry_token_accuracy",
        "weight_norm_matrices",
        "weight_norm_vectors",
        "grad_snr_matrices",
        "grad_snr_vectors",
        "noise_scale_b_simple",
        "update_share_matrices",
        "hold",
    },
    "windows": {
        "step",
        "stage",
        "stage_step",
        "window",
        "exact_match",
        "answer_exact_match",
        "digit_accuracy",
        "passed",
        "streak",
        "pool",
        "train_exact_match",
        "train_answer_exact_match",
        "train_streak",
        "unseen_exact_match",
        "unseen_answer_exact_match",
        "unseen_streak",
        "hold",
    },  # fmt: skip
    "eval": {
        "stage",
        "split",
        "when",
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
        "answer_correct",
    },
    "length": {
        "stage",
        "split",
        "when",
        "op",
        "a",
        "b",
        "shape",
        "kind",
        "digits_a",
        "digits_b",
        "prediction",
        "correct",
        "digit_accuracy",
    },
}


VARIANTS = (
    "baseline",
    "carry_off",
    "commas_on",
    "commute_on",
    "mixed_on",
    "scratchpad_off",
    "reverse_on",
    "clip_off",
    "snr_gated",
    "vectors_own",
    "abacus",
)  # the smoke preset's


@pytest.fixture(scope="module")
def smoke_run(smoke_tree):
    return smoke_tree


def test_every_metrics_table_has_its_schema_and_provenance(smoke_run):
    for table, cols in SCHEMAS.items():
        path = smoke_run / OUT / "metrics" / f"{table}.parquet"
        names = set(pq.read_schema(path).names)
        assert cols | set(PROVENANCE_COLUMNS) <= names, (table, cols - names)
        df = pq.read_table(path).to_pandas()
        assert len(df) and set(df["variant"]) == set(VARIANTS)
        assert (df["package_version"] != "").all() and (df["config_hash"].str.len() == 12).all()


def test_every_parquet_file_carries_provenance(smoke_run):
    files = list((smoke_run / "results").rglob("*.parquet"))
    assert len(files) > 20
    for f in files:
        # the gathered tables (ablation_stats too) keep provenance per row, as columns;
        # per-ablation and per-sweep ones carry their own
        gathered = not f.name.startswith(("ablation_", "sweep_")) or f.name == "ablation_stats.parquet"
        if "metrics" in f.parts and gathered:
            continue
        prov = read_provenance(f)
        assert set(PROVENANCE_COLUMNS) <= set(prov), f


def test_every_rule_logged_to_its_log_file(smoke_run):
    # the runs' jobs log to the shared results/logs, the preset's own jobs to its folder's logs/
    logs = {p.relative_to(root).parts[0] for root in (smoke_run / "results/logs", smoke_run / OUT / "logs")
            for p in root.rglob("*.log")}  # fmt: skip
    expected = {"make_dataset", "train", "evaluate", "aggregate.log", "ablation_stats", "plot_ablation",
                "plot_progress"}  # fmt: skip
    assert expected | {"plot_failures.log", "summary.log"} <= logs
    train_log = next((smoke_run / "results/logs/train").rglob("*.log")).read_text()
    assert "steps/s" in train_log and "stage add_1x1" in train_log


def test_second_run_has_nothing_to_do(smoke_run):
    r = snakemake(smoke_run, "all", "-n", "--cores", "2", "--configfile=tests/config/smoke.yaml")
    assert r.returncode == 0
    assert "Nothing to be done" in r.stdout + r.stderr


def test_every_figure_exists(smoke_run):
    res = smoke_run / OUT
    pdfs = [
        f"ablation_{a}.pdf"
        for a in ("carry", "commas", "commute", "mixed", "scratchpad", "reverse", "snr_gate", "vectors", "clip")
    ]
    pdfs += [f"progress_{v}.pdf" for v in VARIANTS]
    pdfs += ["failures.pdf"] + [
        f"minimal_model_{e}.pdf" for e in ("dynamics", "batch_size", "weight_decay", "dimension", "per_class")
    ]
    pdfs += ["sweep_recipe.pdf", "sweep_size.pdf", "scaling.pdf", "map_carry.pdf"]
    for name in pdfs:
        data = (res / name).read_bytes()
        assert data.startswith(b"%PDF-") and b"%%EOF" in data[-64:], name


def test_the_summary_names_every_claim_and_its_measures(smoke_run):
    res = smoke_run / OUT
    assert "grad_clip=none, schedule=cosine" in (res / "sweep_recipe.md").read_text()
    summary = (res / "summary.md").read_text()
    claims = ("1. Carry mask", "2. Commas", "3. Mixed operand lengths", "4. Both orders", "5. Graduation",
              "6. Early failures", "7. Scratchpad", "8. Gradient clipping", "9. Memorisation", "Reversed digits",
              "SNR-gated update", "Per-class learning rate", "No early stopping needed",
              "Overhead of the SNR gate")  # fmt: skip
    for claim in claims:
        assert claim in summary
    assert "Not measured" not in summary  # every claim has its ablation and measure in the smoke preset
    memorisation = summary[summary.index("## 9. Memorisation") :]
    # the smoke model fits nothing in 300 steps: the section says there is no phase to measure
    # (test_stats checks the table)
    assert "runs with a phase, carry on" in memorisation or "No phase to measure" in memorisation
    assert "update share, matrices, on" in summary and "graduation windows (both pools) took" in summary
    assert "**Graduating means generalising**" in summary and "held-out exact match at stage end" in summary
    minimal = (res / "minimal_model_summary.md").read_text()
    for section in ("1. Dynamics", "2. Dimension", "3. Batch size", "4. Weight decay", "5. Per-class settings",
                    "time scales"):  # fmt: skip
        assert section in minimal


def test_the_ablation_table_marks_where_the_data_differ(smoke_run):
    res = smoke_run / OUT
    summary = (res / "summary.md").read_text()
    stats = pq.read_table(res / "metrics/ablation_stats.parquet").to_pandas()
    assert set(stats["ablation"]) == {"carry", "commas", "commute", "mixed", "scratchpad", "reverse", "snr_gate",
                                      "vectors", "clip"}  # fmt: skip
    hold = summary[summary.index("## No early stopping needed") : summary.index("## Overhead of the SNR gate")]
    # a row per run set
    assert re.search(r"\| snr_gated +\| snr_gated +\| 1 ", hold) and re.search(r"\| baseline +\| adamw +\| 1 ", hold)
    assert stats[stats["ablation"] == "clip"]["sides_differ"].all() and set(
        stats[stats["ablation"] == "clip"]["expect"]
    ) == {"slower"}
    measures = ("ratio", "ratio_kind", "ci_low", "ci_high", "censored_on", "censored_off", "gehan_u", "p_value",
                "verdict")  # fmt: skip
    assert {p + m for p in ("", "fit_", "answer_", "first_good_") for m in measures} | {"sides_differ"} <= set(
        stats.columns
    )
    assert {"stage_end_exact_match_on", "stage_end_exact_match_off"} <= set(stats.columns)
    assert set(stats["verdict"]) <= {"supported", "contradicted", "undecided (unadjusted)", "at the floor",
                                     "not testable"}  # fmt: skip
    # commas change no number below 1,000: none of the smoke stages (sums and products under 1,000)
    assert not stats[stats["ablation"] == "commas"]["sides_differ"].any()
    assert stats[stats["ablation"] == "carry"].set_index("stage")["sides_differ"].to_dict() == {
        "add_1x1": True, "add_2x2": True, "mul_2x1": False}  # fmt: skip
    assert (
        "## Per-stage readings (exploratory)" in summary and "these readings are exploratory, not decisions" in summary
    )


def test_the_scaling_fit_and_the_confirmatory_family(smoke_run):
    res = smoke_run / OUT
    summary = (res / "summary.md").read_text()
    # the scaling fit: both variants at every stage, the carry comparison, and its section in the summary
    # the runs' seeds survive the tables' own provenance (its seed column is the table's, not a run's)
    assert (pq.read_table(res / "metrics/sweep_size.parquet").to_pandas()["model_seed"] == 0).all()
    fit = pq.read_table(res / "metrics/scaling_fit.parquet").to_pandas()
    assert set(fit["name"]) == {"carry"} and len(fit) == 3
    # the stages where the carry mask leaves the data alone are marked as such, as in the ablation's table
    assert fit.set_index("stage")["sides_differ"].to_dict() == {"add_1x1": True, "add_2x2": True, "mul_2x1": False}
    # the confirmatory family comes first, every outcome made of the four
    assert summary.index("## Decisions: the primary family (confirmatory)") < summary.index("## Exploratory analyses")
    from arithsignal.analysis.confirm import OUTCOMES, outcome_parts

    primary = pq.read_table(res / "metrics/confirmatory.parquet").to_pandas()
    members, sizes = primary[primary["member"]], primary[~primary["member"]]
    threshold = "commute_accuracy: baseline's commute_exact_match above 0.9"
    assert list(members["hypothesis"]) == ["carry: pooled effect", "carry: effect x model size",
                                           "commute: pooled effect", threshold]  # fmt: skip
    assert all(part in OUTCOMES for text in primary["outcome"] for part in outcome_parts(text))
    # the smoke preset runs one seed: the threshold hypothesis is in the family, its reading needs two
    row = members.set_index("hypothesis").loc[threshold]
    assert row["kind"] == "threshold" and row["outcome"].endswith("(not identified: fewer than 2 seeds)")
    # the carry entry spans two sizes: its effect at each, judged per size; robustness beside every decision
    assert list(sizes["kind"]) == ["effect at size"] * 2 and all(
        h.startswith("carry: effect at d_model") for h in sizes["hypothesis"]
    )
    assert all(f == "robust" or f.startswith("fragile: ") or f == "" for f in members["fragility"])
    assert (members["model"] == ["lognormal"] * 3 + ["t-test"]).all() and members["data_hash"].str.len().eq(12).all()
    for section in ("**The effect at each model size**", "**Robustness of each decision**",
                    "### Every attempt at each hypothesis"):  # fmt: skip
        assert section in summary
    assert "## Scaling of steps to graduation with model size" in summary and "carry (baseline vs carry_off)" in summary


def test_the_map_has_every_size_and_stage_with_a_reading(smoke_run):
    """The map path: the carry mask over the size sweep's two sizes and every stage, each cell read as one of the
    defined readings (the smoke's numbers mean nothing), marked where the sides' data are alike, and in the summary."""
    from arithsignal.analysis.maps import CLAIMED_READINGS, READINGS

    res = smoke_run / OUT
    cells = pq.read_table(res / "metrics/map_carry.parquet").to_pandas()
    assert sorted(zip(cells["size"], cells["stage"], strict=True)) == sorted(
        (f"d_model {d}", s) for d in (16, 32) for s in ("add_1x1", "add_2x2", "mul_2x1")
    )
    assert set(cells["reading"]) <= set(READINGS) and set(cells["claimed_reading"]) <= set(CLAIMED_READINGS)
    assert cells.set_index(["size", "stage"])["sides_differ"].xs("mul_2x1", level="stage").eq(False).all()
    assert (cells["n_on"] + cells["not_reached_on"] == 1).all()  # one seed, every stage reached or counted not
    assert "## Map: where the carry ablation matters (exploratory)" in (res / "summary.md").read_text()


def test_the_threshold_hypothesis_reads_the_runs_held_out_evaluations(smoke_run, tmp_path):
    """The confirmatory job on the smoke runs' own tables, with the baseline's evaluation copied as a second seed
    (half its b×a answers flipped): the threshold is read per seed at each judged stage's end, and decided."""
    import pandas as pd

    from arithsignal.analysis.confirm import OUTCOMES, confirm_job, outcome_parts
    from arithsignal.config.experiment import analysis_runs, merged
    from arithsignal.core.io import read_parquet, write_parquet

    cfg = merged(smoke_run / "config.yaml", [smoke_run / SMOKE])
    entry = cfg["analysis"]["family"][2]
    evaluation = read_parquet(run_file(smoke_run / run_dir(smoke_run, "baseline", SMOKE), "eval"))
    second = evaluation.assign(seed=1)
    flip = (second["split"] == "commute") & (second.index % 2 == 0)
    second.loc[flip, "correct"] = ~second.loc[flip, "correct"]
    write_parquet(second, tmp_path / "seed1.parquet")
    grads = [str(smoke_run / run_dir(smoke_run, v, SMOKE) / "graduations.parquet") for v in ("baseline", "carry_off")]
    out = tmp_path / "confirmatory.parquet"
    analysis = {**cfg["analysis"], "family": [entry]}
    confirm_job(
        grads,
        analysis,
        {entry["name"]: analysis_runs(cfg, entry)},
        str(out),
        [str(run_file(smoke_run / run_dir(smoke_run, "baseline", SMOKE), "eval")), str(tmp_path / "seed1.parquet")],
    )
    (row,) = pd.read_parquet(out).to_dict("records")
    assert row["identified"] and row["runs"] == 2 and row["kind"] == "threshold"
    assert all(p in OUTCOMES for p in outcome_parts(row["outcome"])) and 0 <= row["estimate"] <= 1
    per_seed = pd.read_json(pd.io.common.StringIO(row["values"]), typ="series")["per_seed"]
    assert set(per_seed) == {"0", "1"} and all(len(v) == 2 for v in per_seed.values())
    assert per_seed["0"] != per_seed["1"]  # the flipped answers are read: seed 1 is its own reading


def test_the_length_split_scores_every_run_and_compares_every_ablation(smoke_run):
    res = smoke_run / OUT
    summary = (res / "summary.md").read_text()
    stats = pq.read_table(res / "metrics/ablation_stats.parquet").to_pandas()
    # the length split: one row per problem of every run, every run's extension, every ablation compared, a figure each
    scores = pq.read_table(res / "metrics/length.parquet").to_pandas()
    assert set(scores["variant"]) == set(VARIANTS) and set(scores["kind"]) == {"trained", "interpolation",
                                                                                "extrapolation"}  # fmt: skip
    assert len(scores) == len(VARIANTS) * len(
        pq.read_table(next(smoke_run.glob(f"results/data/*/{BASELINE_FORMAT}/length_*.parquet"))).to_pandas()
    )
    extension = pq.read_table(res / "metrics/length_runs.parquet").to_pandas()
    assert len(extension) == len(VARIANTS) and (extension["trained"] == 2).all() and (extension["tested"] == 3).all()
    assert extension["extension"].between(0, 1.5).all()
    compared = pq.read_table(res / "metrics/length_ablations.parquet").to_pandas()
    assert set(compared["ablation"]) == set(stats["ablation"]) and (compared["family_size"] == len(compared)).all()
    assert all(re.fullmatch(r"not testable.*|same on every run.*|extends (further|less) with the factor"
                            r"|undecided \(Holm over \d+\)", o)
               for o in compared["outcome"])  # fmt: skip
    assert "## Length generalisation (the length split)" in summary and "| abacus | add | 1 |" in summary
    for a in stats["ablation"].unique():
        assert (res / f"length_{a}.pdf").read_bytes().startswith(b"%PDF-")


def test_figures_have_their_panels(smoke_run, tmp_path):
    """Build each kind of figure again from the smoke tree's files and check its panels' titles and axis labels."""
    from arithsignal.report.figures.ablation import plot_ablation
    from arithsignal.report.figures.progress import PROGRESS_PANELS, plot_progress
    from arithsignal.report.figures.sweep import plot_sweep

    res, stages = smoke_run / OUT, ["add_1x1", "add_2x2", "mul_2x1"]
    run = {v: smoke_run / run_dir(smoke_run, v, "tests/config/smoke.yaml") for v in ("baseline", "carry_off")}
    runs = {t: [str(run_file(run[v], t)) for v in run] for t in ("graduations", "windows", "eval")}
    ablation = {"name": "carry", "factor": "carry_mask", "on_variant": "baseline", "off_variant": "carry_off"}
    panels = plot_ablation({"stats": str(res / "metrics/ablation_carry.parquet"), **runs}, ablation,
                           {"baseline": "baseline", "carry_off": "carry_off"}, stages,
                           str(tmp_path / "a.pdf"))  # fmt: skip
    text = "\n".join(panels)
    assert len(panels) == 5 + len(stages)  # four steps panels, the accuracy panel, a Kaplan-Meier panel per stage
    for part in ("steps to generalise", "steps to fit", "answer-only rule", "first window with exact match >= 0.9",
                 "Kaplan-Meier", "held-out exact match at each stage's end"):  # fmt: skip
        assert part in text, (part, panels)
    assert [p.split(" | ")[0] for p in panels if "Kaplan-Meier" in p or p.split(" | ")[0] in stages] == stages
    panels = plot_sweep(str(res / "metrics/sweep_recipe.parquet"), stages, "recipe", str(tmp_path / "s.pdf"))
    assert [p.split(" | ")[0] for p in panels] == [*stages, "training wall time per run"]
    logs = [str(run_file(run["baseline"], t)) for t in ("train_log", "windows", "graduations")]
    panels = plot_progress(*([p] for p in logs), "baseline", str(tmp_path / "p.pdf"))
    assert [p.split(" | ")[0] for p in panels][:-1] == [title for title, *_ in PROGRESS_PANELS]
    assert panels[-1].startswith("memorisation: window exact match, train pool vs unseen pool") and panels[-1].endswith(
        "exact match"
    )
    assert panels[-1].split(" | ")[1] == "optimizer step"


def test_the_report_gathers_every_figure(smoke_run):
    r = snakemake(smoke_run, "--report", f"{OUT}/report.html", "--configfile=tests/config/smoke.yaml")
    assert r.returncode == 0, r.stderr[-3000:]
    html = (smoke_run / OUT / "report.html").read_text(errors="replace")
    for name in ("ablation_carry.pdf", "ablation_commute.pdf", "failures.pdf", "progress_baseline.pdf", "summary.html"):
        assert name in html, name
    assert "Decisions" in html  # the summary, as a page, in a category of its own


def test_every_figure_is_byte_identical_when_built_again(smoke_run, tmp_path):
    """Same data, same bytes: rebuild every figure of a copy of the smoke tree, in another folder, each job a fresh
    process, and compare it with the figure the smoke tree's own build drew."""
    import shutil

    tree = tmp_path / "tree"
    shutil.copytree(smoke_run, tree, symlinks=True)
    plots = ["plot_ablation", "plot_progress", "plot_failures", "plot_minimal_model", "plot_sweep", "plot_scaling",
             "plot_length", "plot_map"]  # fmt: skip
    figures = sorted(p.relative_to(tree) for p in (tree / OUT).glob("*.pdf"))
    # ablations, progress per variant, failures, minimal model, sweeps, scaling, length per ablation, the map
    assert len(figures) == 9 + 11 + 1 + 5 + 2 + 1 + 9 + 1, figures
    first = {f: (smoke_run / f).read_bytes() for f in figures}
    r = snakemake(tree, "all", "--cores", "2", "--forcerun", *plots, "--configfile=tests/config/smoke.yaml")
    assert r.returncode == 0, r.stderr[-3000:]
    assert all(f"rule {p}:" in r.stdout + r.stderr for p in plots), "a figure rule did not run again"
    differ = [str(f) for f in figures if first[f] != (tree / f).read_bytes()]
    assert not differ, f"figures that differ between two builds from the same data: {differ}"


def test_the_command_line_reads_a_results_folder(smoke_run, capsys, tmp_path):
    """`compare` finds a tree equal to itself; `timings` reports every variant's runs and the measures' time shares."""
    from arithsignal.__main__ import main

    res, own = str(smoke_run / "results"), str(smoke_run / OUT)  # runs are shared; figures are the preset's
    assert main(["compare", res, res]) == 0
    assert "tables identical" in capsys.readouterr().out
    assert main(["timings", res]) == 0
    out = capsys.readouterr().out
    for v in VARIANTS:
        assert f"| {v}-" in out, out  # each run by its folder, variant-key
    assert " nan " not in out  # every run's benchmark file is found (in its run's folder name)
    shares = re.search(r"graduation windows (\d+\.\d+)% to (\d+\.\d+)%", out)
    assert shares and 0 < float(shares[1]) <= float(shares[2]) < 100, out
    # the README's picture: the scaling figure, drawn by the workflow's own function
    assert main(["png", own, str(tmp_path / "figure.png")]) == 0
    assert (tmp_path / "figure.png").read_bytes().startswith(b"\x89PNG")
    assert main(["png", str(tmp_path), str(tmp_path / "none.png")]) == 2  # no scaling table: said, not drawn
    # an ablation's length figure, from the tables length_stats wrote
    assert main(["png", own, str(tmp_path / "length.png"), "--length", "carry"]) == 0
    assert (tmp_path / "length.png").read_bytes().startswith(b"\x89PNG")
    assert main(["png", own, str(tmp_path / "none.png"), "--length", "nope"]) == 2  # an unknown ablation: named
    assert main(["png", str(tmp_path), str(tmp_path / "none.png"), "--length", "carry"]) == 2


def test_the_workflow_plans_from_another_working_directory(workflow_copy, tmp_path):
    # configfile: is the workflow's own; a relative --configfile is read from where Snakemake is called
    other = tmp_path / "elsewhere"
    default = scheduled_jobs(workflow_copy, "-d", str(other), "all")
    assert ("train", "variant=mixed_on, seed=25") in default and not any(r == "evaluate_length" for r, _ in default)
    smoke = scheduled_jobs(workflow_copy, "-d", str(other), "all", "--configfile=tests/config/smoke.yaml")
    assert ("train", "variant=abacus, seed=0") in smoke and any(r == "evaluate_length" for r, _ in smoke)
    assert not (workflow_copy / "results").exists()
