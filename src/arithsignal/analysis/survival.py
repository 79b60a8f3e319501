"""Censored accelerated-failure-time regression of steps to graduation: lifelines' fit, and a fast batched twin.

    log T = x'beta + sigma_s * e,   e ~ Normal (log-normal AFT) or standard minimum extreme value (Weibull AFT),

with one scale sigma_s per stage. A run that graduated at step s is known only to have graduated in the window
(s - window_every, s] (the rule checks every window_every steps): an interval. A run censored at the budget c is
known to graduate after c, if ever: (c, inf). Both are fitted as intervals, never as exact times.

lifelines (``LogNormalAFTFitter``, ``WeibullAFTFitter``, ``fit_interval_censoring``) gives the reported fit and its
AIC. A permutation test refits the model once for every relabelling of the runs, thousands of times: lifelines
takes about a second a fit, so ``fit_batch`` fits the same likelihood by Newton's method for all relabellings at
once (a test checks that it finds lifelines' maximum). Its one departure: a stage's scale may not fall below the
spread that rounding to the window grid alone gives (``grid_floor``), which only binds where a stage's runs are
explained exactly (every run in its window), where the maximum is otherwise at sigma = 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

FAMILIES = ("lognormal", "weibull")
SQRT_2PI = math.sqrt(2 * math.pi)
TINY = 1e-300


@dataclass(frozen=True)
class Intervals:
    """Log bounds of each observation's time: graduated in (lo, hi]; censored: hi = inf;
    at the rule's floor: lo = -inf."""

    lo: np.ndarray  # log lower bounds
    hi: np.ndarray  # log upper bounds
    limit: np.ndarray  # log of the time after which an observation is censored (its budget)
    start: (
        np.ndarray
    )  # log of the rule's floor: a run that graduated there may have learnt the stage at any time before

    @classmethod
    def from_steps(cls, steps, censored, window_every, budget=None, floor=None) -> Intervals:
        """Steps as the rule reads them: graduated at s means in (s - window_every, s], or in (0, s] at the floor (the
        first window the rule can graduate in, windows x window_every); censored at the budget means after it."""
        s = np.asarray(steps, float)
        c = np.asarray(censored, bool)
        w = np.broadcast_to(np.asarray(window_every, float), s.shape)
        limit = np.log(np.broadcast_to(np.asarray(s.max() if budget is None else budget, float), s.shape))
        start = np.log(np.broadcast_to(np.asarray(w if floor is None else floor, float), s.shape))
        with np.errstate(divide="ignore"):
            lo = np.where(c, np.log(s), np.log(np.maximum(s - w, 0.0)))
        hi = np.where(c, np.inf, np.log(s))
        return cls(np.where(~c & (hi <= start + 1e-9), -np.inf, lo), hi, limit, start)

    def shifted(self, by: np.ndarray) -> Intervals:
        """Every bound moved by ``by`` on the log scale (an AFT shift: times multiplied by exp(by))."""
        return Intervals(self.lo + by, self.hi + by, self.limit + by, self.start + by)

    def observed_within(self, start: np.ndarray, limit: np.ndarray) -> Intervals:
        """The same observations as if each had been observed only within (start, limit] (narrower than its own):
        a time known to exceed the limit, or whose window reaches past it, is now only known to exceed its lower bound;
        one at or below the start, or whose window reaches below it, only to be at most its upper bound."""
        start, limit = np.maximum(start, self.start), np.minimum(limit, self.limit)
        past = self.hi > limit
        lo = np.where(past, np.minimum(self.lo, limit), self.lo)
        hi = np.where(past, np.inf, self.hi)
        before = lo < start
        return Intervals(np.where(before, -np.inf, lo), np.where(before, np.maximum(hi, start), hi), limit, start)


def grid_floor(intervals: Intervals, groups: np.ndarray) -> np.ndarray:
    """Per group (stage): the standard deviation, on the log scale, that rounding to the window grid alone gives (a
    uniform spread over a window, median over the group's graduated runs); 0.01 where a group has none."""
    width = intervals.hi - intervals.lo
    out = np.full(int(groups.max()) + 1, 0.01)
    for g in range(len(out)):
        w = width[(groups == g) & np.isfinite(width)]
        if len(w):
            out[g] = max(0.01, float(np.median(w)) / math.sqrt(12))
    return out


# ---------------------------------------------------------------- the two families on the log scale


