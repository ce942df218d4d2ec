"""The event stream between a training/eval child and whoever watches it: versioned JSON lines.

A replayed events file must drive a reader exactly like a live run, so this module is the only
place that knows the wire format.
"""

# No `from __future__ import annotations`: TypedDict reads NotRequired[...] from live annotations.
import json
import os
import threading
import time
from pathlib import Path
from typing import Any, NotRequired, TypedDict

SCHEMA_VERSION = 1


# One type per event kind: the fields each kind must carry are the required keys of its type, and
# the optional ones are what writers add. Readers still get plain dicts (the wire format is JSON).
class _Event(TypedDict):
    v: int
    type: str
    t: float


class StartedEvent(_Event, total=False):
    model: str
    model_path: str
    method: str
    device: str
    pid: int
    config: dict[str, Any]
    train_size: int
    eval_size: int
    total_params: int
    trainable_params: int
    resumed_from: str | None
    # a data-parallel training run's process count (every machine's)
    processes: int
    # an evaluation's or a drafting job's
    items: int
    # a drafting job's
    teacher: str
    cluster: str | None
    examples: int


class StatusEvent(_Event):
    message: str


class LogEvent(_Event):
    step: int
    max_steps: int | None
    loss: float | None
    epoch: NotRequired[float]
    learning_rate: NotRequired[float]
    grad_norm: NotRequired[float]
    tokens_per_s: NotRequired[float]
    memory_mb: NotRequired[float]
    token_accuracy: NotRequired[float]
    anchor_kl: NotRequired[float]
    reward_margin: NotRequired[float]
    reward_accuracy: NotRequired[float]
    # GRPO: mean reward of the step's answers (the grader's 0/1 plus weighted terms), its spread
    # within groups, the share of groups whose answers all got one reward (no signal), the answers'
    # mean length in tokens, KL to the base, and the mean reward per cluster and per reward term.
    reward: NotRequired[float]
    reward_std: NotRequired[float]
    frac_reward_zero_std: NotRequired[float]
    completion_length: NotRequired[float]
    kl: NotRequired[float]
    cluster_reward: NotRequired[dict[str, float]]
    reward_terms: NotRequired[dict[str, float]]


class EvalEvent(_Event):
    step: int
    eval_loss: float | None
    token_accuracy: NotRequired[float]


class ProbeEvent(_Event):
    """Graded probes at an eval step: validation items of the targeted cluster and anchors."""

    step: int
    cluster_passed: int
    cluster_total: int
    anchors_passed: int
    anchors_total: int
    fixed: NotRequired[int]
    broken: NotRequired[int]
    fixed_ids: NotRequired[list[str]]
    broken_ids: NotRequired[list[str]]
    seconds: NotRequired[float]


class SamplesEvent(_Event):
    """GRPO: the latest sampled answers with their reward and the grader's reason (a few per log step)."""

    step: int
    samples: list[dict[str, Any]]


class WarningEvent(_Event):
    """Something to look at that does not stop the run (the reward rising while probes fall)."""

    message: str
    step: NotRequired[int]
    reason: NotRequired[str]


class CheckpointEvent(_Event):
    step: int
    path: str


class EarlyStopEvent(_Event):
    step: int
    best_eval_loss: float | None
    best_step: int | None
    patience: NotRequired[int]
    # "broken_anchors" when probes stopped the run rather than eval loss
    reason: NotRequired[str]
    broken_ids: NotRequired[list[str]]


class CancelledEvent(_Event):
    step: int | None
    checkpoint: NotRequired[str | None]


class FinishedEvent(_Event, total=False):
    step: int
    adapter: str
    best_eval_loss: float | None
    best_step: int | None
    early_stopped: bool
    runtime_s: float
    total_runtime_s: float
    # a drafting job's counts
    drafted: int
    passed: int
    cached: int
    generated: int | dict[str, int]  # answers generated: a drafting job's count, an evaluation's per side
    # a machine of a multi-machine run that holds no rank 0 (its events and adapter are machine 0's)
    machine_rank: int
    message: str


class FailedEvent(_Event):
    error: str
    hint: NotRequired[str | None]
    traceback_tail: NotRequired[str]
    rank: NotRequired[int]  # the data-parallel rank that failed first


class HeartbeatEvent(_Event):
    pass


class ProgressEvent(_Event):
    done: int
    total: int
    side: NotRequired[str]
    cached: NotRequired[int]
    passed: NotRequired[int]  # a drafting job's: how many drafts pass their grader so far


EVENT_TYPES: dict[str, Any] = {  # TypedDict classes have no common static type
    "started": StartedEvent,
    "status": StatusEvent,
    "log": LogEvent,
    "eval": EvalEvent,
    "probe": ProbeEvent,
    "samples": SamplesEvent,
    "warning": WarningEvent,
    "checkpoint": CheckpointEvent,
    "early_stop": EarlyStopEvent,
    "cancelled": CancelledEvent,
    "finished": FinishedEvent,
    "failed": FailedEvent,
    "heartbeat": HeartbeatEvent,
    "progress": ProgressEvent,
}
_ENVELOPE = frozenset(_Event.__required_keys__)
# type -> fields every event of that type must carry
REQUIRED: dict[str, tuple[str, ...]] = {
    kind: tuple(k for k in cls.__annotations__ if k in cls.__required_keys__ and k not in _ENVELOPE)
    for kind, cls in EVENT_TYPES.items()
}
FINAL_TYPES = frozenset({"finished", "failed", "cancelled"})


def make(type: str, **fields: Any) -> dict[str, Any]:
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


def encode(ev: dict[str, Any]) -> str:
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
        # Held open for the writer's life: one handle per run, closed by close().
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115

    def emit(self, type: str, **fields: Any) -> dict[str, Any]:
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

    def __enter__(self) -> "EventWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def read_events(path: Path | str, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
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
