"""Compare's figures: the metric table's rows and cells, the banner's interval line, p-values.

Every p-value shown says which test it is (exact or mid-p McNemar) and the counts it was computed
on, so the banner and the table never show two unlabeled numbers for one question.
"""

from __future__ import annotations

from pathlib import Path

from ftui.core.base.formatting import MISSING, pct, pts
from ftui.core.judge import compare, forgetting
from ftui.tui.widgets.row_table import Column

BUCKET_FILTERS = ("all", "fixed", "regressed", "still_failing", "still_passing")
BUCKET_MARK = {
    "fixed": "✔ fixed",
    "regressed": "✘ regressed",
    "still_failing": "· still failing",
    "still_passing": "= still passing",
}
VERDICT_WORD = {
    "ship": "SHIP",
    "investigate": "INVESTIGATE",
    "data_quality": "DATA QUALITY",
    "stop": "STOP",
    "inconclusive": "INCONCLUSIVE",
    "not_needed": "FINE-TUNING NOT NEEDED",
}


METRIC_COLUMNS = (
    Column("cluster", 0),
    Column("n", 4, "right"),
    Column("base → tuned", 13, "right"),
    Column("change", 8, "right"),
    Column("fix", 4, "right"),
    Column("reg", 4, "right"),
    Column("exact p", 7, "right"),
)
# Under 120 columns, with the forgetting table beside it, the benchmark's table keeps its first four
# (the fix/reg counts are the bucket filters' and the cluster's p is in the banner).
WIDE = 120


def metric_rows(report: dict) -> list[tuple[str, dict]]:
    """Targeted cluster, the rest, then each cluster of the benchmark (from the per-item grades)."""
    rows = []
    target = report.get("targeted_cluster")
    if report.get("targeted"):
        rows.append((f"▶ {target or 'targeted'}", report["targeted"]))
    fewshot = report.get("fewshot")
    if fewshot and fewshot.get("targeted", {}).get("total"):
        # The prompt rung on the same items: base → base with the cluster's corrections in the prompt.
        rows.append((f"  ↳ few-shot ×{fewshot.get('k')} (base)", fewshot["targeted"]))
    if report.get("rest"):
        rows.append(("rest of benchmark", report["rest"]))
    by_cluster: dict[str, list] = {}
    for it in report.get("items", []):
        by_cluster.setdefault(it.get("cluster") or "—", []).append(it)
    for name in sorted(by_cluster, key=lambda n: (-len(by_cluster[n]), n)):
        if name == target:
            continue
        rows.append((f"  {name}", compare.rates(by_cluster[name])))
    return rows


def metric_cells(row: tuple[str, dict]) -> list[str]:
    name, m = row
    b = m.get("buckets", {})
    return [
        name,
        str(m.get("total", 0)),
        f"{pct(m.get('base_rate'), 0)} → {pct(m.get('tuned_rate'), 0)}",
        pts(m.get("change"), 0),
        str(b.get("fixed", 0)),
        str(b.get("regressed", 0)),
        MISSING if m.get("mcnemar_p") is None else p_text(m["mcnemar_p"]),
    ]


def interval_cell(m: dict) -> str:
    """The cluster's change with its 95% interval, in one short line for the banner."""
    if "ci" not in m or not m.get("total"):
        return ""
    lo, hi = (round(100 * x) + 0 for x in m["ci"])
    mdc = m.get("detectable_change")
    b = m.get("buckets") or {}
    text = (
        f"cluster {pts(m['change'], 0)} (95% CI {lo:+d} to {hi:+d}) · mid-p {p_text(m['mid_p'])} "
        f"({b.get('fixed', 0)} fixed vs {b.get('regressed', 0)} regressed)"
    )
    return text + (f" · {m['total']} items detect ≥{mdc * 100:.0f} pts" if mdc is not None else " · too few items")


def forgetting_cells(row: dict) -> list[str]:
    """A general task of the forgetting check: base → tuned, and its change (✘ past eval.forgetting.max_drop)."""

    def share(x: float | None) -> str:
        return MISSING if x is None else f"{100 * x:.0f}"

    change = row.get("change")
    return [
        row["task"],
        f"{share(row.get('base'))}→{share(row.get('tuned'))}",
        (MISSING if change is None else f"{100 * change:+.0f}") + ("✘" if row.get("flagged") else ""),
    ]


def forgetting_of(report: dict | None, run_dir: Path | None) -> dict | None:
    """The forgetting table of a run: from its report, or from the check alone when not evaluated yet."""
    if report and report.get("forgetting"):
        return report["forgetting"]
    result = forgetting.read_result(run_dir) if run_dir is not None else None
    return forgetting.summary(result) if result else None


def p_text(p: float) -> str:
    # Six cells wide: small p-values keep their exponent, which is what a reader compares.
    return f"{p:.2g}" if p >= 1e-3 else f"{p:.0e}".replace("e-0", "e-")
