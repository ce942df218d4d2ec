"""Two runs' reports, item by item: which run fixed or broke what.

Two fine-tunes with the same pass rate can fix and break different items; setting their reports
side by side on the items both graded shows it.
"""

from __future__ import annotations

from typing import Any

MARK = {"fixed": "✔", "regressed": "✘", "still_failing": "·", "still_passing": "="}


def _outcome(a: str | None, b: str | None) -> str:
    if a == b:
        return "same"
    for bucket, verb in (("fixed", "fixed"), ("regressed", "broke")):
        if a == bucket:
            return f"only this {verb}"
        if b == bucket:
            return f"only other {verb}"
    return "differs"


def pair(report: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """Per item id graded by both: this run's bucket, the other's, and who fixed or broke it."""
    theirs = {it["id"]: it for it in other.get("items", [])}
    rows: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    for it in report.get("items", []):
        o = theirs.get(it["id"])
        if o is None:
            continue
        outcome = _outcome(it["bucket"], o["bucket"])
        counts[outcome] = counts.get(outcome, 0) + 1
        rows.append(
            {
                "id": it["id"],
                "cluster": it.get("cluster"),
                "bucket": it["bucket"],
                "other_bucket": o["bucket"],
                "outcome": outcome,
                "other_answer": o.get("tuned_answer", ""),
            }
        )
    return {
        "run_id": report.get("run_id"),
        "other_run_id": other.get("run_id"),
        "items": rows,
        "counts": dict(sorted(counts.items())),
        "only_in_one": len({it["id"] for it in report.get("items", [])} ^ set(theirs)),
    }


def summary_line(paired: dict[str, Any]) -> str:
    c = paired["counts"]
    parts = [f"{n} {k}" for k, n in c.items() if k != "same"]
    return f"vs {paired['other_run_id']}: {len(paired['items'])} items graded by both, {c.get('same', 0)} alike" + (
        f", {', '.join(parts)}" if parts else ""
    )


def render(paired: dict[str, Any]) -> str:
    lines = [summary_line(paired), ""]
    w = max([4] + [len(r["id"]) for r in paired["items"]])
    lines.append(f"{'id':<{w}}  {'this run':<14}  {'other run':<14}  outcome")
    order = {"only this fixed": 0, "only other fixed": 1, "only this broke": 2, "only other broke": 3}
    for r in sorted(paired["items"], key=lambda r: (order.get(r["outcome"], 9), r["id"])):
        lines.append(f"{r['id']:<{w}}  {r['bucket']:<14}  {r['other_bucket']:<14}  {r['outcome']}")
    return "\n".join(lines)
