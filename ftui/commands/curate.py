"""Curating failures from the shell: clusters, one item, corrections, the review round trip, status."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from dataclasses import asdict
from pathlib import Path

from ftui.commands.common import EXIT_FOUND, EXIT_OK, add_json, add_workspace, emit, fail, load_ws
from ftui.core.base.formatting import clip, pct, plural
from ftui.core.base.toolcalls import tool_summary
from ftui.core.curate.clusters import (
    ClusterReport,
    cluster_failures,
    is_model_failure,
    is_passing,
    label_of,
    load_overlay,
)
from ftui.core.curate.corrections import Correction, CorrectionError, CorrectionStore
from ftui.core.curate.progress import count_progress
from ftui.core.curate.review import export_review, import_review, items_for_review, review_row
from ftui.core.logs.passrule import show_grade
from ftui.core.logs.runlog import Item, RunLog, load_run_log
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

    p = sub.add_parser("show", help="one item of the run log with its correction")
    p.add_argument("id", metavar="ID")
    add_workspace(p, positional=False)
    add_json(p)
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("correct", help="write, skip, flag or revert the correction of one item")
    p.add_argument("id", metavar="ID")
    add_workspace(p, positional=False)
    add_json(p)
    what = p.add_mutually_exclusive_group()
    what.add_argument("--text", help="the corrected output")
    what.add_argument("--file", help="read the corrected output from a file (- for stdin)")
    what.add_argument("--skip", action="store_true", help="leave this item out of training")
    what.add_argument("--revert", action="store_true", help="remove the item's correction")
    p.add_argument(
        "--review", action="store_true", help="mark as needs review (with --text/--file: save that text as the draft)"
    )
    p.set_defaults(func=cmd_correct)

    p = sub.add_parser("export-review", help="write failures to a JSONL file for hand review")
    add_workspace(p, positional=False)
    add_json(p)
    p.add_argument("--cluster", metavar="LABEL", help="only this cluster")
    p.add_argument("--remaining", action="store_true", help="only items without a correction or skip")
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="where to write (- for stdout; default: <state>/review/review[-LABEL].jsonl)",
    )
    p.set_defaults(func=cmd_export_review)

    p = sub.add_parser("import-review", help="merge a hand-edited review file into the corrections")
    p.add_argument("file", metavar="FILE")
    add_workspace(p, positional=False)
    add_json(p)
    p.add_argument("--force", action="store_true", help="overwrite saved corrections that differ")
    p.set_defaults(func=cmd_import_review)

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


def _category(ws: Workspace, item: Item, present: bool) -> str:
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


# -- show -----------------------------------------------------------------------------------------


def _find(log: RunLog, item_id: str) -> Item:
    item = log.by_id.get(item_id)
    if item is None:
        fail(f"{log.path}: no item with id {item_id!r}")
    return item


def _block(title: str, text: str | None) -> list[str]:
    out = [title]
    if text is None or text == "":
        out.append("  (none)")
        return out
    for para in text.splitlines() or [""]:
        # Keep a line's own indentation (answers are often code) and wrap only what overflows.
        body = para.lstrip(" ")
        indent = "  " + " " * min(len(para) - len(body), 40)
        out.extend(
            textwrap.wrap(body.expandtabs(4), WIDTH - 1, initial_indent=indent, subsequent_indent=indent) or [""]
        )
    return out


def item_dict(item: Item) -> dict:
    d = asdict(item)
    d["source"] = str(item.source)
    d["evidence_files"] = list(item.evidence_files)
    d["messages"] = [{"role": r, "content": t} for r, t in item.messages] if item.messages else None
    return d


def cmd_show(args: argparse.Namespace) -> int:
    ws = load_ws(args)
    log = load_log(ws)
    item = _find(log, args.id)
    corr = CorrectionStore(ws).get(item.id)
    category = _category(ws, item, log.has_retrieval)
    stale = corr.is_stale(item) if corr else False
    cluster = label_of(item, load_overlay(ws)) if category == "model_failure" else None
    data = {
        "item": item_dict(item),
        "category": category,
        "cluster": cluster,
        "correction": corr.to_dict() if corr else None,
        "stale": stale,
    }
    hit = {True: "hit", False: "miss", None: "-"}[item.retrieval_hit]
    lines = [
        f"{item.id}  [{cluster or item.label or 'unlabeled'}]  grade: {show_grade(item.grade)}  retrieval: {hit}  "
        f"({category.replace('_', ' ')})",
        f"{item.source.name}:{item.line}"
        + (f"  failed in {item.failures} of {item.attempts} runs" if item.attempts > 1 else ""),
        "",
    ]
    if item.messages:
        lines.append("Conversation:")
        for role, text in item.messages:
            lines += _block(f"  [{role}]", text)
    else:
        lines += _block("Question:", item.question)
    if item.tools:
        lines += _block("Tools:", tool_summary(item.tools))
    if item.grade_reason:
        lines += _block("Grader's reason:", item.grade_reason)
    if item.evidence_files:
        lines.append("Evidence files: " + ", ".join(item.evidence_files))
    lines += _block("Expected:", item.expected)
    lines += _block("Model answer:", item.answer)
    if corr is None:
        lines.append("Correction: none")
    else:
        lines += _block(f"Correction ({corr.status.replace('_', ' ')}, {corr.updated}):", corr.output)
        if stale:
            lines.append("! The run log's answer changed after this correction was written: check it still fits.")
    emit(args, data, "\n".join(lines))
    return EXIT_OK


# -- correct --------------------------------------------------------------------------------------


def _read_text(args: argparse.Namespace) -> str | None:
    if args.text is not None:
        return args.text
    if args.file is not None:
        if args.file == "-":
            text = sys.stdin.read()
        else:
            try:
                text = Path(args.file).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                fail(f"{args.file}: cannot read ({getattr(exc, 'strerror', None) or exc})")
        # Editors end files with a newline the author did not mean as part of the answer.
        return text.rstrip("\r\n")
    return None


def cmd_correct(args: argparse.Namespace) -> int:
    text = _read_text(args)
    if text is None and not (args.skip or args.review or args.revert):
        fail("say what to do: --text T, --file F, --skip, --review or --revert")
    if args.review and (args.skip or args.revert):
        fail("--review cannot be combined with --skip or --revert")
    ws = load_ws(args)
    log = load_log(ws)
    item = _find(log, args.id)
    store = CorrectionStore(ws)
    try:
        if args.revert:
            had = store.get(item.id) is not None
            store.revert(item.id)
            emit(
                args,
                {"id": item.id, "reverted": had},
                f"{item.id}: correction removed" if had else f"{item.id}: had no correction",
            )
            return EXIT_OK
        if args.skip:
            corr = store.skip(item)
        elif args.review:
            corr = store.mark_review(item, text)
        else:
            corr = store.save(item, text)
    except CorrectionError as exc:
        fail(str(exc))
    note = ""
    if not is_model_failure(ws, item, log.has_retrieval):
        note = f" (note: {_category(ws, item, log.has_retrieval).replace('_', ' ')}, not a model failure)"
    emit(args, corr.to_dict(), f"{item.id}: {corr.status.replace('_', ' ')} at {corr.updated}{note}")
    return EXIT_OK


# -- review round trip ----------------------------------------------------------------------------


def cmd_export_review(args: argparse.Namespace) -> int:
    ws = load_ws(args)
    log = load_log(ws)
    report = cluster_failures(ws, log)
    exclude = ()
    if args.remaining:
        exclude = [k for k, c in CorrectionStore(ws).all().items() if c.status in ("corrected", "skipped")]
    items = items_for_review(report, args.cluster, exclude)
    cluster_of = {it.id: c.label for c in report.clusters for it in c.items}
    if args.output == "-":
        for it in items:
            sys.stdout.write(json.dumps(review_row(it, cluster_of.get(it.id)), ensure_ascii=False) + "\n")
        return EXIT_OK
    if args.output:
        out = Path(args.output)
    else:
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in args.cluster) if args.cluster else ""
        out = ws.state.root / "review" / (f"review-{safe}.jsonl" if safe else "review.jsonl")
    n = export_review(out, items, cluster_of)
    scope = f"cluster {args.cluster!r}" if args.cluster else "all clusters"
    emit(
        args,
        {"path": str(out), "items": n, "cluster": args.cluster},
        f"Wrote {n} failures ({scope}) to {out}\nFill in `corrected_output`, then: ftui import-review {out}",
    )
    return EXIT_OK


def render_import(res) -> tuple[list[str], list[str]]:
    """(lines for stderr: what the user must act on, lines for stdout: the outcome)."""
    err = list(res.problems[:MAX_DIAGNOSTICS])
    if len(res.problems) > MAX_DIAGNOSTICS:
        err.append(f"... and {len(res.problems) - MAX_DIAGNOSTICS} more bad lines")
    err += res.notes[:MAX_DIAGNOSTICS]
    for c in res.conflicts:
        err.append(
            f"{res.path}:{c['line']}: conflict for {c['id']}: saved correction differs "
            f"(saved {clip(c['saved'], 20)!r}, file {clip(c['imported'], 20)!r})"
        )
    out = [
        f"{len(res.applied)} saved ({len(res.overwritten)} overwritten), {len(res.unchanged)} unchanged, "
        f"{len(res.untouched)} left empty, {len(res.conflicts)} conflicts, {len(res.problems)} bad lines"
    ]
    if res.conflicts:
        out.append("Conflicting items kept their saved correction; use --force to take the file's text.")
    return err, out


def cmd_import_review(args: argparse.Namespace) -> int:
    ws = load_ws(args)
    path = Path(args.file)
    if not path.is_file():
        fail(f"{path}: no such file")
    log = load_log(ws)
    res = import_review(path, log, CorrectionStore(ws), force=args.force)
    err, out = render_import(res)
    if args.json:
        emit(args, res.to_dict())
    else:
        for line in err:
            print(line, file=sys.stderr)
        print("\n".join(out))
    return EXIT_OK if res.ok else EXIT_FOUND


# -- status ---------------------------------------------------------------------------------------


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
