"""`ftui draft run|list|accept|edit|reject|prompt|jobs|stop|resume`: teacher-drafted corrections."""

from __future__ import annotations

import argparse
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

from ftui.commands import follow
from ftui.commands.common import EXIT_FOUND, EXIT_OK, EXIT_USAGE, add_json, add_workspace, emit, fail, load_ws
from ftui.commands.curate import load_log
from ftui.core.base import jobs
from ftui.core.base.events import FINAL_TYPES
from ftui.core.base.formatting import clip
from ftui.core.curate.clusters import cluster_failures
from ftui.core.curate.corrections import CorrectionStore
from ftui.core.curate.drafts import (
    decisions as draft_decisions,
)
from ftui.core.curate.drafts import (
    job as draft_job,
)
from ftui.core.curate.drafts import (
    store as draft_store,
)
from ftui.core.curate.drafts import (
    teacher as draft_teacher,
)
from ftui.core.curate.drafts import (
    trust as draft_trust,
)

WIDTH = 80


def register(sub) -> None:
    p = sub.add_parser("draft", help="draft corrections with a teacher model, graded, for a person to accept")
    ds = p.add_subparsers(dest="draft_command", metavar="ACTION")

    s = ds.add_parser("run", help="draft the corrections of a cluster in a background job")
    s.add_argument("cluster", metavar="CLUSTER")
    add_workspace(s, positional=False)
    s.add_argument("--ids", nargs="+", metavar="ID", help="only these items (default: every item without a correction)")
    s.add_argument("--base-url", metavar="URL", help="an OpenAI-compatible teacher (default: the workspace's model)")
    s.add_argument("--model", metavar="M", help="the endpoint's model name")
    s.add_argument("--api-key-env", metavar="VAR", help="environment variable holding the endpoint's key")
    s.add_argument("--local", action="store_true", help="use the workspace's own model, even if an endpoint was set")
    _prompt_args(s)
    s.add_argument("--concurrency", type=int, default=draft_job.DEFAULT_CONCURRENCY, help="endpoint requests at once")
    s.add_argument("--max-new-tokens", type=int, default=draft_job.DEFAULT_MAX_NEW_TOKENS, metavar="N")
    s.add_argument(
        "--batch-size",
        type=int,
        default=draft_job.DEFAULT_BATCH_SIZE,
        metavar="N",
        help="rows the local teacher decodes at once",
    )
    s.add_argument("--redraft", action="store_true", help="draft again items that have a draft from this prompt")
    s.add_argument("--follow", action="store_true", help="print progress until the job ends")
    add_json(s)
    s.set_defaults(func=cmd_run)

    s = ds.add_parser("list", help="drafts with their grade and decision")
    s.add_argument("cluster", metavar="CLUSTER", nargs="?")
    add_workspace(s, positional=False)
    s.add_argument("--pending", action="store_true", help="only drafts waiting for a decision")
    add_json(s)
    s.set_defaults(func=cmd_list)

    s = ds.add_parser("accept", help="accept drafts as corrections (they then enter builds)")
    s.add_argument("ids", nargs="*", metavar="ID")
    add_workspace(s, positional=False)
    s.add_argument("--passing", metavar="CLUSTER", help="every waiting draft of CLUSTER that passes its grader")
    s.add_argument("--dry-run", action="store_true", help="say how many would be accepted, accept nothing")
    add_json(s)
    s.set_defaults(func=cmd_accept)

    s = ds.add_parser("edit", help="accept one draft with your own text")
    s.add_argument("id", metavar="ID")
    add_workspace(s, positional=False)
    what = s.add_mutually_exclusive_group(required=True)
    what.add_argument("--text")
    what.add_argument("--file", help="read the text from a file (- for stdin)")
    add_json(s)
    s.set_defaults(func=cmd_edit)

    s = ds.add_parser("reject", help="reject drafts (they never become corrections)")
    s.add_argument("ids", nargs="+", metavar="ID")
    add_workspace(s, positional=False)
    add_json(s)
    s.set_defaults(func=cmd_reject)

    s = ds.add_parser("prompt", help="show or set a cluster's teacher prompt")
    s.add_argument("cluster", metavar="CLUSTER")
    add_workspace(s, positional=False)
    _prompt_args(s)
    s.add_argument("--show", metavar="ID", help="print the whole chat the teacher sees for this item")
    add_json(s)
    s.set_defaults(func=cmd_prompt)

    s = ds.add_parser("jobs", help="drafting jobs and their progress")
    add_workspace(s)
    add_json(s)
    s.set_defaults(func=cmd_jobs)

    for name, helptext, func in (
        ("stop", "stop a drafting job (what it finished is kept)", cmd_stop),
        ("resume", "continue a stopped or killed drafting job", cmd_resume),
    ):
        s = ds.add_parser(name, help=helptext)
        s.add_argument("job", metavar="JOB", nargs="?", default="latest", help="job id, prefix, folder or `latest`")
        add_workspace(s, positional=False)
        if name == "resume":
            s.add_argument("--follow", action="store_true")
        add_json(s)
        s.set_defaults(func=func)

    p.set_defaults(func=lambda args: (p.print_help(), EXIT_USAGE)[1])


