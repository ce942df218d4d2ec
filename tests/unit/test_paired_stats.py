"""Each statistic against a published or hand-computed value."""

from __future__ import annotations

import pytest

from ftui.core.judge.paired_stats import (
    detectable_change,
    items_to_settle,
    mcnemar_exact,
    mcnemar_mid_p,
    min_discordant,
    newcombe_paired,
    paired_summary,
    wilson,
)


def test_mid_p_mcnemar_matches_fagerland_2013():
    # Fagerland, Lydersen & Laake (2013), BMC Med Res Methodol 13:91: airway hyper-responsiveness
    # (Bentur et al. 2009), discordant pairs 1 and 7: exact conditional p = 0.070, mid-p = 0.039.
    assert mcnemar_exact(1, 7) == pytest.approx(0.0703, abs=5e-4)
    assert mcnemar_mid_p(1, 7) == pytest.approx(0.0391, abs=5e-4)


def test_mid_p_by_hand():
    # b=0, c=3: P(X=0) = 1/8, so mid-p = 2 * (1/8 - 1/16) = 1/8 (exact: 1/4).
    assert mcnemar_mid_p(0, 3) == pytest.approx(0.125)
    assert mcnemar_exact(0, 3) == pytest.approx(0.25)
    # Equal counts: the whole distribution minus half the middle point, capped at 1.
    assert mcnemar_mid_p(2, 2) == pytest.approx(2 * (11 / 16 - 3 / 16))
    assert mcnemar_mid_p(0, 0) == 1.0
    with pytest.raises(ValueError):
        mcnemar_mid_p(-1, 0)


@pytest.mark.parametrize(
    "x,n,lo,hi",
    # Newcombe (1998), Stat Med 17:857, Table II, method 3 (Wilson score without continuity correction).
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611)],
)
def test_wilson_matches_newcombe_1998(x, n, lo, hi):
    got = wilson(x, n)
    assert got[0] == pytest.approx(lo, abs=1e-4) and got[1] == pytest.approx(hi, abs=1e-4)


def test_newcombe_paired_matches_fagerland_lydersen_laake():
    # Statistical Analysis of Contingency Tables (Fagerland, Lydersen & Laake 2017), chapter 8:
    # the paired table [[59, 6], [16, 80]] gives -0.0621 (95% CI -0.1186 to -0.0046) by the
    # Newcombe square-and-add interval (also the check in their `contingencytables` package).
    lo, hi = newcombe_paired(59, 6, 16, 80)
    assert lo == pytest.approx(-0.1186, abs=1e-4) and hi == pytest.approx(-0.0046, abs=1e-4)


def test_newcombe_paired_by_hand_when_every_pair_moves_one_way():
    # a=d=0: phi has no denominator (0), so the limits are the Wilson limits added in quadrature.
    # 26/26 fixed: Wilson(26, 26) lower = 26/(26 + z^2) = 0.8713; Wilson(0, 26) upper = 0.1287.
    lo, hi = newcombe_paired(0, 26, 0, 0)
    w = 1 - 26 / (26 + 1.959963984540054**2)
    assert lo == pytest.approx(1 - (2 * w * w) ** 0.5, abs=1e-9) and hi == 1.0
    assert lo == pytest.approx(0.8180, abs=1e-4)


def test_detectable_change_and_min_discordant():
    # mid-p for k pairs all one way is 2 * (1 - 1/2) / 2**k = 1 / 2**k: below 0.05 first at k = 5.
    assert min_discordant() == 5
    assert detectable_change(26) == pytest.approx(5 / 26)
    assert detectable_change(4) is None and detectable_change(0) is None


def test_items_to_settle_finds_the_first_sample_size_that_settles_the_change():
    a, b, c, d = 1, 3, 0, 1  # 3 fixed of 5: the interval still holds zero

    def settled(m: int) -> bool:
        s = m / n
        return newcombe_paired(a * s, b * s, c * s, d * s)[0] > 0 and mcnemar_mid_p(round(b * s), round(c * s)) < 0.05

    more = items_to_settle(a, b, c, d)
    assert more and more > 0
    n = a + b + c + d
    assert settled(n + more) and not settled(n + more - 1)
    # The interval alone would call it settled sooner; the mid-p test is asked too.
    s = (n + 1) / n
    assert newcombe_paired(a * s, b * s, c * s, d * s)[0] > 0 and more > 1
    assert items_to_settle(2, 1, 1, 2) is None  # no change observed: no number settles it
    assert items_to_settle(0, 26, 0, 0) == 0
    assert items_to_settle(0, 2, 0, 0) == 3  # two of two fixed: mid-p 0.25 until five pairs


def test_paired_summary_flags_intervals_that_span_zero():
    s = paired_summary(1, 3, 0, 1)
    assert s["spans_zero"] and s["more_items_to_settle"] > 0 and s["ci"][0] < 0 < s["ci"][1]
    s = paired_summary(0, 26, 0, 0)
    assert not s["spans_zero"] and s["more_items_to_settle"] == 0 and s["mid_p"] < 1e-7
