"""Statistics for paired pass/fail outcomes: the same items graded before and after.

The counts are a paired 2x2 table: a = passed both times, b = fixed (failed, then passed),
c = regressed (passed, then failed), d = failed both times. Only b and c carry information about
the change, which is why an unpaired test of two pass rates misjudges it.

Standard library only: the formulas are short, and the UI's start-up path must stay light.
"""

from __future__ import annotations

from math import comb, sqrt
from statistics import NormalDist
from typing import Any

ALPHA = 0.05
CI_METHOD = "Newcombe (1998) method 10: hybrid score interval from Wilson limits, continuity-corrected phi"
# How far "inconclusive" looks for a sample size that would settle the question.
MAX_SCALE = 1000


def _z(alpha: float) -> float:
    return NormalDist().inv_cdf(1 - alpha / 2)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value on the discordant pairs (b fixed, c regressed).

    Under no effect each discordant pair is a fair coin, so this is a two-sided binomial test of
    min(b, c) out of b + c at 1/2, computed exactly with integers.
    """
    if b < 0 or c < 0:
        raise ValueError("counts must be >= 0")
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(comb(n, i) for i in range(k + 1))
    return min(1.0, 2 * tail / float(2**n))


def mcnemar_mid_p(b: int, c: int) -> float:
    """Two-sided mid-p McNemar: the exact tail with half the probability of the observed count.

    The exact test is conservative (its real size is well under alpha at small n); the mid-p
    version keeps close to alpha and is what Fagerland, Lydersen and Laake (2013) recommend.
    """
    if b < 0 or c < 0:
        raise ValueError("counts must be >= 0")
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(comb(n, i) for i in range(k + 1)) - comb(n, k) / 2
    return min(1.0, 2 * tail / float(2**n))


def wilson(x: float, n: float, alpha: float = ALPHA) -> tuple[float, float]:
    """Wilson score interval for one proportion x/n."""
    if n <= 0:
        return 0.0, 1.0
    z = _z(alpha)
    p = x / n
    centre = 2 * x + z * z
    half = z * sqrt(z * z + 4 * x * (1 - p))
    denom = 2 * (n + z * z)
    return max(0.0, (centre - half) / denom), min(1.0, (centre + half) / denom)


def newcombe_paired(a: float, b: float, c: float, d: float, alpha: float = ALPHA) -> tuple[float, float]:
    """CI for p1 - p2 with p1 = (a+b)/n and p2 = (a+c)/n (here: tuned pass rate minus base pass rate).

    Square-and-add of the two Wilson intervals, with the correlation of the paired design taken into
    account through phi (its numerator continuity-corrected as in Newcombe 1998).
    """
    n = a + b + c + d
    if n <= 0:
        return -1.0, 1.0
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = wilson(a + b, n, alpha)
    l2, u2 = wilson(a + c, n, alpha)
    denom = (a + b) * (c + d) * (a + c) * (b + d)
    phi = 0.0
    if denom > 0:
        cross = a * d - b * c
        num = max(0.0, cross - n / 2) if cross > 0 else cross
        phi = num / sqrt(denom)
    diff = p1 - p2
    lo = diff - sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    hi = diff + sqrt(max(0.0, (p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2))
    return max(-1.0, lo), min(1.0, hi)


def min_discordant(alpha: float = ALPHA) -> int:
    """The fewest discordant pairs, all one way, that the mid-p McNemar test calls significant."""
    k = 1
    while mcnemar_mid_p(k, 0) >= alpha:
        k += 1
    return k


def detectable_change(n: int, alpha: float = ALPHA) -> float | None:
    """The smallest pass-rate change n items can show as significant: every discordant pair one way."""
    if n <= 0:
        return None
    k = min_discordant(alpha)
    return k / n if k <= n else None


def items_to_settle(a: int, b: int, c: int, d: int, alpha: float = ALPHA) -> int | None:
    """How many more items, at the observed rates, would settle the change: an interval that
    excludes zero and a mid-p McNemar test below alpha (the verdict asks both; at a handful of
    items the interval alone is too quick).

    None when no number would (no change observed) or it is beyond MAX_SCALE times the items.
    """
    n = a + b + c + d
    if n == 0 or b == c:
        return None

    def settled(m: int) -> bool:
        s = m / n
        lo, hi = newcombe_paired(a * s, b * s, c * s, d * s, alpha)
        return (lo > 0 or hi < 0) and mcnemar_mid_p(round(b * s), round(c * s)) < alpha

    if settled(n):
        return 0
    hi_m = n
    while not settled(hi_m):
        hi_m *= 2
        if hi_m > MAX_SCALE * n:
            return None
    lo_m = hi_m // 2 if hi_m > n else n
    while lo_m + 1 < hi_m:
        mid = (lo_m + hi_m) // 2
        if settled(mid):
            hi_m = mid
        else:
            lo_m = mid
    return hi_m - n


def paired_summary(a: int, b: int, c: int, d: int, alpha: float = ALPHA) -> dict[str, Any]:
    """Every figure the report shows for one slice of paired outcomes."""
    n = a + b + c + d
    lo, hi = newcombe_paired(a, b, c, d, alpha)
    spans_zero = n > 0 and lo <= 0 <= hi
    mid_p = mcnemar_mid_p(b, c)
    unsettled = n > 0 and (spans_zero or mid_p >= alpha)
    return {
        "ci": [round(lo, 4), round(hi, 4)],
        "ci_level": 1 - alpha,
        "mid_p": mid_p,
        "detectable_change": detectable_change(n, alpha),
        "spans_zero": spans_zero,
        "more_items_to_settle": items_to_settle(a, b, c, d, alpha) if unsettled else 0,
    }
