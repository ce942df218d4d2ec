"""Base vs fine-tuned, per item: buckets, pass rates, exact McNemar, the verdict and the ship gate.

Aggregates hide the thing that matters: one fixed item and one broken item leave a pass rate
unchanged. So the report is built from per-item pairs, and every figure can be traced to ids.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ftui.core.base.errors import InputError
from ftui.core.base.formatting import clip, pct, pts
from ftui.core.base.fsutil import read_json_file
from ftui.core.grade.grading import Grade
from ftui.core.judge.paired_stats import ALPHA, CI_METHOD, mcnemar_exact, paired_summary

# The verdict rule has its own module (verdict.py); `decide` and `settles` are used here.
from ftui.core.judge.verdict import decide, settles

SCHEMA = 1
BUCKETS = ("fixed", "regressed", "still_failing", "still_passing")


def bucket(base_passed: bool, tuned_passed: bool) -> str:
    if base_passed:
        return "still_passing" if tuned_passed else "regressed"
    return "fixed" if tuned_passed else "still_failing"


def _grade_dict(g: Any) -> dict[str, Any]:
    if isinstance(g, Grade):
        return g.to_dict()
    if isinstance(g, dict) and "passed" in g:
        return {"passed": bool(g["passed"]), "reason": str(g.get("reason", "")), "grader": str(g.get("grader", ""))}
    raise ValueError(f"not a grade: {g!r}")


def rates(items: Iterable[dict[str, Any]]) -> dict[str, Any]:
    items = list(items)
    n = len(items)
    bp = sum(1 for it in items if it["base_grade"]["passed"])
    tp = sum(1 for it in items if it["tuned_grade"]["passed"])
    counts = Counter(it["bucket"] for it in items)
    return {
        "total": n,
        "base_passed": bp,
        "tuned_passed": tp,
        "base_rate": bp / n if n else None,
        "tuned_rate": tp / n if n else None,
        "change": (tp - bp) / n if n else None,
        "buckets": {b: counts.get(b, 0) for b in BUCKETS},
        "mcnemar_p": mcnemar_exact(counts.get("fixed", 0), counts.get("regressed", 0)),
        **paired_summary(
            counts.get("still_passing", 0),
            counts.get("fixed", 0),
            counts.get("regressed", 0),
            counts.get("still_failing", 0),
        ),
    }


def fewshot_arm(items: list[dict[str, Any]], k: int | None) -> dict[str, Any] | None:
    """Base vs base-with-examples, over the same items and grades: the prompt rung's figures."""
    arm = [it for it in items if it.get("fewshot_grade") is not None]
    if not arm:
        return None

    def pairs(group: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {
                **it,
                "tuned_grade": it["fewshot_grade"],
                "bucket": bucket(it["base_grade"]["passed"], it["fewshot_grade"]["passed"]),
            }
            for it in group
        ]

    targeted = rates(pairs([it for it in arm if it["targeted"]]))
    rest = rates(pairs([it for it in arm if not it["targeted"]]))
    return {
        "k": k,
        "targeted": targeted,
        "rest": rest,
        "regressions": [it["id"] for it in pairs(arm) if it["bucket"] == "regressed"],
        "fixed": [it["id"] for it in pairs(arm) if it["bucket"] == "fixed"],
    }


