"""Judging a fine-tune from the shell: `ftui eval`, `ftui report`, `ftui postmortem`."""

from __future__ import annotations

import argparse
import sys

from ftui.commands import follow
from ftui.commands.common import EXIT_FOUND, EXIT_OK, add_run, emit, fail, load_ws
from ftui.core.base import jobs
from ftui.core.judge import evalrun, texts
from ftui.core.judge.compare import render_text
from ftui.core.judge.postmortem import write_postmortem
from ftui.core.runs import runs


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a run on the benchmark: base vs fine-tuned, per item")
    add_run(p, optional=True)
    p.add_argument("--follow", action="store_true", help="wait for the evaluation and print its summary")
    p.add_argument(
        "--limit", type=int, metavar="N", help="evaluate at most N items, sampled across clusters and question lengths"
    )
    p.add_argument(
        "--served",
        action="store_true",
        help="the tuned side is the run as `ftui serve` serves it (report in RUN/eval-served/)",
    )
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("report", help="the evaluation report of a run: pass rates, buckets, verdict")
    add_run(p, optional=True)
    p.add_argument("--summary", action="store_true", help="leave out the per-item table")
    p.add_argument("--gate", action="store_true", help="exit 1 unless the verdict is ship and the ship gate is open")
    p.add_argument("--vs", metavar="OTHER_RUN", help="set another run's report beside it, item by item")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("postmortem", help="write RUN_DIR/postmortem.md answering the five postmortem questions")
    add_run(p, optional=True)
    p.set_defaults(func=cmd_postmortem)


def follow_eval(run_dir, quiet: bool, name: str = evalrun.EVAL_DIR) -> jobs.JobState:
    return follow.job(
        evalrun.eval_dir(run_dir, name), texts.eval_progress, quiet, lambda: evalrun.eval_state(run_dir, name=name)
    )


def cmd_eval(args) -> int:
    ws = load_ws(args)
    run_dir = runs.find_run(ws, args.run)
    name = evalrun.SERVED_DIR if args.served else evalrun.EVAL_DIR
    st = evalrun.eval_state(run_dir, name=name)
    if st.state == "running":
        if not args.follow:
            fail(
                f"an evaluation of {run_dir.name} is already running (pid {st.pid}); add --follow to watch it",
                EXIT_FOUND,
            )
        pid = st.pid
    else:
        from ftui.core.ship.serving import served_endpoint

        tuned = served_endpoint(ws, run_dir) if args.served else None
        run_dir, pid = evalrun.start_eval(ws, run_dir, limit=args.limit, tuned_endpoint=tuned, dir_name=name)
    eval_dir = evalrun.eval_dir(run_dir, name)
    if not args.follow:
        emit(
            args,
            {"run_id": run_dir.name, "pid": pid, "eval_dir": str(eval_dir), "state": "running"},
            f"Evaluating {run_dir.name} (pid {pid}); events in {eval_dir / evalrun.EVENTS}\n"
            f"Watch it with `ftui eval {run_dir.name} --follow`; read the result with `ftui report {run_dir.name}`.",
        )
        return EXIT_OK
    if not args.json:
        print(f"Evaluating {run_dir.name} (pid {pid})...", file=sys.stderr, flush=True)
    st = follow_eval(run_dir, quiet=args.json, name=name)
    if st.state != "finished":
        why = st.error or ("the evaluation process died without a final event" if st.state == "dead" else st.state)
        log = eval_dir / evalrun.LOG
        data = {"run_id": run_dir.name, "state": st.state, "error": why, "hint": st.hint, "log": str(log)}
        emit(
            args,
            data,
            f"Evaluation {st.state}: {why}" + (f"\n  hint: {st.hint}" if st.hint else "") + f"\n  log: {log}",
        )
        return EXIT_FOUND
    report = evalrun.read_report(run_dir, name)
    data = {**evalrun.summary(report), "state": "finished", "report": st.report}
    text = render_text(report, show_items=False) + f"\n\nFull report: ftui report {run_dir.name}"
    if args.served:
        from ftui.core.ship.parity import served_vs_judged

        data["vs_in_process"] = served_vs_judged(run_dir)
        text = render_text(report, show_items=False) + "\n\n" + data["vs_in_process"]["text"]
    emit(args, data, text)
    return EXIT_OK


def cmd_report(args) -> int:
    ws = load_ws(args)
    run_dir = runs.find_run(ws, args.run)
    report = evalrun.read_report(run_dir)
    if getattr(args, "vs", None):
        from ftui.core.judge import side_by_side

        paired = side_by_side.pair(report, evalrun.read_report(runs.find_run(ws, args.vs)))
        emit(args, paired, side_by_side.render(paired))
        return EXIT_OK
    emit(args, report, render_text(report, show_items=not args.summary))
    if args.gate and not report["verdict"]["ship"]:
        return EXIT_FOUND
    return EXIT_OK


def cmd_postmortem(args) -> int:
    ws = load_ws(args)
    run_dir = runs.find_run(ws, args.run)
    path = write_postmortem(run_dir, ws)
    copy = ws.state.reports / f"{run_dir.name}-{path.name}"
    text = path.read_text(encoding="utf-8")
    emit(
        args,
        {"run_id": run_dir.name, "path": str(path), "copy": str(copy), "markdown": text},
        f"{text}\nWritten to {path} (copy: {copy})",
    )
    return EXIT_OK