def _prompt_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("--instruction", metavar="TEXT", help="what the teacher must do for this cluster")
    s.add_argument("--template-file", metavar="FILE", help="the teacher prompt template (placeholders: {user}, …)")
    s.add_argument("--examples", type=int, metavar="N", help="accepted corrections shown as examples (default 10)")


def _cluster(ws, log, label: str):
    report = cluster_failures(ws, log)
    c = report.by_label(label)
    if c is None:
        fail(f"{ws.run_log}: no cluster {label!r}; one of {', '.join(x.label for x in report.clusters)}")
    return c


def _settings(ws, label: str, args, teacher: draft_teacher.Teacher | None = None) -> draft_teacher.PromptSettings:
    st = draft_teacher.prompt_settings(ws, label)
    if args.instruction is not None:
        st = replace(st, instruction=args.instruction)
    if args.template_file:
        try:
            st = replace(st, template=Path(args.template_file).read_text(encoding="utf-8").rstrip("\n"))
        except OSError as exc:
            fail(f"{args.template_file}: cannot read ({exc.strerror})")
    if args.examples is not None:
        st = replace(st, examples=max(0, args.examples))
    if teacher is not None:
        st = replace(st, teacher={} if teacher.kind == draft_teacher.LOCAL else teacher.to_dict())
    return st


def _teacher(ws, label: str, args) -> draft_teacher.Teacher:
    if args.local:
        return draft_teacher.Teacher(draft_teacher.LOCAL, ws.model)
    if args.base_url:
        if not args.model:
            fail("--base-url needs --model (the endpoint's model name)")
        return draft_teacher.Teacher("endpoint", args.model, args.base_url, args.api_key_env or "OPENAI_API_KEY")
    if args.model or args.api_key_env:
        fail("--model and --api-key-env go with --base-url")
    return draft_teacher.prompt_settings(ws, label).teacher_for(ws)


def follow_job(job_dir: Path, json_out: bool = False, offset: int = 0) -> int:
    # From `offset`: a resumed job's earlier final event is history, not its end.
    last = 0.0
    for ev in follow.events(Path(job_dir) / draft_job.EVENTS, lambda: jobs.job_state(job_dir).state == "dead", offset):
        kind = ev["type"]
        if kind == "status" and not json_out:
            print(f"  {ev.get('message')}", file=sys.stderr)
        elif kind == "progress" and not json_out:
            now = time.monotonic()
            if now - last > 5 or ev["done"] == ev["total"]:
                last = now
                print(f"  {draft_job.progress_text(ev)}", file=sys.stderr)
        elif kind in FINAL_TYPES:
            if kind == "failed":
                print(f"ftui: drafting failed: {ev.get('error')}", file=sys.stderr)
            return EXIT_OK if kind == "finished" else EXIT_FOUND
    print(f"ftui: the drafting job died; see {Path(job_dir) / draft_job.LOG}", file=sys.stderr)
    return EXIT_FOUND


