"""`ftui learnability`: before a GRPO run, how often the base passes each failure when sampled k times."""

from __future__ import annotations

import argparse
from pathlib import Path

from ftui.commands import follow
from ftui.commands.common import EXIT_FOUND, EXIT_OK, add_json, add_workspace, emit, fail, load_ws
from ftui.core.base import jobs
from ftui.core.build import learnability as lb
from ftui.core.build.store import BuildError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "learnability",
        help="sample the base model k times per failure: which clusters GRPO can learn (pre-flight)",
    )
    add_workspace(p)
    add_json(p)
    p.add_argument("--cluster", action="extend", nargs="+", metavar="LABEL", help="only these clusters")
    p.add_argument("-k", type=int, default=lb.DEFAULT_K, help=f"answers per failure (default {lb.DEFAULT_K})")
    p.add_argument("--limit", type=int, metavar="N", help="at most N failures per cluster")
    p.add_argument(
        "--max-new-tokens", type=int, metavar="N", help="answer length (default: train.max_completion_length)"
    )
    p.add_argument("--temperature", type=float, metavar="T", help="sampling temperature (default: train.temperature)")
    p.add_argument("--show", metavar="JOB", nargs="?", const="latest", help="print a finished job's report again")
    p.add_argument("--no-wait", action="store_true", help="start the job and return (its folder is printed)")
    p.set_defaults(func=cmd_learnability)


def _progress(st: jobs.JobState) -> str:
    done, total = st.overall.get("done"), st.overall.get("total")
    return f"sampling: {done}/{total} prompts" if total else (st.message or "loading the model")


def cmd_learnability(args: argparse.Namespace) -> int:
    ws = load_ws(args)
    if args.show:
        job = lb.latest(ws) if args.show == "latest" else Path(args.show)
        if job is None:
            fail("no learnability job yet: run `ftui learnability`")
    else:
        try:
            job = lb.start(
                ws,
                args.cluster,
                k=args.k,
                limit=args.limit,
                max_new_tokens=args.max_new_tokens,
                temperature=args.temperature,
            )
        except BuildError as exc:
            fail(str(exc))
        if args.no_wait:
            emit(args, {"job": str(job)}, f"learnability job started: {job}\n  report: ftui learnability --show")
            return EXIT_OK
        st = follow.job(job, _progress, quiet=args.json)
        if st.state != "finished":
            fail(f"learnability job {st.state}: {st.error or ''} (log: {job / lb.LOG})", EXIT_FOUND)
    assert job is not None
    result = lb.read_result(job)
    summary = lb.summarize(result)
    emit(args, {"job": str(job), **summary, "items": result["items"]}, "\n".join(lb.report_lines(summary)))
    return EXIT_OK
