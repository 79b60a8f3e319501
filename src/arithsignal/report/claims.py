"""The words of summary.md: each claim of the write-up as it is quoted, and how the run's measures read it.

The templates are summary.md's text line for line; their ``{fields}`` are filled by report/summary.py's sections
and report/decisions.py, through :func:`lines`.
"""


def lines(template: str, **fields: object) -> list[str]:
    """A template's lines with its fields filled (its closing newline gives the closing blank line)."""
    return template.format(**fields).split("\n")


# the claims an ablation measures, per factor: (section title, the claim)
CLAIMS = {
    "carry_mask": (
        "1. Carry mask",
        "A carry-mask line in the scratchpad cut convergence on 4-digit multiplication from about 120k to about 25k "
        "steps (ratio without/with about 4.8).",
    ),
    "commas": ("2. Commas", "Thousands separators (1,234) speed convergence a lot (ratio without/with well above 1)."),
    "mixed_lengths": (
        "3. Mixed operand lengths",
        "Mixing problems with a shorter operand into each stage makes training faster (ratio without/with above 1), "
        "though the problem space is larger.",
    ),
    "commute": (
        "4. Both orders (a x b and b x a)",
        "Training on both orders converges faster (ratio without/with above 1); a model trained on a x b only still "
        "gets over 90% on b x a while in distribution it is at 99.9999%.",
    ),
    "scratchpad": (
        "7. Scratchpad",
        "Without the scratchpad (the prompt, then the answer alone) the same problems take significantly longer to "
        "converge (ratio without/with above 1).",
    ),
    "optim.grad_clip": (
        "8. Gradient clipping",
        "Gradient clipping holds back the path from the weak generalised solution to the strong one: training "
        "converges faster without it (ratio without/with below 1; the verdict reads against this claim, so supported "
        "means slower with clipping). The write-up saw it in gradient norms and in how few weights were being updated.",
    ),
    "reverse": (
        "Reversed digits (Lee et al. 2023)",
        "Writing every number the model produces least-significant digit first makes arithmetic much easier to learn "
        "(ratio forwards/reversed above 1).",
    ),
    "optim.name": (
        "SNR-gated update (the 'SNR preconditioner' article)",
        "Damping the update along low-SNR directions (each coordinate's AdamW step scaled by min(1, SNR / threshold), "
        "docs/OPTIMIZERS.md) accelerates convergence (ratio AdamW/gated above 1).",
    ),
    "optim.vectors": (
        "Per-class learning rate and weight decay (the minimal-model paper)",
        "Regime-aware settings, vectors and scalars (signal-dominated) with their own learning rate and weight decay "
        "apart from the matrices (noise-dominated), speed convergence (ratio shared/own settings above 1).",
    ),
}
GRADUATION_MEANS = {
    "unseen": "**Graduating means generalising**: the rule decides on problems the model never trained on (each "
    "stage's unseen pool), as in the write-up, where 4x4 multiplication is far too large a space for a sampled problem "
    "to have been trained on; a stage too small to hold problems out (1-digit facts, pool 'train' in the tables) "
    "graduates on its training problems. Steps to fit (the same rule on training problems) are reported beside it, "
    "and their difference is the memorisation phase.",
    "train": "**Graduating means fitting**: this run's rule decides on training problems (graduation.pool: train), "
    "which a model can get right by memorising them; steps to generalise (the same rule on problems never trained on) "
    "are reported beside it.",
}
# the preset that measures a factor the config has no ablation of
NOT_MEASURED = {
    "scratchpad": "presets/scratchpad.yaml",
    "optim.grad_clip": "presets/new_claims.yaml",
    "reverse": "presets/new_claims.yaml",
    "optim.name": "presets/optimizers.yaml",
    "optim.vectors": "presets/optimizers.yaml",
    "carry_mask": "config.yaml",
    "commas": "config.yaml",
    "commute": "config.yaml",
    "mixed_lengths": "config.yaml",
}