def _job_summary(job_dir: Path) -> dict:
    st = jobs.job_state(job_dir)
    prog = st.overall
    return {
        "job": Path(job_dir).name,
        "dir": str(job_dir),
        "state": st.state,
        "done": prog.get("done", 0),
        "total": prog.get("total", st.items),
        "passed": prog.get("passed", 0),
        "error": st.error,
    }


def cmd_run(args) -> int:
    ws = load_ws(args)
    log = load_log(ws)
    cluster = _cluster(ws, log, args.cluster)
    teacher = _teacher(ws, cluster.label, args)
    settings = _settings(ws, cluster.label, args, teacher)
    draft_teacher.save_prompt_settings(ws, cluster.label, settings)
    job_dir, plan = draft_job.start_drafting(
        ws,
        cluster,
        teacher,
        settings,
        ids=args.ids,
        redraft=args.redraft,
        concurrency=args.concurrency,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
    )
    warning = draft_trust.teacher_warning(ws, teacher)
    if warning:
        print(f"ftui: warning: {warning} (--base-url sets another teacher)", file=sys.stderr)
    data = {
        "job": job_dir.name,
        "dir": str(job_dir),
        "cluster": cluster.label,
        "teacher": teacher.name,
        "teacher_warning": warning,
        "items": len(plan.items),
        "examples": plan.examples,
        "skipped": plan.skipped,
    }
    if not args.json:
        print(
            f"drafting {len(plan.items)} items of {cluster.label} with {teacher.name} "
            f"({len(plan.examples)} accepted corrections as examples); job {job_dir.name}"
        )
    code = EXIT_OK
    if args.follow:
        code = follow_job(job_dir, args.json)
        data["result"] = _job_summary(job_dir)
        if not args.json:
            r = data["result"]
            print(f"{r['state']}: {r['done']}/{r['total']} drafted, {r['passed']} pass the grader")
            print(f"review them: ftui draft list {cluster.label}; accept: ftui draft accept --passing {cluster.label}")
    emit(args, data)
    return code


def cmd_list(args) -> int:
    ws = load_ws(args)
    log = load_log(ws)
    store = draft_store.DraftStore(ws)
    all_drafts = store.all()
    if args.cluster:
        ids = [it.id for it in _cluster(ws, log, args.cluster).items]
        rows = [all_drafts[i] for i in ids if i in all_drafts]
    else:
        rows = list(all_drafts.values())
    if args.pending:
        rows = [d for d in rows if d.pending]
    for p in store.problems:
        print(p, file=sys.stderr)
    data = [d.to_dict() for d in rows]
    lines = []
    for d in rows:
        mark = "FLAG" if d.flag else "pass" if d.passed else "FAIL"
        lines.append(f"{d.id:<28} {d.status:<9} {mark}  {clip(d.output, WIDTH - 46)}")
        if d.flag:
            lines.append(f"{'':<28} flagged: {d.flag}")
        elif not d.passed:
            lines.append(f"{'':<28} {clip(d.reason, WIDTH - 30)}")
    n_pass = sum(d.passes for d in rows)
    lines.append(
        f"{len(rows)} drafts, {n_pass} pass their grader, {sum(d.pending for d in rows)} waiting for a decision"
    )
    emit(args, data, "\n".join(lines))
    return EXIT_OK


def cmd_accept(args) -> int:
    ws = load_ws(args)
    log = load_log(ws)
    if args.passing and args.ids:
        fail("give IDs or --passing CLUSTER, not both")
    if args.passing:
        ids = [d.id for d in draft_decisions.passing_pending(ws, _cluster(ws, log, args.passing))]
    elif args.ids:
        ids = list(args.ids)
    else:
        fail("say which drafts: IDs, or --passing CLUSTER")
    if args.dry_run:
        emit(args, {"would_accept": ids}, f"{len(ids)} drafts would be accepted")
        return EXIT_OK
    done = draft_decisions.accept(ws, log.by_id, ids) if ids else []
    emit(args, [d.to_dict() for d in done], f"{len(done)} drafts accepted as corrections")
    return EXIT_OK


