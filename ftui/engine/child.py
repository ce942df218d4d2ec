"""How every detached engine child ends its events file, its only voice: finished, cancelled or failed."""

from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from ftui.core.base.events import EventWriter

# Enough of the traceback to place the error; the whole of it is in the child's log file.
TRACEBACK_LINES = 15
# How often a child says it is alive; readers call a child dead after several missed beats.
HEARTBEAT_S = 5.0


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
