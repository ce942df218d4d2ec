"""How every detached engine child ends its events file, its only voice: finished, cancelled or failed."""

from __future__ import annotations

import signal
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from ftui.core.base import jobs
from ftui.core.base.events import EventWriter

# Enough of the traceback to place the error; the whole of it is in the child's log file.
TRACEBACK_LINES = 15
# How often a child says it is alive; readers call a child dead after several missed beats.
HEARTBEAT_S = 5.0


class Cancelled(Exception):
    """Raised in a child's work when its job was asked to stop; `ChildEnd` turns it into `cancelled`."""


class StopRequest:
    """The child's side of `jobs.request_stop`: SIGTERM, or the stop file for a child that was not signalled.

    `install()` takes over SIGTERM (and any other `signals`) from the main thread; elsewhere (a
    child's work called in-process by a test) only the stop file and `ask()` count. With `at_once`
    the signal raises `Cancelled` where the work stands (work that has no place to look).
    """

    def __init__(self, job_dir: Path | str, at_once: bool = False) -> None:
        self.dir = Path(job_dir)
        self.at_once = at_once
        self._asked = threading.Event()

    def install(self, signals: tuple[int, ...] = (signal.SIGTERM,)) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in signals:
                signal.signal(sig, self._on_signal)
        return self

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.ask()
        if self.at_once:
            raise Cancelled()

    def ask(self) -> None:
        self._asked.set()

    @property
    def requested(self) -> bool:
        return self._asked.is_set() or jobs.stop_requested(self.dir)

    def check(self) -> None:
        """Raise `Cancelled` when a stop was asked for; called between units of work."""
        if self.requested:
            raise Cancelled()


def memory_hint(exc: BaseException, less: str) -> str | None:
    """Every child's hint for running out of memory (`jobs.out_of_memory`); `less` says what uses less."""
    return f"out of memory: {less}" if jobs.out_of_memory(exc) else None


class Heartbeat:
    """A daemon thread that proves the child is alive while the main thread is busy (loading, a long step)."""

    def __init__(self, writer: EventWriter | None, every: float = HEARTBEAT_S):
        self.writer = writer
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ftui-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        if self.writer is not None:
            self.writer.emit("heartbeat")
            self._thread.start()
        return self

    def _run(self) -> None:
        writer = self.writer
        assert writer is not None  # the thread is started only with a writer
        while not self._stop.wait(self.every):
            try:
                writer.emit("heartbeat")
            except OSError:
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2 * self.every)


def failure_fields(exc: BaseException, hint: str | None = None) -> dict[str, Any]:
    """The `failed` event's fields for the exception being handled; the full traceback goes to stderr
    (the child's log)."""
    tail = traceback.format_exc().rstrip().splitlines()[-TRACEBACK_LINES:]
    traceback.print_exc(file=sys.stderr)
    return {"error": f"{type(exc).__name__}: {exc}"[:2000], "traceback_tail": tail, "hint": hint}


class ChildEnd:
    """The events file of one detached child and the way every child ends it.

    Made before the child installs its SIGTERM handler, it opens the events file and starts the
    heartbeat; used as `with end:` around the child's work, it turns the way the work ended into
    the last event: a clean exit leaves the child's own `finished` event last (exit code 0), an
    exception in `cancel_on` emits `cancelled` with the fields `cancelled()` gives at that moment,
    any other one emits `failed` with `hint(exc)`; both give exit code 1. Whatever the end, the
    heartbeat stops and the file is closed.
    """

    def __init__(
        self,
        events: Path,
        *,
        cancel_on: tuple[type[BaseException], ...],
        cancelled: Callable[[], dict[str, Any]],
        hint: Callable[[BaseException], str | None] = lambda exc: None,
    ) -> None:
        self.writer = EventWriter(events)
        self.emit = self.writer.emit
        self.beat = Heartbeat(self.writer).start()
        self.exit_code = 1
        self._cancel_on = cancel_on
        self._cancelled = cancelled
        self._hint = hint

    def __enter__(self) -> ChildEnd:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> bool:
        try:
            if exc is None:
                self.exit_code = 0
                return False
            if isinstance(exc, self._cancel_on):
                self.emit("cancelled", **self._cancelled())
            else:  # the event is the only report a detached child can give
                self.emit("failed", **failure_fields(exc, self._hint(exc)))
            return True
        finally:
            self.beat.stop()
            self.writer.close()
