"""`ftui service`: OpenAI's fine-tuning API on this machine, each job an ordinary run of the workspace."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import urllib.error
import urllib.request

from ftui.commands.common import EXIT_FOUND, add_json, add_workspace, emit, fail, load_ws
from ftui.core.base import jobs
from ftui.core.hosted import service as ft_service
from ftui.core.hosted.service_request import Limits
from ftui.core.ship import serving


def register(sub) -> None:
    p = sub.add_parser(
        "service",
        help="serve OpenAI's fine-tuning API (files, jobs, events, checkpoints, chat) backed by this workspace",
    )
    add_workspace(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s, this machine only)")
    p.add_argument("--port", type=int, default=ft_service.DEFAULT_PORT, help="port (default: %(default)s)")
    p.add_argument("--max-running", type=int, default=1, metavar="N", help="jobs training at once (default: 1)")
    limits = Limits()
    p.add_argument(
        "--max-upload-mb",
        type=int,
        default=limits.upload_bytes >> 20,
        metavar="MB",
        help="largest file a key may upload (default: %(default)s, OpenAI's limit)",
    )
    p.add_argument(
        "--max-job-steps",
        type=int,
        default=limits.max_job_steps,
        metavar="N",
        help="most training steps one job may ask for (default: %(default)s)",
    )
    p.add_argument(
        "--max-jobs-per-key",
        type=int,
        default=limits.max_active_per_key,
        metavar="N",
        help="jobs one key may have queued or running at once (default: %(default)s)",
    )
    p.add_argument("--detach", action="store_true", help="run in the background (log: STATE/service/service.log)")
    p.add_argument("--status", action="store_true", help="say whether the service runs, and where")
    p.add_argument("--stop", action="store_true", help="stop a detached service (its training runs go on)")
    add_json(p)
    p.set_defaults(func=cmd_service)


def _healthy(host: str, port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/health", timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def cmd_service(args: argparse.Namespace) -> int:
    ws = load_ws(args)
    root = ft_service.service_dir(ws)
    st = jobs.job_state(root)
    if args.status:
        cfg = st.config
        emit(
            args,
            {"state": st.state, "pid": st.pid, "base_url": cfg.get("base_url"), "dir": str(root)},
            f"service {st.state}" + (f" at {cfg.get('base_url')} (pid {st.pid})" if st.state == "running" else ""),
        )
        return 0
    if args.stop:
        if st.state != "running":
            emit(args, {"stopped": False, "state": st.state}, f"no service running ({st.state})")
            return 0
        jobs.stop_and_wait(root, 20)
        emit(args, {"stopped": True}, "service stopped; its training runs go on")
        return 0
    if st.state == "running":
        fail(f"{root}: a service already runs for this workspace at {st.config.get('base_url')} (pid {st.pid})")
    keys = ft_service.keys_from_env(os.environ.get(ft_service.KEYS_ENV))
    if not keys:
        fail(f"no keys: set {ft_service.KEYS_ENV} to one or more keys (comma-separated); clients send one as Bearer")
    for flag in ("max_running", "max_upload_mb", "max_job_steps", "max_jobs_per_key"):
        if getattr(args, flag) < 1:
            fail(f"--{flag.replace('_', '-')} must be at least 1, not {getattr(args, flag)}")
    limits = Limits(
        upload_bytes=args.max_upload_mb << 20,
        max_job_steps=args.max_job_steps,
        max_active_per_key=args.max_jobs_per_key,
    )
    if not serving.port_free(args.port, args.host):
        fail(f"port {args.port} on {args.host} is busy; pick another with --port")
    root = ft_service.write_config(ws, args.host, args.port, args.max_running, limits)
    line = ft_service.listen_line(args.host, args.port, len(keys), ft_service.base_model_name(ws.model), root)
    if args.detach:
        pid = jobs.start_child(["service", str(root.resolve())], root, ft_service.LOG)
        up = jobs.wait_for(
            lambda: _healthy(args.host, args.port) or jobs.job_state(root).state != "running", timeout=60
        )
        if not up or not _healthy(args.host, args.port):
            fail(
                f"{root / ft_service.LOG}: the service did not start ({jobs.job_state(root).error or 'see the log'})",
                EXIT_FOUND,
            )
        emit(args, {"pid": pid, "base_url": f"http://{args.host}:{args.port}/v1", "dir": str(root)}, line)
        return 0
    print(line, flush=True)
    (root / "pid").write_text(f"{os.getpid()}\n")
    # In the foreground the child is this terminal's: Ctrl-C reaches it, and its log is the screen.
    proc = subprocess.Popen([sys.executable, "-m", "ftui.engine", "service", str(root.resolve())])
    try:
        code = proc.wait()
    except KeyboardInterrupt:  # the child got the same Ctrl-C and shuts down on its own
        code = proc.wait()
    return 0 if code in (0, -2, 130) else EXIT_FOUND
