"""Shipping a fine-tune from the shell: `ftui export-model`, `ftui exports`, `ftui parity`, `ftui serve`."""

from __future__ import annotations

import argparse
import sys

from ftui.commands import follow
from ftui.commands.common import EXIT_FOUND, EXIT_OK, add_run, emit, fail, load_ws
from ftui.core.base import jobs
from ftui.core.runs import runs
from ftui.core.ship import exports, parity, serving, texts


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export-model", help="export a run's fine-tune: merged weights, adapter, GGUF or Ollama")
    add_run(p)
    p.add_argument("--to", required=True, choices=exports.FORMATS, help="what to write")
    p.add_argument("--quant", choices=exports.QUANTS, help=f"GGUF tensor type (default {exports.DEFAULT_QUANT})")
    p.add_argument("--out", metavar="DIR", help="where (default RUN/exports/NAME)")
    p.add_argument("--no-parity", action="store_true", help="skip the parity check after the export")
    p.add_argument("--detach", action="store_true", help="return at once; the export goes on in the background")
    p.add_argument("--max-flip-rate", type=float, default=parity.DEFAULT_MAX_FLIP_RATE, metavar="R")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("exports", help="a run's exports and their parity checks")
    add_run(p, optional=True)
    p.set_defaults(func=cmd_exports)

    p = sub.add_parser("parity", help="answer the judged items with an export and compare, item by item")
    add_run(p)
    p.add_argument("export", metavar="EXPORT", help="an export's name (merged, gguf-q8_0, ...) or folder")
    p.add_argument("--no-anchors", action="store_true", help="only the evaluated items")
    p.add_argument("--summary", action="store_true", help="leave out the per-item table")
    p.add_argument("--threads", type=int, metavar="N", help="llama.cpp threads for a GGUF export (default: per core)")
    p.add_argument(
        "--max-flip-rate",
        type=float,
        default=parity.DEFAULT_MAX_FLIP_RATE,
        metavar="R",
        help="exit 1 when grade flips exceed this share of the items (default %(default)s)",
    )
    p.set_defaults(func=cmd_parity)

    p = sub.add_parser("serve", help="serve the base model and fine-tunes on an OpenAI-compatible endpoint")
    p.add_argument("runs", nargs="*", metavar="RUN", help="runs whose fine-tunes to serve (with the base)")
    p.add_argument("-w", "--workspace", default=None, help="workspace folder (default: .)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--port", type=int, default=serving.DEFAULT_PORT)
    p.add_argument("--quant", choices=exports.QUANTS, default=serving.DEFAULT_QUANT, help="GGUF type served on CPU")
    p.add_argument("--engine", choices=serving.ENGINES, default="auto")
    p.add_argument("--threads", type=int, metavar="N", help="llama.cpp threads (default: one per core, up to 4)")
    p.add_argument("--stop", action="store_true", help="stop the workspace's server")
    p.add_argument("--status", action="store_true", help="is it up, and what does it serve")
    p.add_argument("--timeout", type=float, default=900, help="seconds to wait for the server to answer")
    p.set_defaults(func=cmd_serve)


def follow_job(jd, quiet: bool, what: str) -> jobs.JobState:
    return follow.job(jd, lambda st: f"{what}: {texts.job_progress(st)}", quiet)


def _job_failure(args, st: jobs.JobState, what: str, log) -> int:
    why = st.error or ("the process died without a final event" if st.state == "dead" else st.state)
    emit(
        args,
        {"state": st.state, "error": why, "hint": st.hint, "log": str(log)},
        f"{what} {st.state}: {why}" + (f"\n  hint: {st.hint}" if st.hint else "") + f"\n  log: {log}",
    )
    return EXIT_FOUND