def _density(family: str, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """f(z) and f'(z), 0 at infinite z."""
    zf = np.where(np.isfinite(z), z, 0.0)
    if family == "lognormal":
        f = np.exp(-0.5 * zf * zf) / SQRT_2PI
        df = -zf * f
    else:  # minimum extreme value: F(z) = 1 - exp(-e^z)
        ez = np.exp(np.minimum(zf, 50.0))
        f = ez * np.exp(-ez)
        df = f * (1.0 - ez)
    finite = np.isfinite(z)
    return np.where(finite, f, 0.0), np.where(finite, df, 0.0)


def _mass(family: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """P(a < e <= b), computed on the side of the distribution where it does not cancel."""
    if family == "lognormal":
        side = np.where(a > 0, -1.0, 1.0)  # above 0: the upper tail, ndtr(-a) - ndtr(-b); else ndtr(b) - ndtr(a)
        return np.maximum(side * (ndtr(side * b) - ndtr(side * a)), TINY)
    ea, eb = np.exp(np.minimum(a, 50.0)), np.exp(np.minimum(b, 50.0))
    lower = np.expm1(-ea) - np.expm1(-eb)  # F(b) - F(a), accurate where both are small
    upper = np.exp(-ea) - np.exp(-eb)  # S(a) - S(b)
    return np.maximum(np.where(b < 0, lower, upper), TINY)


def _terms(family: str, y: Intervals, mu: np.ndarray, tau: np.ndarray):
    """Per observation: log-likelihood, its first and second derivatives in mu and tau = log sigma."""
    sigma = np.exp(tau)
    a, b = (y.lo - mu) / sigma, (y.hi - mu) / sigma
    d = _mass(family, a, b)
    ga, ha = _density(family, a)
    gb, hb = _density(family, b)
    az, bz = np.where(np.isfinite(a), a, 0.0), np.where(np.isfinite(b), b, 0.0)
    d_mu = -(gb - ga) / sigma
    d_tau = -(bz * gb - az * ga)
    d_mumu = (hb - ha) / sigma**2
    d_mutau = ((gb - ga) + (bz * hb - az * ha)) / sigma
    d_tautau = (bz * gb - az * ga) + (bz * bz * hb - az * az * ha)
    l_mu, l_tau = d_mu / d, d_tau / d
    return np.log(d), l_mu, l_tau, d_mumu / d - l_mu**2, d_mutau / d - l_mu * l_tau, d_tautau / d - l_tau**2


@dataclass
class Fit:
    beta: np.ndarray  # (P, k) location coefficients (log time)
    log_sigma: np.ndarray  # (P, q) log scale per stage
    loglik: np.ndarray  # (P,)
    converged: np.ndarray  # (P,) bool


def loglik(
    family: str, y: Intervals, X: np.ndarray, S: np.ndarray, beta: np.ndarray, log_sigma: np.ndarray
) -> np.ndarray:
    """Total log-likelihood of each parameter set: X (P, n, k) or (n, k), S (n, q) the stage of each row (one-hot)."""
    mu = _location(X if X.ndim == 3 else X[None], beta)
    return _terms(family, y, mu, log_sigma @ S.T)[0].sum(axis=1)


def _loglik_only(family: str, y: Intervals, mu: np.ndarray, tau: np.ndarray) -> np.ndarray:
    sigma = np.exp(tau)
    return np.log(_mass(family, (y.lo - mu) / sigma, (y.hi - mu) / sigma)).sum(axis=-1)


def _location(X: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """X (P or 1, n, k) times beta (P, k): (P, n). Batched matmul, not einsum:
    einsum's C loops were most of a fit's time."""
    return (X @ beta[..., None])[..., 0]


MAX_LOG_SIGMA = math.log(20.0)  # a spread of log steps beyond this means nothing is being fitted
MAX_COEF = 30.0  # a location coefficient beyond this (a factor e^30 in time) is a fit running off to infinity


def fit_batch(family: str, y: Intervals, X: np.ndarray, S: np.ndarray, floor: np.ndarray, start: tuple | None = None,
              iterations: int = 50, tol: float = 1e-8) -> Fit:  # fmt: skip
    """Maximum likelihood for many designs at once (one per relabelling of the runs): X (P, n, k) or (n, k); S (n, q)
    one-hot stage of each row; ``floor`` (q,) the least sigma per stage. Newton's method with step halving; a set
    whose log-likelihood gains less than ``tol`` in a step is done. Where the data do not bound the maximum (every
    row of a stage censored, or the two sides separated), the coefficients stop at +-MAX_COEF."""
    X = X if X.ndim == 3 else X[None]
    P, n, k = X.shape
    q = S.shape[1]
    lo_tau = np.log(floor)
    if start is None:
        mid = np.where(
            np.isfinite(y.hi), (np.maximum(y.lo, y.hi - 1.0) + y.hi) / 2, y.lo + 0.3
        )  # censored: a bit past the bound
        same = P == 1 or bool((X == X[0]).all())
        beta = (np.linalg.pinv(X[:1] if same else X) @ mid).reshape(-1, k)
        beta = beta.repeat(P, axis=0) if same else beta
        resid = mid[None] - _location(X, beta)
        var = (resid**2) @ S / np.maximum(S.sum(axis=0), 1)
        tau = np.clip(0.5 * np.log(np.maximum(var, 1e-4)), lo_tau, MAX_LOG_SIGMA)
    else:
        beta = np.broadcast_to(start[0], (P, k)).copy()
        tau = np.broadcast_to(start[1], (P, q)).copy()
    ll = _loglik_only(family, y, _location(X, beta), tau @ S.T)
    active = np.ones(P, bool)
    for _ in range(iterations):
        idx = np.flatnonzero(active)
        if not len(idx):
            break
        Xa, ba, ta = X[idx], beta[idx], tau[idx]
        _, l_mu, l_tau, l_mumu, l_mutau, l_tautau = _terms(family, y, _location(Xa, ba), ta @ S.T)
        Xt = np.swapaxes(Xa, 1, 2)
        grad = np.concatenate([(Xt @ l_mu[..., None])[..., 0], l_tau @ S], axis=1)
        h_bb = Xt @ (Xa * l_mumu[..., None])
        h_bt = Xt @ (l_mutau[..., None] * S[None])
        h_tt = S.T[None] @ (l_tautau[..., None] * S[None])
        info = -np.block([[h_bb, h_bt], [np.swapaxes(h_bt, 1, 2), h_tt]])
        eye = np.eye(k + q)
        try:  # Newton where the information is positive definite, else a damped step
            np.linalg.cholesky(info)
            step = np.linalg.solve(info, grad[..., None])[..., 0]
        except np.linalg.LinAlgError:
            damp = np.maximum(0.0, -np.linalg.eigvalsh(info).min(axis=1)) + 1e-6
            step = np.linalg.solve(info + damp[:, None, None] * eye, grad[..., None])[..., 0]
        t = np.ones(len(idx))
        old = ll[idx]
        for _ in range(30):  # halve each set's step until its likelihood does not fall
            nb = np.clip(ba + t[:, None] * step[:, :k], -MAX_COEF, MAX_COEF)  # separated data run off: hold them
            nt = np.clip(ta + t[:, None] * step[:, k:], lo_tau, MAX_LOG_SIGMA)
            new = _loglik_only(family, y, _location(Xa, nb), nt @ S.T)
            worse = ~(new >= old - 1e-12)
            if not worse.any():
                break
            t = np.where(worse, t / 2, t)
        keep = new >= old - 1e-12
        beta[idx] = np.where(keep[:, None], nb, ba)
        tau[idx] = np.where(keep[:, None], nt, ta)
        ll[idx] = np.where(keep, new, old)
        active[idx] = keep & (new - old > tol)
    return Fit(beta, tau, ll, ~active)


def lifelines_fit(
    family: str, y: Intervals, columns: dict[str, np.ndarray], stages: np.ndarray
) -> tuple[dict, float, float]:
    """The same model fitted by lifelines (``fit_interval_censoring``): location on an intercept, the stages after the
    first and ``columns``; log scale on an intercept and the stages after the first. Returns the coefficients of
    ``columns``, the log-likelihood and the AIC."""
    import warnings

    import pandas as pd
    from lifelines import LogNormalAFTFitter, WeibullAFTFitter

    df = pd.DataFrame({name: np.asarray(v, float) for name, v in columns.items()})
    df["lower"], df["upper"] = np.exp(y.lo), np.exp(y.hi)
    levels = sorted(set(int(s) for s in stages))[1:]
    for g in levels:
        df[f"stage_{g}"] = (np.asarray(stages) == g).astype(float)
    location = " + ".join([*(f"stage_{g}" for g in levels), *columns])
    scale = " + ".join(f"stage_{g}" for g in levels) or "1"
    fitter = LogNormalAFTFitter() if family == "lognormal" else WeibullAFTFitter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitter.fit_interval_censoring(df, "lower", "upper", formula=location, ancillary=scale)
    name = "mu_" if family == "lognormal" else "lambda_"
    return {c: float(fitter.params_[(name, c)]) for c in columns}, float(fitter.log_likelihood_), float(fitter.AIC_)