def cmd_edit(args) -> int:
    ws = load_ws(args)
    log = load_log(ws)
    if args.file == "-":
        text = sys.stdin.read().rstrip("\r\n")
    elif args.file:
        try:
            text = Path(args.file).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            fail(f"{args.file}: cannot read ({exc.strerror})")
    else:
        text = args.text
    done = draft_decisions.accept(ws, log.by_id, [args.id], text=text)
    emit(args, done[0].to_dict(), f"{args.id}: {done[0].status}")
    return EXIT_OK


def cmd_reject(args) -> int:
    ws = load_ws(args)
    done = draft_decisions.reject(ws, args.ids)
    emit(args, [d.to_dict() for d in done], f"{len(done)} drafts rejected")
    return EXIT_OK


def cmd_prompt(args) -> int:
    ws = load_ws(args)
    log = load_log(ws)
    cluster = _cluster(ws, log, args.cluster)
    settings = _settings(ws, cluster.label, args)
    if args.instruction is not None or args.template_file or args.examples is not None:
        draft_teacher.save_prompt_settings(ws, cluster.label, settings)
    data = {"cluster": cluster.label, **settings.to_dict()}
    lines = [f"Teacher prompt for {cluster.label} (teacher: {settings.teacher_for(ws).name})"]
    lines.append(f"Instruction: {settings.instruction or '(none)'}")
    lines.append(f"Examples: up to {settings.examples} accepted corrections of the cluster")
    lines.append("Template:")
    lines += textwrap.indent(settings.template, "  ").splitlines()
    if args.show:
        item = log.by_id.get(args.show)
        if item is None or item.id not in cluster.ids:
            fail(f"{ws.run_log}: no item {args.show!r} in cluster {cluster.label}")
        examples = draft_job.examples_for(cluster, CorrectionStore(ws).all(), settings.examples)
        msgs = draft_teacher.teacher_messages(item, ws, settings, examples, label=cluster.label)
        data["messages"] = msgs
        data["prompt_hash"] = draft_teacher.prompt_hash(msgs)
        lines.append("")
        lines.append(f"The chat the teacher sees for {item.id} ({len(examples)} examples, hash {data['prompt_hash']}):")
        for m in msgs:
            lines.append(f"--- {m['role']}")
            lines.append(m["content"])
    emit(args, data, "\n".join(lines))
    return EXIT_OK


def cmd_jobs(args) -> int:
    ws = load_ws(args)
    jobs = draft_job.list_jobs(ws)
    lines = [
        f"{j['job']:<40} {j['state']:<9} {j['done']}/{j['total'] or '?'} drafted, {j['passed']} pass" for j in jobs
    ] or ["no drafting jobs"]
    emit(args, jobs, "\n".join(lines))
    return EXIT_OK


def cmd_stop(args) -> int:
    ws = load_ws(args)
    job_dir = draft_job.find_job(ws, args.job)
    signalled = draft_job.stop_job(job_dir)
    emit(
        args,
        {"job": job_dir.name, "signalled": signalled},
        f"{job_dir.name}: stop requested" + ("" if signalled else " (no live process)"),
    )
    return EXIT_OK


def cmd_resume(args) -> int:
    ws = load_ws(args)
    events = draft_job.find_job(ws, args.job) / draft_job.EVENTS
    offset = events.stat().st_size if events.exists() else 0
    job_dir = draft_job.resume_job(ws, args.job)
    if not args.json:
        print(f"{job_dir.name}: resumed")
    code = follow_job(job_dir, args.json, offset) if args.follow else EXIT_OK
    emit(args, _job_summary(job_dir))
    return code
