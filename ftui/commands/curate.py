"""Curating failures from the shell: the clusters and the workspace's status, and the run log they read."""

from __future__ import annotations

import argparse
import sys
import textwrap

from ftui.commands.common import EXIT_OK, add_json, add_workspace, emit, fail, load_ws
from ftui.core.base.formatting import clip, pct, plural
from ftui.core.curate.clusters import ClusterReport, cluster_failures, is_model_failure, is_passing
from ftui.core.curate.corrections import Correction, CorrectionStore
from ftui.core.curate.progress import count_progress
from ftui.core.logs.items import Item, RunLog
from ftui.core.logs.passrule import show_grade
from ftui.core.logs.runlog import load_run_log
from ftui.core.workspace.workspace import Workspace

MAX_DIAGNOSTICS = 20
WIDTH = 80

NO_RETRIEVAL_NOTICE = (
    "The run log has no retrieval field ({field}): every non-passing item is counted as a model "
    "failure, because retrieval misses cannot be told apart."
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("clusters", help="model-attributed failures grouped by failure label")
    add_workspace(p)
    add_json(p)
    p.add_argument("--samples", action="store_true", help="show up to three sample questions per cluster")
    p.set_defaults(func=cmd_clusters)

    p = sub.add_parser("status", help="counts: items, failures, clusters, candidates, corrections")
    add_workspace(p)
    add_json(p)
    p.set_defaults(func=cmd_status)


# -- shared ---------------------------------------------------------------------------------------


def load_log(ws: Workspace) -> RunLog:
    """Load the run log, reporting its bad lines on stderr so stdout stays a clean table/JSON."""
    log = load_run_log(ws)
    diags = log.diagnostics
    if diags:
        for d in diags[:MAX_DIAGNOSTICS]:
            print(str(d), file=sys.stderr)
        if len(diags) > MAX_DIAGNOSTICS:
            print(f"... and {len(diags) - MAX_DIAGNOSTICS} more", file=sys.stderr)
        print(log.summary_line(), file=sys.stderr)
    if not log.items:
        fail(f"{log.path}: no usable items in the run log")
    return log


def _progress(ids, data: dict[str, Correction]) -> dict:
    return count_progress(ids, lambda i: c.status if (c := data.get(i)) is not None else None).to_dict()


def category_of(ws: Workspace, item: Item, present: bool) -> str:
    if is_passing(ws, item):
        return "passing"
    if is_model_failure(ws, item, present):
        return "model_failure"
    if item.retrieval_hit is False:
        return "retrieval_miss"
    return "retrieval_unknown"


# -- clusters -------------------------------------------------------------------------------------


def clusters_data(ws: Workspace, log: RunLog, report: ClusterReport, data: dict[str, Correction]) -> dict:
    return {
        "workspace": str(ws.root),
        "run_log": str(ws.run_log),
        "summary": log.summary,
        "total_items": report.total_items,
        "failures": report.failures,
        "retrieval_misses": report.retrieval_misses,
        "retrieval_unknown": report.retrieval_unknown,
        "passing": report.passing,
        "retrieval_field_present": report.retrieval_field_present,
        "notice": None if report.retrieval_field_present else NO_RETRIEVAL_NOTICE.format(field=ws.fields.retrieval_hit),
        "candidate_threshold": ws.candidate_threshold,
        "pass_rule": ws.rule.describe(),
        "runs": log.runs,
        "min_repeat_rate": ws.min_repeat_rate,
        "clusters": [
            {
                "label": c.label,
                "count": c.count,
                "share_of_items": round(c.share_of_items, 6),
                "share_of_failures": round(c.share_of_failures, 6),
                "candidate": c.candidate,
                "discovered": c.discovered,
                "description": c.description,
                "samples": list(c.samples),
                "ids": list(c.ids),
                "grades": [it.grade for it in c.items],
                "repeat_rate": round(c.repeat_rate, 6),
                "failed_attempts": c.failed_attempts,
                "attempts": c.attempts,
                "sample_grades": [show_grade(it.grade) for it in c.items[: len(c.samples)]],
                **_progress(c.ids, data),
            }
            for c in report.clusters
        ],
    }


def render_clusters(d: dict, samples: bool = False) -> str:
    lines = []
    total, fails = d["total_items"], d["failures"]
    share = pct(fails / total) if total else "0.0%"
    lines.append(f"Model-attributed failures: {fails} of {total} items ({share})")
    extra = []
    if d["retrieval_field_present"]:
        extra.append(f"retrieval misses: {d['retrieval_misses']} (not the model's fault)")
    extra.append(f"passing: {d['passing']} (future anchors)")
    if d["retrieval_unknown"]:
        extra.append(f"no retrieval value: {d['retrieval_unknown']}")
    lines.append("  " + "; ".join(extra))
    if d.get("pass_rule"):
        lines.append(f"  pass rule: {d['pass_rule']}")
    if d.get("runs", 1) > 1:
        lines.append(f"  runs: up to {d['runs']} per question; REPEAT: failed answers / answers in the cluster")
    if d["notice"]:
        lines.append("")
        lines.extend(textwrap.wrap("Note: " + d["notice"], WIDTH - 1))
    lines.append("")
    if not d["clusters"]:
        lines.append("No model-attributed failures: nothing to fine-tune on.")
        return "\n".join(lines)
    # label | count | % of items | % of failures | candidate | corrected | remaining
    num_w = max(5, max(len(str(c["count"])) for c in d["clusters"]))
    fixed = 1 + num_w + 1 + 7 + 1 + 7 + 1 + 4 + 1 + 5 + 1 + 5
    label_w = max(5, min(WIDTH - 1 - fixed, max(len(c["label"]) for c in d["clusters"])))
    head = f"{'LABEL':<{label_w}} {'COUNT':>{num_w}} {'ITEMS':>7} {'FAILS':>7} {'CAND':>4} {'DONE':>5} {'LEFT':>5}"
    lines.append(head)
    lines.append("-" * len(head))
    for c in d["clusters"]:
        lines.append(
            f"{clip(c['label'], label_w):<{label_w}} {c['count']:>{num_w}} {pct(c['share_of_items']):>7} "
            f"{pct(c['share_of_failures']):>7} {'yes' if c['candidate'] else '-':>4} "
            f"{c['corrected']:>5} {c['remaining']:>5}"
        )
        if d.get("runs", 1) > 1:
            lines[-1] += f"  REPEAT {c['failed_attempts']}/{c['attempts']}"
        if samples:
            for q, g in zip(c["samples"], c.get("sample_grades") or [""] * len(c["samples"]), strict=False):
                tag = f"[{g}] " if g else ""
                lines.append("    - " + clip(tag + q, WIDTH - 7))
    lines.append("")
    cands = [c["label"] for c in d["clusters"] if c["candidate"]]
    th = d["candidate_threshold"]
    rate = d.get("min_repeat_rate") or 0
    if rate:
        th = f"{th}, each failing in >= {pct(rate, 0)} of its runs"
    if cands:
        lines.extend(textwrap.wrap(f"Fine-tuning candidates (>= {th} failures): {', '.join(cands)}", WIDTH - 1))
    else:
        lines.append(f"No cluster reaches the candidate threshold of {th} failures.")
    found = [c for c in d["clusters"] if c.get("discovered")]
    if found:
        lines.append("Discovered clusters (not from the log's labels; `ftui discover` made them):")
        for c in found:
            lines.extend(
                textwrap.wrap(
                    f"{c['label']}: {c['description']}", WIDTH - 1, initial_indent="  ", subsequent_indent="    "
                )
            )
    lines.append("ITEMS, FAILS: share of all items, of model failures.")
    lines.append("DONE: corrected; LEFT: neither corrected nor skipped.")
    return "\n".join(lines)


def cmd_clusters(args: argparse.Namespace) -> int:
    ws = load_ws(args)
    log = load_log(ws)
    report = cluster_failures(ws, log)
    data = clusters_data(ws, log, report, CorrectionStore(ws).all())
    emit(args, data, render_clusters(data, samples=args.samples))
    return EXIT_OK


def status_data(ws: Workspace, log: RunLog, report: ClusterReport, data: dict[str, Correction]) -> dict:
    failure_ids = [it.id for c in report.clusters for it in c.items]
    by_status = _progress(failure_ids, data)
    in_log = log.by_id
    stale = sum(1 for k, c in data.items() if k in in_log and c.is_stale(in_log[k]))
    return {
        "workspace": str(ws.root),
        "run_log": str(ws.run_log),
        "run_logs": [str(p) for p in ws.run_logs or (ws.run_log,)],
        "items": report.total_items,
        "skipped_lines": log.summary["skipped"],
        "failures": report.failures,
        "retrieval_misses": report.retrieval_misses,
        "passing": report.passing,
        "retrieval_field_present": report.retrieval_field_present,
        "clusters": len(report.clusters),
        "candidates": len(report.candidates),
        "candidate_threshold": ws.candidate_threshold,
        "corrected": by_status["corrected"],
        "skipped": by_status["skipped"],
        "needs_review": by_status["needs_review"],
        "remaining": by_status["remaining"],
        "stale": stale,
        "corrections_total": len(data),
        "corrections_not_in_log": sum(1 for k in data if k not in in_log),
    }


def render_status(d: dict) -> str:
    rows = [
        ("Workspace", d["workspace"], ""),
        (
            "Run log",
            d["run_log"],
            f"and {plural(len(d['run_logs']) - 1, 'more file')}" if len(d.get("run_logs", ())) > 1 else "",
        ),
        ("Items", d["items"], f"kept; bad lines skipped: {d['skipped_lines']}" if d["skipped_lines"] else ""),
        (
            "Failures",
            d["failures"],
            (
                f"model-attributed; {d['retrieval_misses']} retrieval misses, "
                if d["retrieval_field_present"]
                else "every non-passing item (no retrieval field); "
            )
            + f"{d['passing']} passing",
        ),
        ("Clusters", d["clusters"], ""),
        ("Candidates", d["candidates"], f"clusters with >= {d['candidate_threshold']} failures"),
        ("Corrected", d["corrected"], ""),
        ("Skipped", d["skipped"], ""),
        ("Needs review", d["needs_review"], ""),
        ("Remaining", d["remaining"], "failures not yet corrected or skipped"),
    ]
    if d["stale"]:
        rows.append(("Stale", d["stale"], "corrections whose item's answer changed in the run log"))
    if d["corrections_not_in_log"]:
        rows.append(("Orphaned", d["corrections_not_in_log"], "corrections for ids not in the run log"))
    out = []
    for name, value, note in rows:
        line = f"{name:<13}{value:>7}" if isinstance(value, int) else f"{name:<13}{value}"
        if note:
            line += "  " + note
        out.append(line if len(line) < WIDTH or isinstance(value, str) else line[: WIDTH - 2] + "…")
    return "\n".join(out)


def cmd_status(args: argparse.Namespace) -> int:
    ws = load_ws(args)
    log = load_log(ws)
    report = cluster_failures(ws, log)
    store = CorrectionStore(ws)
    data = status_data(ws, log, report, store.all())
    for problem in store.problems[:MAX_DIAGNOSTICS]:
        print(problem, file=sys.stderr)
    emit(args, data, render_status(data))
    return EXIT_OK
