"""The event stream between a training/eval child and whoever watches it: versioned JSON lines.

A replayed events file must drive a reader exactly like a live run, so this module is the only
place that knows the wire format.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1

# type -> fields every event of that type must carry
REQUIRED: dict[str, tuple[str, ...]] = {
    "started": (),
    "status": ("message",),
    "log": ("step", "max_steps", "loss"),
    "eval": ("step", "eval_loss"),
    # Graded probes at an eval step: validation items of the targeted cluster and anchors.
    "probe": ("step", "cluster_passed", "cluster_total", "anchors_passed", "anchors_total"),
    "checkpoint": ("step", "path"),
    "early_stop": ("step", "best_eval_loss", "best_step"),
    "cancelled": ("step",),
    "finished": (),
    "failed": ("error",),
    "heartbeat": (),
    "progress": ("done", "total"),
}
FINAL_TYPES = frozenset({"finished", "failed", "cancelled"})


def make(type: str, **fields: Any) -> dict:
    ev = {"v": SCHEMA_VERSION, "type": type, "t": round(time.time(), 3)}
    ev.update(fields)
    validate(ev)
    return ev


def validate(ev: Any) -> None:
    if not isinstance(ev, dict):
        raise ValueError("event must be an object")
    if ev.get("v") != SCHEMA_VERSION:
        raise ValueError(f"unsupported event schema version {ev.get('v')!r} (this ftui reads {SCHEMA_VERSION})")
    kind = ev.get("type")
    if kind not in REQUIRED:
        raise ValueError(f"unknown event type {kind!r}")
    if not isinstance(ev.get("t"), (int, float)):
        raise ValueError("event has no timestamp `t`")
    missing = [k for k in REQUIRED[kind] if k not in ev]
    if missing:
        raise ValueError(f"{kind} event is missing {', '.join(missing)}")


def encode(ev: dict) -> str:
    # allow_nan=False: a NaN loss must not produce a line other JSON readers reject.
    return json.dumps(_finite(ev), ensure_ascii=False, allow_nan=False) + "\n"


def _finite(value: Any) -> Any:
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


class EventWriter:
    """Appends events; each line is flushed and fsynced so a reader (or a crash) sees whole lines."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._fh = open(self.path, "a", encoding="utf-8")

    def emit(self, type: str, **fields: Any) -> dict:
        ev = make(type, **fields)
        line = encode(ev)
        with self._lock:
            if self._fh.closed:
                return ev
            self._fh.write(line)
            self._fh.flush()
            os.fsync(self._fh.fileno())
        return ev

    def close(self) -> None:
        with self._lock:
            if not self._fh.closed:
                self._fh.close()

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def read_events(path: Path | str, offset: int = 0) -> tuple[list[dict], int]:
    """Events from byte `offset` on, and the offset to resume from.

    A final line without its newline is still being written: it is left for the next call.
    Lines that are not valid events are skipped (a reader must survive a foreign or older line).
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n")
    if end < 0:
        return [], offset
    out = []
    for raw in data[: end + 1].splitlines():
        if not raw.strip():
            continue
        try:
            ev = json.loads(raw)
            validate(ev)
        except (ValueError, UnicodeDecodeError):
            continue
        out.append(ev)
    return out, offset + end + 1