def cmd_export(args) -> int:
    ws = load_ws(args)
    jd, pid = exports.start_export(ws, args.run, args.to, args.quant, args.out, parity=not args.no_parity)
    cfg = jobs.job_state(jd).config
    if args.detach:
        emit(
            args,
            {"job_dir": str(jd), "pid": pid, "out": cfg["out"], "state": "running"},
            f"Exporting {cfg['run_id']} as {cfg['name']} (pid {pid}) into {cfg['out']}\n"
            f"Watch it with `ftui exports {cfg['run_id']}`.",
        )
        return EXIT_OK
    if not args.json:
        print(f"Exporting {cfg['run_id']} as {cfg['name']} (pid {pid})...", file=sys.stderr, flush=True)
    st = follow_job(jd, args.json, "export")
    if st.state != "finished":
        return _job_failure(args, st, "Export", jd / exports.LOG)
    par = st.result.get("parity") or {}
    data = {"state": "finished", "out": st.result.get("out"), "name": cfg["name"], "parity": par}
    text = f"Exported {cfg['run_id']} as {cfg['name']}: {st.result.get('out')}"
    mem = exports.memory_text(st.result.get("memory"))
    if mem:
        data["memory"] = st.result.get("memory")
        text += f"\n{mem[0].upper()}{mem[1:]}"
    code = EXIT_OK
    if par.get("items"):
        n = par["items"]
        text += (
            f"\nParity with the evaluated model on {parity.items_text(par)}: identical answers {par['identical']}/{n}, "
            f"same grade {par['same_grade']}/{n}, grade flips {par['flips']}"
            f"\nPer item: ftui parity {cfg['run_id']} {cfg['name']}"
        )
        if parity.exceeds(par, args.max_flip_rate):
            code = EXIT_FOUND
    elif par:
        text += f"\nParity check not run: {par.get('skipped') or par.get('failed')}"
    emit(args, data, text)
    return code


def cmd_exports(args) -> int:
    ws = load_ws(args)
    run_dir = runs.find_run(ws, args.run)
    shown = texts.export_rows(run_dir)
    rows = [
        {
            "name": r.name,
            "state": r.state,
            "out": r.out,
            "error": r.error,
            "parity": r.result and parity.summary_of(r.result),
        }
        for r in shown
    ]
    lines = [f"{'export':<14} {'state':<10} parity (identical / same grade / flips)  folder"]
    for r in shown:
        ptxt = " / ".join(texts.parity_counts(r.result and r.result["summary"]))
        lines.append(f"{r.name:<14} {r.shown_state:<10} {ptxt:<40} {r.out}" + (f"\n  {r.note}" if r.note else ""))
    emit(args, {"run_id": run_dir.name, "exports": rows}, "\n".join(lines) if rows else f"No exports of {run_dir.name}")
    return EXIT_OK


def cmd_parity(args) -> int:
    ws = load_ws(args)
    run_dir = runs.find_run(ws, args.run)
    export_dir = exports.find_export(run_dir, args.export)
    pd, pid = parity.start(ws, run_dir, export_dir, anchors=not args.no_anchors, threads=args.threads)
    if not args.json:
        print(f"Checking {export_dir} against the evaluated model (pid {pid})...", file=sys.stderr, flush=True)
    st = follow_job(pd, args.json, "parity")
    if st.state != "finished":
        return _job_failure(args, st, "Parity check", pd / parity.LOG)
    result = parity.read_result(pd)
    emit(args, result, parity.render_text(result, show_items=not args.summary))
    return EXIT_FOUND if parity.exceeds(result["summary"], args.max_flip_rate) else EXIT_OK


def cmd_serve(args) -> int:
    ws = load_ws(args)
    if args.stop:
        stopped = serving.stop(ws)
        emit(args, {"stopped": stopped}, "Server stopped." if stopped else "No server was running.")
        return EXIT_OK
    if args.status:
        st = serving.status(ws)
        emit(args, st, serving.render_status(st))
        return EXIT_OK if st.get("healthy") else EXIT_FOUND
    run_dirs = [runs.find_run(ws, r) for r in args.runs]
    sd, pid = serving.start(ws, run_dirs, port=args.port, quant=args.quant, engine=args.engine, threads=args.threads)
    if not args.json:
        print(f"Starting the server (pid {pid}); log: {sd / serving.LOG}", file=sys.stderr, flush=True)
    try:
        st = serving.wait_healthy(ws, timeout=args.timeout, on_status=None if args.json else _say)
    except serving.ServeError as exc:
        fail(str(exc), EXIT_FOUND)
    emit(args, st, serving.render_status(st) + "\nStop it with `ftui serve --stop`.")
    return EXIT_OK


def _say(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)
