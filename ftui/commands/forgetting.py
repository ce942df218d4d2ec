"""`ftui forgetting RUN`: general tasks, base vs fine-tuned, through lm-evaluation-harness."""

from __future__ import annotations

import argparse
import sys

from ftui.commands import follow
from ftui.commands.common import EXIT_FOUND, EXIT_OK, add_run, emit, fail, load_ws
from ftui.core.base import jobs
from ftui.core.judge import forgetting, texts
from ftui.core.judge.compare import forgetting_lines
from ftui.core.runs import runs


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "forgetting",
        help="general tasks base vs fine-tuned (lm-evaluation-harness): what the benchmark cannot see",
    )
    add_run(p, optional=True)
    p.add_argument("--follow", action="store_true", help="wait for the check and print its table")
    p.add_argument("--limit", type=int, metavar="N", help="at most N documents a task (default: eval.forgetting.limit)")
    p.add_argument("--tasks", metavar="A,B", help="these tasks instead of eval.forgetting.tasks")
    p.add_argument("--stop", action="store_true", help="stop a running check (finished tasks are kept)")
    p.set_defaults(func=cmd_forgetting)


def cmd_forgetting(args) -> int:
    ws = load_ws(args)
    run_dir = runs.find_run(ws, args.run)
    st = forgetting.state(run_dir)
    if args.stop:
        if st.state != "running" or not jobs.request_stop(forgetting.job_dir(run_dir)):
            fail(f"no forgetting check of {run_dir.name} is running", EXIT_FOUND)
        emit(args, {"run_id": run_dir.name, "stopped": st.pid}, f"Stopping the forgetting check of {run_dir.name}")
        return EXIT_OK
    if st.state == "running":
        if not args.follow:
            fail(
                f"a forgetting check of {run_dir.name} is already running (pid {st.pid}); add --follow to watch it",
                EXIT_FOUND,
            )
        pid = st.pid
    else:
        tasks = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None
        run_dir, pid = forgetting.start(ws, run_dir, limit=args.limit, tasks=tasks)
    d = forgetting.job_dir(run_dir)
    if not args.follow:
        emit(
            args,
            {"run_id": run_dir.name, "pid": pid, "dir": str(d), "state": "running"},
            f"Checking general tasks on {run_dir.name} (pid {pid}); events in {d / forgetting.EVENTS}\n"
            f"Watch it with `ftui forgetting {run_dir.name} --follow`; the table joins `ftui report {run_dir.name}`.",
        )
        return EXIT_OK
    if not args.json:
        print(f"Checking general tasks on {run_dir.name} (pid {pid})...", file=sys.stderr, flush=True)
    st = follow.job(d, texts.forgetting_progress, args.json, lambda: forgetting.state(run_dir))
    result = forgetting.read_result(run_dir)
    if st.state != "finished":
        line = texts.forgetting_outcome(run_dir.name, st, result, f"`ftui forgetting {run_dir.name}`")
        emit(args, {"run_id": run_dir.name, "state": st.state, "error": line, "log": str(d / forgetting.LOG)}, line)
        return EXIT_FOUND
    summ = forgetting.summary(result or {})
    text = "\n".join(forgetting_lines(summ)).strip("\n")
    if summ["flagged"]:
        text += f"\nDropped beyond eval.forgetting.max_drop: {', '.join(summ['flagged'])}"
    emit(args, {"run_id": run_dir.name, "state": "finished", **summ}, text)
    return EXIT_FOUND if summ["flagged"] else EXIT_OK
