"""A detached job's life, for every kind (training, evaluation, export, parity, drafting, forgetting,
serving, the service): its folder, start, pid, liveness, stop and resume requests, the one fold of
its events into a state, and following its events file as it grows.

The child runs in its own session with stdout/stderr going to a log file in its folder, so it
outlives the UI, the CLI and the SSH connection, and never blocks on a pipe nobody reads.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ftui.core.base import events as _events

# Every job folder holds these: what to do, what happened, who does it.
CONFIG = "config.json"
EVENTS = "events.jsonl"
PID = "pid"
STOP = "stop"

# A job with no heartbeat for this long is dead even if a process with its pid exists (pid reuse,
# a hung child); children beat every ~5 s.
DEAD_AFTER_S = 30.0

# How often a follower reads the events file.
POLL_S = 0.3


def fresh_folder(job_dir: Path | str, *also: str) -> Path:
    """A job folder ready for a new child: made if missing, without the previous job's events, its
    stop request or the files named in `also` (a previous result the new job replaces)."""
    job_dir = Path(job_dir)
    job_dir.mkdir(parents=True, exist_ok=True)
    for name in (EVENTS, STOP, *also):
        (job_dir / name).unlink(missing_ok=True)
    return job_dir


def start_child(
    args: list[str], job_dir: Path, log_name: str, pid_name: str = PID, extra_env: dict[str, str] | None = None
) -> int:
    """Start `python -m ftui.engine ARGS...` detached; returns its pid (also written to job_dir/pid_name).
    `extra_env` reaches this child alone (a secret it shares with its parent, never on disk)."""
    job_dir = Path(job_dir)
    job_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ) | (extra_env or {})
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    with open(job_dir / log_name, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ftui.engine", *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            cwd=str(job_dir),
            env=env,
        )
    (job_dir / pid_name).write_text(f"{proc.pid}\n")
    return proc.pid


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) is not alive for our purposes.
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().split(b")")[-1].split()[0] != b"Z"
    except OSError:
        return True


def read_pid(job_dir: Path | str, pid_name: str = PID) -> int | None:
    try:
        return int((Path(job_dir) / pid_name).read_text().strip())
    except (OSError, ValueError):
        return None


def child_alive(job_dir: Path | str, pid: int | None, last_event_t: float | None, now: float | None = None) -> bool:
    """A detached child is alive while its process runs and it has spoken within DEAD_AFTER_S: its
    last event, or before the first one its pid file."""
    now = time.time() if now is None else now
    if pid is None or not pid_alive(pid):
        return False
    last = last_event_t
    with contextlib.suppress(OSError):
        last = max(last or 0.0, (Path(job_dir) / PID).stat().st_mtime)
    return last is not None and now - last <= DEAD_AFTER_S


def request_stop(job_dir: Path | str, pid_name: str = PID) -> bool:
    """Ask a job to stop: touch its stop file and SIGTERM its process group. True if a process was signalled.

    The child saves what it can and ends with a `cancelled` event; the stop file covers a child that
    cannot be signalled (another user, another container sharing the folder).
    """
    job_dir = Path(job_dir)
    (job_dir / STOP).touch()
    pid = read_pid(job_dir, pid_name)
    if pid is None or not pid_alive(pid):
        return False
    try:
        os.killpg(os.getpgid(pid), signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            return False
    return True


def wait_for(done: Callable[[], bool], timeout: float, interval: float = POLL_S) -> bool:
    """Ask `done()` every `interval` seconds until it is true (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def stop_and_wait(job_dir: Path | str, wait: float, pid_name: str = PID) -> bool:
    """`request_stop`, then give the process up to `wait` seconds to end; True when it has ended."""
    request_stop(job_dir, pid_name)

    def ended() -> bool:
        pid = read_pid(job_dir, pid_name)
        return pid is None or not pid_alive(pid)

    return wait_for(ended, wait, 0.2)


def stop_requested(job_dir: Path | str) -> bool:
    """The child's side of `request_stop`, for a child that was not signalled."""
    return (Path(job_dir) / STOP).exists()


def mark_resume(job_dir: Path | str, events_name: str = EVENTS) -> None:
    """Before a stopped job's child starts again: clear its stop request and say so in its events,
    so no reader takes the old final event for the current one while the new child loads."""
    job_dir = Path(job_dir)
    with contextlib.suppress(FileNotFoundError):
        (job_dir / STOP).unlink()
    with _events.EventWriter(job_dir / events_name) as w:
        w.emit("status", message="resume requested")


def out_of_memory(exc: BaseException) -> bool:
    """Whether an error is the machine or the device running out of memory, however the library spells it."""
    if isinstance(exc, MemoryError):
        return True
    text = f"{type(exc).__name__}: {exc}".lower()
    return any(s in text for s in ("out of memory", "outofmemory", "cannot allocate memory", "memoryerror"))


@dataclass
class JobState:
    """A detached job's state read from its folder: the fold of its events and its pid's liveness."""

    state: str  # "none" | "running" | "finished" | "failed" | "cancelled" | "dead"
    dir: str = ""
    pid: int | None = None
    items: int | None = None
    # side -> what its latest `progress` event said ({"done", "total", ...}); "all" when one side
    progress: dict[str, dict[str, Any]] = field(default_factory=dict)
    message: str | None = None
    report: str | None = None
    result: dict[str, Any] = field(default_factory=dict)  # the `finished` event's fields
    started: dict[str, Any] = field(default_factory=dict)  # the `started` event's fields
    error: str | None = None
    hint: str | None = None
    last_event_t: float | None = None
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def overall(self) -> dict[str, Any]:
        """The progress of a job with one side."""
        return self.progress.get("all", {})


_META = ("v", "type", "t")


def fold(evs: list[dict[str, Any]], st: JobState) -> JobState:
    """Fold events into `st`. A final event sets the state; any later event but a heartbeat or a
    progress line (a resume) makes the job current again."""
    for ev in evs:
        kind = ev["type"]
        st.last_event_t = ev.get("t", st.last_event_t)
        if st.state in _events.FINAL_TYPES and kind not in ("heartbeat", "progress", *_events.FINAL_TYPES):
            st.state = "running"
        if kind == "started":
            st.items = ev.get("items", st.items)
            st.started = {k: v for k, v in ev.items() if k not in _META}
            st.state, st.error, st.hint = "running", None, None
        elif kind == "progress":
            side = ev.get("side", "all")
            st.progress[side] = {k: v for k, v in ev.items() if k not in (*_META, "side")}
        elif kind == "status":
            st.message = ev.get("message")
        elif kind == "finished":
            st.state, st.report = "finished", ev.get("report")
            st.result = {k: v for k, v in ev.items() if k not in _META}
        elif kind == "failed":
            st.state, st.error, st.hint = "failed", ev.get("error"), ev.get("hint")
        elif kind == "cancelled":
            st.state = "cancelled"
    return st


def job_state(job_dir: Path | str, now: float | None = None, events_name: str = EVENTS) -> JobState:
    """A job's state from its files alone (works for jobs started by another process): `none` before
    its config exists, `dead` when its child stopped without a final event."""
    d = Path(job_dir)
    if not (d / CONFIG).exists():
        return JobState("none", dir=str(d))
    try:
        cfg = json.loads((d / CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cfg = {}
    evs, _ = _events.read_events(d / events_name)
    st = fold(evs, JobState("running", dir=str(d), pid=read_pid(d), config=cfg if isinstance(cfg, dict) else {}))
    if st.state in _events.FINAL_TYPES:
        return st
    if not child_alive(d, st.pid, st.last_event_t, now):
        st.state = "dead"
    return st


class Tail:
    """New events of a growing events file, by byte offset; a half-written last line waits for its newline."""

    def __init__(self, path: Path | str, offset: int = 0):
        self.path = Path(path)
        self.offset = offset

    def poll(self) -> list[dict[str, Any]]:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return []
        if size < self.offset:  # the file was replaced: start over
            self.offset = 0
        evs, self.offset = _events.read_events(self.path, self.offset)
        return evs

    def batches(
        self,
        interval: float = POLL_S,
        timeout: float | None = None,
        gone: Callable[[], bool] | None = None,
        step: Callable[[], None] | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """The one follow loop: each read's new events (often none), every `interval` seconds, up to and
        including a final event. It also stops at the timeout, or when `gone()` says the writer is dead
        (the liveness rule: `job_state`'s "dead", a run's `read_state`), after one last read. `step()`
        runs before each read, for events this process writes itself (a hosted job's, from its service)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if step is not None:
                step()
            evs = self.poll()
            if not evs and gone is not None and gone():
                # The child may have written its last lines between the read above and the verdict.
                evs, last = self.poll(), True
            else:
                last = deadline is not None and time.monotonic() > deadline
            final = next((i for i, ev in enumerate(evs) if ev.get("type") in _events.FINAL_TYPES), None)
            yield evs if final is None else evs[: final + 1]
            if final is not None or last:
                return
            time.sleep(interval)

    def follow(
        self, interval: float = POLL_S, timeout: float | None = None, gone: Callable[[], bool] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Yield events one by one as `batches` reads them."""
        for evs in self.batches(interval, timeout, gone):
            yield from evs