PRIMARY = """\
## Decisions: the primary family (confirmatory)

The {m} hypotheses declared in the config before the run (analysis.family), decided by one rule with Holm's
correction over the family (docs/STATISTICS.md). Each comes from one censored accelerated-failure-time model over
every run and judged stage (steps to generalise, read on the window grid as intervals), of the distribution the
config declares (analysis.model), tested by permuting whole runs between the sides within model size. Intervals
are simultaneous over the family (each at 1 - {alpha:g}/{m}) and invert the test; an end the test cannot reach
inside the testable range (where every stage and size keeps a window after the shift) reads 'unbounded'.
**effect**: Holm p < {alpha:g}; **equivalent**: the two one-sided tests put the effect inside the smallest
effect of interest; **claimed size excluded from above / below**, **consistent with** or **not excluded**: the
interval against the claim's own size; otherwise **undecided at this design**, with the smallest effect it could
detect at 80% power. Where the runs span model sizes, equivalence and the claimed size are judged at each size
(next table), never on the size-averaged effect alone. **fragile**: the decision's significance (or an effect's
direction) changes when one stage is left out or under the other distribution (the lines after the tables).
A **threshold** hypothesis tests a variant's held-out exact match at the end of its judged stages against a
declared bar, seeds as the unit: per stage a one-sample t-test of the seeds' log-odds (the typical model); **held**:
Holm p < {alpha:g} with every stage above the bar (p: the largest stage's); **not held**: a stage below it (p: the
smallest below, times the stages). Its estimate and interval (1 - {alpha:g}/{m}) are the lowest stage's.
"""
PER_SIZE = """\
**The effect at each model size** (the same test on one size's runs; intervals at 1 - {alpha:g}/({m} x {k}),
Bonferroni over the family and the sizes; not members of the family, no Holm p):
"""
ROBUSTNESS = """\
**Robustness of each decision** (exploratory: the same test with one judged stage left out, and under the
other distribution; the censored (run, stage) cells the decision rests on, per model size and side):
"""
EXPLORATORY = """\
## Exploratory analyses

Everything from here on is **exploratory**: per-stage tests, the answer-only rule, steps to fit, the first good
window, memorisation, scaling per stage. Each test is at p < {alpha:g} on its own, **unadjusted** for the many that
are made, so a few are expected to pass by chance; none of them is a decision of this run.{no_family}

Ratios are median steps to graduation with the factor off over with it on (above 1: the factor speeds convergence),
with a 95% percentile bootstrap interval over seeds. A run that did not graduate within the budget is censored:
it counts as slower than every graduated run, so a censored median turns the ratio into a bound (>= or <=).

**Per-stage reading**, applied to every (ablation, stage): Gehan's generalised Wilcoxon statistic U compares every
run with the factor on against every run with it off (+1 where the on run surely graduated first, -1 where the
off run did, 0 where tied or unknown under censoring); its two-sided p-value is exact, from every split of the
pooled runs into two sides (a seeded Monte Carlo sample when there are too many). **supported**: p < {alpha:g} and
U > 0 (the factor speeds convergence; U < 0 where the claim is that it slows convergence: clipping);
**contradicted**: p < {alpha:g} and U of the other sign; **at the floor**: every run of both sides graduated in
the first window the rule allows, so the rule cannot tell them apart; **not testable**: every run on both sides
censored; otherwise **undecided (unadjusted)**.
"""
NO_FAMILY = " (No primary family is declared in this config: analysis.family.)"

GRADUATION = """\
## 5. Graduation

Claim: a stage is passed at 100% exact match under greedy decoding on 25 fresh problems in 6 consecutive windows \
600 steps apart.

This run used {problems_per_window} x {windows} x {window_every}. Stages graduated / censored per variant:
"""
STAGE_END = """\
Steps to fit (the rule on training problems), to generalise (on unseen problems; where a stage has no unseen
pool the two are the same) and held-out exact match on the stage's test problems with the model as it was
when the stage ended, before the next stage trained:
"""
FAILURES = """\
## 6. Early failures

Claim: typical failures are off by one in a single digit (the right digit is the runner-up),
doubling or halving, or adding or subtracting 1 and then doubling or halving.
"""
MEMORISATION = """\
## 9. Memorisation

Claim: with a strong enough signal and a small enough solution space the model goes from the weak to the strong
generalised solution without a memorisation phase (right on training problems, wrong on held-out ones).

Measure: every graduation window decodes a fresh sample of the stage's training problems and one of its unseen
problems. Steps to fit: the first time the training sample passes the rule; steps to generalise: the first time the
unseen sample does. The memorisation phase is the difference ('+': a lower bound, the stage ended fitted but not
generalised; 0: no phase, both in the same window or generalised before the training sample passed the rule).
Stages without an unseen pool (1-digit facts) are left out.
"""
HOLD = """\
## No early stopping needed

Claim (the 'SNR preconditioner' article): with the SNR-gated update, training past convergence does not
degrade held-out performance, so early stopping is not needed. Measured for every variant alike.
"""
HOLD_MEASURE = """\
After the last stage graduated (or was censored), training went on for the hold on the same batches (that stage
with replay, its learning-rate schedule going on), with a window of training and unseen problems every
window_every steps. Start: the mean of the last graduation windows before the hold; end: the mean of as many
windows at its end. A run **degraded** when its exact match on unseen problems fell by {drop} or more (two
standard errors of a difference of two 100-problem means near 0.9). p: exact one-sided paired sign-flip test that
it fell (the smallest p is 1/32 at 5 runs, 1/16 at 4: there it cannot reach {alpha:g}).
"""
HOLD_VERDICTS = """\
Verdict per variant: **degrades** (most runs degraded; p says how surely), **holds** (no run degraded),
else **mixed**. The claim is supported for the gated update if it holds there; it is specific to that
update only if AdamW degrades where the gated update holds.
"""
OVERHEAD = """\
## Overhead of the SNR gate

Claim (the article): the gated update costs under 5% per step over AdamW.
"""
OVERHEAD_MEASURED = """\
Training wall time per step in this run (median over runs, progress measures and graduation windows left out):
AdamW {adamw:.2f} ms, SNR-gated {gated:.2f} ms, ratio
{ratio:.3f}. Indicative only: the jobs ran concurrently on a shared machine. The verdict
comes from the side-by-side benchmark, `python benchmarks/bench.py --only optimizer` (docs/OPTIMIZERS.md).
"""
PROGRESS = """\
## Progress measures

Exact match is all or nothing. Per stage of each run: when answer-token accuracy in training first reached
{level}, when a graduation window's exact match first did, and the steps between (a negative median would
mean exact match came first). Gradient SNR per coordinate from k micro-batches, over all measurements
(progress_<variant>.pdf shows them against step).
"""
