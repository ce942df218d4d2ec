"""`ftui forgetting RUN`: general tasks, base vs fine-tuned, through lm-evaluation-harness."""

from __future__ import annotations

import argparse
import sys
import time

from ftui.commands.common import EXIT_FOUND, EXIT_OK, add_run, emit, fail, load_ws
from ftui.core.base import jobs
from ftui.core.base.jobs import JobState, fold
from ftui.core.judge import forgetting
from ftui.core.judge.compare import forgetting_lines
from ftui.core.runs import runs

POLL_S = 0.5


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


def _progress(st: JobState) -> str:
    done = st.progress.get("tuned", {}).get("done", 0)
    total = st.progress.get("tuned", st.progress.get("base", {})).get("total") or st.items or "?"
    return f"{done}/{total} tasks · {st.message or 'starting'}"


def follow(run_dir, quiet: bool) -> JobState:
    tail = jobs.Tail(forgetting.job_dir(run_dir) / forgetting.EVENTS)
    st = JobState("running")
    last = ""
    while True:
        evs = tail.poll()
        fold(evs, st)
        if st.state in ("finished", "failed", "cancelled"):
            return st
        if not evs and forgetting.state(run_dir).state == "dead":
            return forgetting.state(run_dir)
        line = _progress(st)
        if not quiet and line != last:
            print(f"  {line}", file=sys.stderr, flush=True)
            last = line
        time.sleep(POLL_S)


def outcome_line(run_id: str, st: JobState, result: dict | None) -> str:
    """One line for a check that did not finish, saying what was kept."""
    kept = [r["task"] for r in (result or {}).get("tasks", [])]
    keep = f"{len(kept)} task(s) measured and kept" + (f" ({', '.join(kept)})" if kept else "")
    if st.state == "cancelled":
        why = "interrupted"
    elif st.state == "dead":
        why = "stopped: its process is gone without a final event"
    else:
        why = f"failed: {st.error or st.state}"
    return f"forgetting check of {run_id} {why}; {keep}; `ftui forgetting {run_id}` measures the rest"


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
    st = follow(run_dir, quiet=args.json)
    result = forgetting.read_result(run_dir)
    if st.state != "finished":
        line = outcome_line(run_dir.name, st, result)
        emit(args, {"run_id": run_dir.name, "state": st.state, "error": line, "log": str(d / forgetting.LOG)}, line)
        return EXIT_FOUND
    summ = forgetting.summary(result or {})
    text = "\n".join(forgetting_lines(summ)).strip("\n")
    if summ["flagged"]:
        text += f"\nDropped beyond eval.forgetting.max_drop: {', '.join(summ['flagged'])}"
    emit(args, {"run_id": run_dir.name, "state": "finished", **summ}, text)
    return EXIT_FOUND if summ["flagged"] else EXIT_OK
