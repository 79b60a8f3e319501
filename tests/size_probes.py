"""The rejection rates behind docs/STATISTICS.md's size figures, and four broken tests against the same bounds.

    python tests/size_probes.py          # about 5 minutes on 2 cores

Not collected by pytest (the suite's size tests assert the bounds; this prints the rates). Each line: the rejection
rate at 0.05 and at 0.025 over 300 simulated sets of the default's design with no effect, and the bound the size
tests use. The broken tests show what the size tests cannot catch at this design (docs/STATISTICS.md).
"""

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import test_confirm as T  # noqa: E402

from arithsignal.analysis import permutation  # noqa: E402
from arithsignal.analysis.design import Design  # noqa: E402
from arithsignal.analysis.permutation import relabellings, statistics  # noqa: E402
from arithsignal.analysis.simulation import Scenario, simulate  # noqa: E402
from arithsignal.analysis.survival import fit_batch, grid_floor  # noqa: E402

INTERACTION = replace(Scenario(**T.REAL), median_steps=(1200, 1500, 2000), ratio=2.0, anchor_side="on")


def show(name: str, p) -> None:
    p = np.asarray(p)
    rates = ", ".join(f"{np.mean(p < lv):.3f} at {lv} (bound {T._upper(lv):.3f})" for lv in (0.05, 0.025))
    print(f"{name}: {rates}", flush=True)


def rows_as_runs(sc: Scenario, seed: int) -> list[float]:
    """Broken: every (run, stage) row relabelled on its own, as if the stages of one run were independent runs."""
    rng, out = np.random.default_rng(seed), []
    for i in range(T.SIZE_SIMS):
        d = simulate(sc, rng)
        rows = Design(d.y, np.arange(len(d.stage)), d.stage, d.z[d.row_run], d.stratum[d.row_run],
                      d.log_size[d.row_run], d.graduated, d.window_every, d.log_size_mean, d.stage_names,
                      d.size_names)  # fmt: skip
        labels, _ = relabellings(rows.z, rows.stratum, limit=100, n_mc=99, seed=seed + i)
        out.append(statistics(rows, "effect", "lognormal", labels).p_two_sided())
    return out


def asymptotic(sc: Scenario, seed: int) -> list[float]:
    """Broken: the likelihood ratio read against its asymptotic normal law, every (run, stage) row an independent
    unit (the run's shared part ignored); the suite's test_the_size_check_fails_a_test_that_takes... runs it."""
    from scipy.stats import norm

    rng = np.random.default_rng(seed)
    sims = (simulate(sc, rng) for _ in range(T.SIZE_SIMS))
    return [2 * norm.sf(abs(statistics(d, "effect", "lognormal", d.z[None, :]).r[0])) for d in sims]


def no_window(design, kind, family, value):
    """Broken: the shift without reading both sides within one window per stage and size."""
    on = design.z[design.row_run].astype(float)
    if kind == "effect":
        return design.y.shifted(-value * on), True
    y = design.y.shifted(-value * on * design.log_size[design.row_run])
    red = np.hstack([design.base(), on[:, None]])
    f = fit_batch(family, y, red, design.stage_onehot(), grid_floor(design.y, design.stage))
    return y.shifted(-f.beta[0, -1] * on), True


if __name__ == "__main__":
    show("pooled effect (the test)", T._null_p_values(Scenario(**T.REAL), "effect", 40)[0])
    show("interaction (the test)", T._null_p_values(INTERACTION, "size_interaction", 41)[0])
    across = T._null_p_values(INTERACTION, "size_interaction", 41, strata=False)[0]
    show("interaction, permuted across sizes (broken)", across)
    show("pooled effect, stages as runs, run share 0.35 (broken)",
         rows_as_runs(replace(Scenario(**T.REAL), run_share=0.35), 40))  # fmt: skip
    show("pooled effect, asymptotic, stages as runs, run share 0.35 (broken)", asymptotic(Scenario(**T.REAL), 40))
    permutation.shifted = no_window  # what statistics() calls
    show("interaction, no common window (broken)", T._null_p_values(INTERACTION, "size_interaction", 41)[0])