def build_report(
    records: Iterable[dict[str, Any]],
    *,
    targeted_cluster: str | None,
    meta: dict[str, Any] | None = None,
    ignore_flaky: bool = False,
    fewshot_k: int | None = None,
) -> dict[str, Any]:
    """records: {id, cluster, question, expected, base_answer, tuned_answer, base_grade, tuned_grade,
    and optionally label, task}; grades are `Grade`s or their dicts."""
    items = []
    for r in records:
        bg, tg = _grade_dict(r["base_grade"]), _grade_dict(r["tuned_grade"])
        cluster = r.get("cluster") or "unlabeled"
        items.append(
            {
                "id": str(r["id"]),
                "cluster": cluster,
                "targeted": cluster == targeted_cluster if targeted_cluster else False,
                "label": r.get("label"),
                "task": r.get("task"),
                "question": r.get("question", ""),
                "expected": r.get("expected"),
                # The grade the run log gave this item, as logged (7, true, "C"), beside ftui's own.
                **({"logged_grade": r["logged_grade"]} if r.get("logged_grade") is not None else {}),
                "base_answer": r.get("base_answer", ""),
                "tuned_answer": r.get("tuned_answer", ""),
                "base_grade": bg,
                "tuned_grade": tg,
                "bucket": bucket(bg["passed"], tg["passed"]),
                "was_anchor_like": bg["passed"],
                # Re-asked with sampling: how often the base's pass held (absent when not re-asked).
                "base_stability": r.get("base_stability"),
                "flaky": bool(r.get("flaky")),
                "fewshot_answer": r.get("fewshot_answer"),
                "fewshot_grade": _grade_dict(r["fewshot_grade"]) if r.get("fewshot_grade") is not None else None,
                "fewshot_ids": r.get("fewshot_ids"),
            }
        )
    targeted = rates(it for it in items if it["targeted"])
    targeted["cluster"] = targeted_cluster
    rest = rates(it for it in items if not it["targeted"])
    overall = rates(items)
    counts = overall["buckets"]
    regressions = [it["id"] for it in items if it["bucket"] == "regressed"]
    fewshot = fewshot_arm(items, fewshot_k)
    report = {
        "schema": SCHEMA,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **(meta or {}),
        "targeted_cluster": targeted_cluster,
        "targeted": targeted,
        "rest": rest,
        "overall": overall,
        "buckets": counts,
        "regressions": regressions,
        "fixed": [it["id"] for it in items if it["bucket"] == "fixed"],
        "mcnemar": {
            "b_fixed": counts["fixed"],
            "c_regressed": counts["regressed"],
            "p_value": overall["mcnemar_p"],
            "test": "exact McNemar (two-sided binomial on discordant pairs)",
        },
        "statistics": {
            "ci_method": CI_METHOD,
            "ci_level": 1 - ALPHA,
            "tests": "exact and mid-p McNemar (two-sided, on the discordant pairs)",
            "detectable_change": "the smallest change the slice's n can show at mid-p < 0.05, every discordant "
            "pair going one way",
        },
        "fewshot": fewshot,
        "flaky": {
            "checked": sum(it["base_stability"] is not None for it in items),
            "unstable_ids": [it["id"] for it in items if it["flaky"]],
            "ignored_by_gate": ignore_flaky,
        },
        "verdict": decide(targeted, items, ignore_flaky=ignore_flaky, fewshot=fewshot),
        "items": items,
    }
    return report


def with_forgetting(report: dict[str, Any], forgetting: dict[str, Any]) -> dict[str, Any]:
    """The report with the forgetting check's figures and the verdict decided again with them."""
    out = dict(report)
    out["forgetting"] = forgetting
    out["verdict"] = decide(
        report["targeted"],
        report["items"],
        ignore_flaky=bool((report.get("flaky") or {}).get("ignored_by_gate")),
        fewshot=report.get("fewshot"),
        forgetting=forgetting,
    )
    return out


def load_report(path: Path | str) -> dict[str, Any]:
    path = Path(path)
    data = read_json_file(path, "no report yet (run `ftui eval RUN` first)")
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or not isinstance(data.get("items"), list):
        raise InputError(path, 1, f"not an ftui report (schema {SCHEMA} expected)")
    return data


def shared_traits(items: list[dict[str, Any]]) -> dict[str, Any]:
    """What a group of items (usually the regressions) has in common: cluster, grader, task, length."""
    if not items:
        return {}
    n = len(items)

    def top(values: list[Any]) -> list[tuple[Any, int]]:
        return Counter(values).most_common(3)

    def words(s: str | None) -> int:
        return len((s or "").split())

    return {
        "count": n,
        "clusters": top([it["cluster"] for it in items]),
        "graders": top([it["tuned_grade"].get("grader", "") for it in items]),
        "tasks": top([it.get("task") or "-" for it in items]),
        "mean_question_words": sum(words(it["question"]) for it in items) / n,
        "mean_base_answer_words": sum(words(it["base_answer"]) for it in items) / n,
        "mean_tuned_answer_words": sum(words(it["tuned_answer"]) for it in items) / n,
    }


def bucket_label(it: dict[str, Any]) -> str:
    """The item's bucket, with a regression on an unstable base pass marked flaky."""
    return f"{it['bucket']}~flaky" if it.get("flaky") and it["bucket"] == "regressed" else it["bucket"]


def interval_text(x: dict[str, Any]) -> str:
    """One line: the change's 95% interval, mid-p and the smallest change this n could show."""
    if "ci" not in x or not x.get("total"):
        return ""
    lo, hi = x["ci"]
    mdc = x.get("detectable_change")
    smallest = f"{100 * mdc:.0f} pts" if mdc is not None else "none (too few items)"
    b = x.get("buckets") or {}
    text = (
        f"95% CI {pts(lo)} to {pts(hi)}, mid-p={x['mid_p']:.3g} (mid-p McNemar on {b.get('fixed', 0)} fixed vs "
        f"{b.get('regressed', 0)} regressed of {x['total']}), smallest detectable change {smallest}"
    )
    if settles(x) == "unsettled":
        more = x.get("more_items_to_settle")
        text += f"; inconclusive ({f'~{more} more items would settle it' if more else 'more items needed'})"
    return text


