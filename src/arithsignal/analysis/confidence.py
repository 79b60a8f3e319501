"""Intervals of the confirmatory term by inverting its permutation test (permutation.py).

A value b of the term is in the interval when the test of "the term is b" does not reject. After the shift by b both
sides are read only within the window (highest floor, lowest budget) of their own stage and model size, the only
strata the relabellings need to be exchangeable in. Where that window is empty at some stage and size, b cannot be
tested: the values where it is not empty are the testable range, and an interval end that the scan (a grid on the log
scale outward from the estimate, then bisection) does not find inside it is open: "unbounded below/above" the
range's end, never a number.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .design import Design
from .permutation import shifted, statistics

GRID_STEP = 0.1  # the interval scan's grid on the log scale of the term


@dataclass(frozen=True)
class Interval:
    """An inverted-test interval of the term on its log scale. An open end (not reached inside the testable range)
    holds the range's end, with its flag set: "unbounded below/above that value", never a number of its own."""

    low: float
    high: float
    low_open: bool
    high_open: bool
    testable: tuple[float, float]


def _bisect(inside: float, outside: float, accept: Callable[[float], bool], tol: float) -> tuple[float, float]:
    """Narrow (inside, outside), an accepted and a rejected value, until they are within ``tol`` of each other."""
    while abs(outside - inside) > tol:
        mid = (inside + outside) / 2
        inside, outside = (mid, outside) if accept(mid) else (inside, mid)
    return inside, outside


def testable_range(design: Design, kind: str, family: str, centre: float, span: float = 6.0,
                   tol: float = 1e-3) -> tuple[float, float]:  # fmt: skip
    """The values of the term, around ``centre``, at which every stage and size keeps a non-empty window after the
    shift (``permutation.shifted``): walked outward on the grid, then bisected; at most ``span`` from the centre."""

    def ok(b: float) -> bool:
        return shifted(design, kind, family, b)[1]

    def end(direction: int) -> float:
        inside = centre
        for k in range(1, int(span / GRID_STEP) + 1):
            b = centre + direction * k * GRID_STEP
            if not ok(b):
                return _bisect(inside, b, ok, tol)[0]
            inside = b
        return inside

    return end(-1), end(1)


def intervals(design: Design, kind: str, family: str, labels: np.ndarray, levels: list[float], estimate: float,
              tol: float = 2e-3) -> list[Interval]:  # fmt: skip
    """The term's intervals at each of ``levels`` by inverting the permutation test: each end where a one-sided p
    falls to (1 - level) / 2, found by a scan on a grid of GRID_STEP outward from the estimate (one scan serves every
    level), then bisection. An end the scan does not reach inside the testable range is open."""
    probe = estimate if math.isfinite(estimate) else 0.0
    lo_range, hi_range = testable_range(design, kind, family, probe if shifted(design, kind, family, probe)[1] else 0.0)
    centre = min(max(probe, lo_range), hi_range)
    cache: dict[float, tuple[float, float]] = {}

    def p(b: float) -> tuple[float, float]:  # (p_upper, p_lower): evidence the term is above / below b
        if b not in cache:
            st = statistics(design, kind, family, labels, b)
            cache[b] = (st.p_upper(), st.p_lower())
        return cache[b]

    alphas = [(1 - lv) / 2 for lv in levels]
    low = _one_side(lambda b, a: p(b)[0] > a, centre, lo_range, -1, alphas, tol)
    high = _one_side(lambda b, a: p(b)[1] > a, centre, hi_range, 1, alphas, tol)
    return [Interval(lo, hi, lo_open, hi_open, (lo_range, hi_range))
            for (lo, lo_open), (hi, hi_open) in zip(low, high, strict=True)]  # fmt: skip


def _one_side(accept: Callable[[float, float], bool], centre: float, edge: float, direction: int, alphas: list[float],
          tol: float) -> list[tuple[float, bool]]:  # fmt: skip
    """The interval ends on one side (``direction`` -1: below, 1: above) at each one-sided level of ``alphas``:
    (value, open). ``accept(b, a)``: the test of b does not reject at a."""
    accepted, rejected = _scan(accept, centre, edge, direction, alphas)
    out = []
    for i, a in enumerate(alphas):
        if i not in rejected:
            out.append((edge, True))  # not rejected even at the testable range's end: open
            continue
        inside, outside = _bisect(accepted[i], rejected[i], lambda b, a=a: accept(b, a), tol)
        out.append(((inside + outside) / 2, False))
    return out


def _scan(accept: Callable[[float, float], bool], centre: float, edge: float, direction: int,
          alphas: list[float]) -> tuple[dict[int, float], dict[int, float]]:  # fmt: skip
    """Walk the grid from ``centre`` towards ``edge`` until every level has rejected: per level, the last value
    accepted and the first rejected (none where it never rejects)."""
    accepted = {i: centre for i in range(len(alphas))}
    rejected: dict[int, float] = {}
    b = centre
    while len(rejected) < len(alphas):
        nxt = b + direction * GRID_STEP
        if (nxt - edge) * direction > 0:  # past the testable range: probe its end once, then stop
            nxt = edge
        if nxt == b:
            break
        b = nxt
        for i, a in enumerate(alphas):
            if i not in rejected:
                if accept(b, a):
                    accepted[i] = b
                else:
                    rejected[i] = b
        if b == edge:
            break
    return accepted, rejected
