"""`ftui hosted submit|status|cancel`: fine-tune on an OpenAI-compatible service instead of locally."""

from __future__ import annotations

import argparse

from ftui.commands.common import EXIT_FOUND, EXIT_USAGE, add_json, add_run, add_workspace, emit, fail, load_ws
from ftui.core.base.errors import InputError
from ftui.core.build.store import BuildError, load_build, resolve_build_path
from ftui.core.hosted import hosted
from ftui.core.hosted.hosted_client import HostedError, target_for
from ftui.core.runs import runs
from ftui.core.workspace.settings import TRAIN_METHODS


def register(sub) -> None:
    p = sub.add_parser("hosted", help="fine-tune on a hosted OpenAI-compatible service (any base_url)")
    hs = p.add_subparsers(dest="hosted_command", metavar="ACTION")

    s = hs.add_parser("submit", help="upload a dataset build and start a hosted fine-tuning job")
    add_workspace(s)
    s.add_argument("--build", metavar="ID", help="dataset build id or folder (default: the latest build)")
    s.add_argument(
        "--base-url", metavar="URL", help="service endpoint, e.g. https://api.openai.com/v1 (default: hosted.base_url)"
    )
    s.add_argument("--model", metavar="M", help="base model to fine-tune (default: hosted.model)")
    s.add_argument("--epochs", type=int, metavar="N", help="epochs (default: hosted.n_epochs, else the service's rule)")
    s.add_argument("--suffix", help="text added to the fine-tuned model's name (default: hosted.suffix)")
    s.add_argument(
        "--method",
        choices=TRAIN_METHODS,
        help="sft uploads train/eval, dpo the preference pairs (default: train.method)",
    )
    s.add_argument("--follow", action="store_true", help="poll the job until it ends")
    s.add_argument(
        "--interval", type=float, default=10.0, metavar="S", help="seconds between polls (default: %(default)s)"
    )
    add_json(s)
    s.set_defaults(func=cmd_submit)

    s = hs.add_parser("status", help="poll a hosted job and record its progress in the run's events")
    add_run(s)
    s.add_argument("--follow", action="store_true", help="keep polling until the job ends")
    s.add_argument(
        "--interval", type=float, default=10.0, metavar="S", help="seconds between polls (default: %(default)s)"
    )
    s.set_defaults(func=cmd_status)

    s = hs.add_parser("cancel", help="cancel a hosted job")
    add_run(s)
    s.set_defaults(func=cmd_cancel)

    p.set_defaults(func=lambda args: (p.print_help(), EXIT_USAGE)[1])


def _fail(exc: HostedError):
    # The service said no: the command ran and found a problem. Anything else is the user's input.
    fail(str(exc), EXIT_FOUND if exc.service else EXIT_USAGE)


def _exit_for(state: str) -> int:
    return EXIT_FOUND if state == "failed" else 0


def _printer(args: argparse.Namespace):
    from ftui.core.runs.text import format_event

    def show(ev: dict) -> None:
        if args.json:
            emit(args, ev)
            return
        line = format_event(ev)
        if line:
            print(line, flush=True)

    return show


def _say(args: argparse.Namespace):
    return (lambda _m: None) if args.json else (lambda m: print(m, flush=True))


def cmd_submit(args: argparse.Namespace) -> int:
    ws = load_ws(args)
    try:
        build = resolve_build_path(args.build) if args.build else None
        build = build or load_build(ws, args.build)
    except BuildError as exc:
        fail(str(exc))
    method = args.method or ws.train.method
    try:
        target = target_for(ws, args.base_url, args.model, args.epochs, args.suffix)
        run_dir = hosted.submit(ws, build, target, method, say=_say(args))
    except HostedError as exc:
        _fail(exc)
    config = hosted.read_config(run_dir)
    if not args.follow:
        emit(
            args,
            {
                "run_id": run_dir.name,
                "dir": str(run_dir),
                "job_id": config["job_id"],
                "base_url": config["base_url"],
                "model": config["model"],
                "method": method,
                "estimate": config.get("estimate"),
            },
            f"run {run_dir.name}: job {config['job_id']} submitted to {config['base_url']}\n"
            f"  watch:  ftui hosted status {run_dir.name} --follow\n"
            f"  cancel: ftui hosted cancel {run_dir.name}\n  folder: {run_dir}",
        )
        return 0
    return _watch(args, run_dir, follow=True)


def _find(args: argparse.Namespace):
    ws = load_ws(args)
    try:
        run_dir = runs.find_run(ws, args.run)
        hosted.read_config(run_dir)
    except InputError as exc:
        fail(str(exc))
    except HostedError as exc:
        _fail(exc)
    return run_dir


def _watch(args: argparse.Namespace, run_dir, follow: bool) -> int:
    show = _printer(args)
    if follow and not args.interval > 0:
        fail(f"--interval must be more than 0 seconds, not {args.interval:g}")
    if follow and not args.json:
        print(f"polling job every {args.interval:g} s; Ctrl-C stops watching, not the job", flush=True)
    try:
        if follow:
            state = hosted.follow(run_dir, interval=args.interval, on_event=show)
        else:
            for ev in hosted.sync(run_dir):
                show(ev)
            state = hosted.run_state(run_dir)
    except HostedError as exc:
        _fail(exc)
    if not args.json:
        print(f"run {run_dir.name}: {state}")
    return _exit_for(state)


def cmd_status(args: argparse.Namespace) -> int:
    return _watch(args, _find(args), follow=args.follow)


def cmd_cancel(args: argparse.Namespace) -> int:
    run_dir = _find(args)
    state = hosted.run_state(run_dir)
    if state != "running":
        emit(
            args,
            {"run_id": run_dir.name, "state": state, "cancelled": False},
            f"run {run_dir.name} is not running ({state})",
        )
        return 0
    try:
        written = hosted.cancel(run_dir)
    except HostedError as exc:
        _fail(exc)
    state = hosted.run_state(run_dir)
    emit(
        args,
        {"run_id": run_dir.name, "state": state, "cancelled": True, "events": written},
        f"cancel requested for {run_dir.name}: {state}",
    )
    return 0
