"""The service's model server: the `serve` child that answers chat for the base model and every
succeeded job, behind a key made anew at each start."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import threading
import time
from pathlib import Path

from ftui.core.base import jobs
from ftui.core.base.fsutil import atomic_write_json
from ftui.core.hosted.service import Service, ServiceError
from ftui.core.ship import exports, serving

INFERENCE_DIR = "inference"
INFERENCE_START_S = 900.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((serving.HOST, 0))
        return int(s.getsockname()[1])


class Inference:
    """The serving child for the base model and every succeeded job, restarted when the set grows.

    It listens on loopback and answers only requests carrying a key made anew for each start and
    held in memory here and in the child: a local process without it gets nothing, and every
    request this service forwards has had its tenant checked first. The child watches this
    process and stops when it ends; one left from a killed service is stopped on the next start.
    """

    def __init__(self, svc: Service):
        self.svc = svc
        self.dir = svc.root / INFERENCE_DIR
        self._lock = threading.Lock()
        self.key = secrets.token_urlsafe(32)

    def _running_names(self) -> set[str] | None:
        st = jobs.job_state(self.dir)
        # One started by another service process has a key this one does not know: replace it.
        if st.state != "running" or st.config.get("parent_pid") != os.getpid():
            return None
        return {m["name"] for m in st.config.get("models") or []}

    def url(self, wanted: dict[str, tuple[Path, Path]]) -> str:
        """The child's base URL once it serves every name in `wanted` (name -> run folder, adapter folder)."""
        with self._lock:
            names = self._running_names()
            if names is None or not set(wanted) <= names:
                self.stop()
                # Every succeeded job joins, so one more fine-tune does not restart it for the others;
                # a checkpoint joins when asked for.
                finals = {name: (rd, rd / "adapter") for name, (_owner, rd) in self.svc.served_runs().items()}
                everything = finals | wanted
                self._start(everything)
            cfg = json.loads((self.dir / exports.CONFIG).read_text(encoding="utf-8"))
            url = str(cfg["base_url"])
            deadline = time.monotonic() + INFERENCE_START_S
            while True:
                listed = serving.served_models(url, api_key=self.key)
                if listed is not None and all(m["name"] in listed for m in cfg["models"]):
                    return url
                st = jobs.job_state(self.dir)
                if st.state != "running":
                    raise ServiceError(503, f"the inference server {st.state}: {st.error or 'see its log'}")
                if time.monotonic() > deadline:
                    raise ServiceError(503, "the inference server did not start in time")
                time.sleep(0.5)

    def _start(self, models: dict[str, tuple[Path, Path]]) -> None:
        port = _free_port()
        ws = self.svc.ws
        names = list(models)
        run_dirs = [models[name][0] for name in names]
        cfg = serving.plan(ws, run_dirs, port=port, quant=serving.DEFAULT_QUANT, engine="auto")
        # The plan lists the base, then one entry per run folder given, in order.
        for entry, name in zip(cfg["models"][1:], names, strict=True):
            entry["name"], entry["adapter"] = name, str(models[name][1].resolve())
        cfg["parent_pid"] = os.getpid()
        jobs.fresh_folder(self.dir)
        atomic_write_json(self.dir / exports.CONFIG, cfg)
        jobs.start_child(
            ["serve", str(self.dir.resolve())], self.dir, serving.LOG, extra_env={serving.API_KEY_ENV: self.key}
        )

    def stop(self) -> None:
        """Stop the serving child, this service's or one a killed service left behind."""
        if jobs.job_state(self.dir).state != "running":
            return
        pid = jobs.read_pid(self.dir)
        if not jobs.stop_and_wait(self.dir, 15) and pid is not None:
            # Deaf to SIGTERM: it must not keep the memory and the port.
            with contextlib.suppress(OSError):
                os.killpg(os.getpgid(pid), signal.SIGKILL)
