"""Correcting failures from the shell: one item and its correction, and the review file round trip."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from dataclasses import asdict
from pathlib import Path

from ftui.commands.common import EXIT_FOUND, EXIT_OK, add_json, add_workspace, emit, fail, load_ws
from ftui.commands.curate import MAX_DIAGNOSTICS, WIDTH, category_of, load_log
from ftui.core.base.formatting import clip
from ftui.core.base.toolcalls import tool_summary
from ftui.core.curate.clusters import cluster_failures, is_model_failure, label_of, load_overlay
from ftui.core.curate.corrections import CorrectionError, CorrectionStore
from ftui.core.curate.review import export_review, import_review, items_for_review, review_row
from ftui.core.logs.items import Item, RunLog
from ftui.core.logs.passrule import show_grade


def register(sub: argparse._SubParsersAction) -> None:
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
    category = category_of(ws, item, log.has_retrieval)
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
        note = f" (note: {category_of(ws, item, log.has_retrieval).replace('_', ' ')}, not a model failure)"
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