def forgetting_lines(fg: dict[str, Any] | None) -> list[str]:
    """The forgetting check's table under the benchmark's: per task base → tuned with its interval."""
    if not fg:
        return []
    limit = f", at most {fg['limit']} documents a task" if fg.get("limit") else ""
    lines = ["", f"General tasks (forgetting check, lm-evaluation-harness{limit}):"]
    for r in fg.get("tasks", []):
        lo, hi = r["ci"] if r.get("ci") else (None, None)
        lines.append(
            f"  {clip(r['task'], 24):<24} {r['metric']:<12} {r['n']:>4}  {pct(r['base'])} → {pct(r['tuned'])}  "
            f"{pts(r['change'])}  (95% CI {pts(lo)} to {pts(hi)})" + ("  DROP" if r.get("flagged") else "")
        )
    for e in fg.get("errors", []):
        lines.append(f"  {e}")
    if not fg.get("complete"):
        lines.append("  (incomplete: `ftui forgetting RUN` measures the rest)")
    return lines


def render_text(report: dict[str, Any], *, width: int = 100, show_items: bool = True) -> str:
    t, r, v = report["targeted"], report["rest"], report["verdict"]
    lines = []
    head = f"Evaluation of {report.get('run_id', 'run')}"
    if report.get("model"):
        head += f" · model {report['model']}"
    if report.get("dtype"):
        head += f" · {report['dtype']} weights"
    lines += [head, ""]

    def block(title: str, x: dict[str, Any]) -> None:
        lines.append(f"{title} ({x['total']} items)")
        if not x["total"]:
            lines.append("  (none)")
            return
        lines.append(f"  base        {x['base_passed']:>4}/{x['total']:<4} {pct(x['base_rate']):>6}")
        lines.append(
            f"  fine-tuned  {x['tuned_passed']:>4}/{x['total']:<4} {pct(x['tuned_rate']):>6}   change {pts(x['change'])}"
            f"   (exact McNemar p={x['mcnemar_p']:.3g}: {x['buckets']['fixed']} fixed vs "
            f"{x['buckets']['regressed']} regressed)"
        )
        if interval_text(x):
            lines.append("  " + interval_text(x))

    block(f"Targeted cluster: {t.get('cluster') or '(none)'}", t)
    block("Rest of benchmark", r)
    b = report["buckets"]
    lines.append("")
    lines.append(
        f"Buckets: fixed {b['fixed']} · regressed {b['regressed']} · still failing {b['still_failing']}"
        f" · still passing {b['still_passing']}"
    )
    m = report["mcnemar"]
    lines.append(
        f"Exact McNemar (all items): {m['b_fixed']} fixed vs {m['c_regressed']} regressed, p = {m['p_value']:.4g}"
    )
    regs = report["regressions"]
    flaky = set((report.get("flaky") or {}).get("unstable_ids") or [])
    lines.append("Regressions: " + (", ".join(f"{i} (flaky)" if i in flaky else i for i in regs) if regs else "none"))
    fs = report.get("fewshot")
    if fs:
        ft = fs["targeted"]
        lines.append(
            f"Few-shot ({fs.get('k')} corrections in the prompt, base model): cluster {ft['base_passed']}/{ft['total']} → "
            f"{ft['tuned_passed']}/{ft['total']}, {len(fs['regressions'])} regressions"
            + (f" ({', '.join(fs['regressions'][:8])})" if fs["regressions"] else "")
        )
    lines += forgetting_lines(report.get("forgetting"))
    lines.append("")
    lines.append(f"Verdict: {v['verdict'].upper().replace('_', ' ')} — {v['headline']}")
    gate = v["ship_gate"]
    lines.append(f"Ship gate: {'open' if gate['open'] else 'BLOCKED'} — {gate['reason']}")
    for a in v["advice"]:
        lines.append(f"  - {a}")
    if show_items and report["items"]:
        lines.append("")
        idw = max(4, min(16, max(len(it["id"]) for it in report["items"])))
        cw = max(7, min(18, max(len(it["cluster"]) for it in report["items"])))
        rest_w = max(20, width - idw - cw - 32)
        lines.append(f"{'id':<{idw}}  {'cluster':<{cw}}  {'bucket':<13}  base  tuned  reason (tuned)")
        order = {b: i for i, b in enumerate(("regressed", "fixed", "still_failing", "still_passing"))}
        for it in sorted(report["items"], key=lambda x: (order[x["bucket"]], x["id"])):
            lines.append(
                f"{clip(it['id'], idw):<{idw}}  {clip(it['cluster'], cw):<{cw}}  {bucket_label(it):<13}  "
                f"{'pass' if it['base_grade']['passed'] else 'FAIL':<4}  {'pass' if it['tuned_grade']['passed'] else 'FAIL':<5}  "
                f"{clip(it['tuned_grade']['reason'], rest_w)}"
            )
    return "\n".join(lines)
