"""The one spelling of rates, changes, numbers, durations and clipped text, and the one progress count."""

from __future__ import annotations

from ftui.core.base.formatting import clip, duration, num, pct, plural, pts
from ftui.core.curate.progress import count_progress


def test_each_value_has_one_spelling_and_missing_reads_na():
    assert (pct(2 / 3), pct(2 / 3, 0), pct(0.0), pct(None)) == ("66.7%", "67%", "0.0%", "n/a")
    assert (pts(0.5), pts(-1 / 3, 0), pts(None)) == ("+50.0 pts", "-33 pts", "n/a")
    assert (num(0.12345), num(2e-4, ".2e"), num(12, ""), num(None)) == ("0.1235", "2.00e-04", "12", "n/a")
    assert (duration(43.4), duration(264), duration(3900), duration(None), duration(-1)) == (
        "43s",
        "4m24s",
        "1h05m",
        "n/a",
        "n/a",
    )
    assert (plural(1, "item"), plural(0, "item"), plural(2, "anchor")) == ("1 item", "0 items", "2 anchors")


def test_clip_collapses_whitespace_and_marks_the_cut():
    assert clip("a  b\n c", 10) == "a b c"
    assert clip("abcdefghij", 10) == "abcdefghij"
    assert clip("abcdefghijk", 10) == "abcdefghi…"
    assert clip(None, 5) == ""


def test_progress_counts_review_as_remaining_but_not_to_do():
    status = {"a": "corrected", "b": "skipped", "c": "needs_review", "d": "pending"}
    p = count_progress(["a", "b", "c", "d", "e"], status.get)
    assert (p.total, p.corrected, p.skipped, p.needs_review, p.to_do, p.remaining) == (5, 1, 1, 1, 2, 3)
    assert p.to_dict() == {"corrected": 1, "skipped": 1, "needs_review": 1, "remaining": 3}


def test_size_reads_in_decimal_units():
    from ftui.core.base.formatting import size

    assert [size(n) for n in (None, 512, 1_500, 145_000_000, 538_090_408, 2_400_000_000)] == [
        "n/a",
        "512 B",
        "1.5 kB",
        "145 MB",
        "538 MB",
        "2.4 GB",
    ]
