"""A hosted job's events and checkpoints, as the service lists them, recorded in the run's events.jsonl.

What is already recorded is read back from the file itself, which keeps polling idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftui.core.base import events as _events


@dataclass
class Seen:
    """What the events file already records from the service (the file is the source of truth)."""

    last_event_id: str | None = None
    event_ids: frozenset[str] = frozenset()
    status: str | None = None
    checkpoints: frozenset[str] = frozenset()
    step: int | None = None
    max_steps: int | None = None
    best_eval_loss: float | None = None
    best_step: int | None = None
    last_checkpoint: str | None = None
    final: str | None = None
    started_t: float | None = None


def seen_in(run_dir: Path) -> Seen:
    evs, _ = _events.read_events(run_dir / "events.jsonl")
    s = Seen()
    cps: set[str] = set()
    ids: set[str] = set()
    for ev in evs:
        kind = ev.get("type")
        if ev.get("service_event_id"):
            s.last_event_id = ev["service_event_id"]
            ids.add(ev["service_event_id"])
        if ev.get("job_status"):
            s.status = ev["job_status"]
        if kind == "started":
            s.started_t = ev.get("t")
        elif kind == "log":
            s.step = ev.get("step", s.step)
            s.max_steps = ev.get("max_steps") or s.max_steps
        elif kind == "eval":
            loss = ev.get("eval_loss")
            if isinstance(loss, (int, float)) and (s.best_eval_loss is None or loss < s.best_eval_loss):
                s.best_eval_loss, s.best_step = loss, ev.get("step")
        elif kind == "checkpoint":
            if ev.get("service_checkpoint_id"):
                cps.add(ev["service_checkpoint_id"])
            s.last_checkpoint = ev.get("path")
        elif kind in _events.FINAL_TYPES:
            s.final = kind
    s.checkpoints = frozenset(cps)
    s.event_ids = frozenset(ids)
    return s


def new_service_events(client: Any, job_id: str, last_id: str | None, seen_ids: frozenset[str]) -> list[Any]:
    """Service events not yet recorded, oldest first.

    OpenAI lists newest first, page by page: reading stops at the last event already recorded, so
    a long job costs one request per poll. A service that lists oldest first shows itself by an
    unrecorded event right after that marker; then the rest of the list is read instead.
    """
    fresh = []
    oldest_first = False
    it = iter(client.fine_tuning.jobs.list_events(job_id, limit=100))
    for ev in it:
        if last_id is not None and ev.id == last_id:
            nxt = next(it, None)
            if nxt is not None and nxt.id not in seen_ids:
                oldest_first = True
                fresh = [nxt] + [e for e in it if e.id not in seen_ids]
            break
        if ev.id not in seen_ids:
            fresh.append(ev)
    if not oldest_first:
        fresh.reverse()
    fresh.sort(key=lambda e: e.created_at or 0)  # stable: list order decides within one second
    return fresh


def as_dict(data: Any) -> dict[str, Any]:
    if isinstance(data, dict):
        return data
    dump = getattr(data, "model_dump", None)
    return dump(exclude_none=True) if dump else {}


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def emit_service_event(w: _events.EventWriter, ev: Any, seen: Seen) -> None:
    data = as_dict(getattr(ev, "data", None))
    ids = {"service_event_id": ev.id, "service_t": ev.created_at}
    step = _num(data.get("step"))
    if getattr(ev, "type", None) == "metrics" and step is not None and step.is_integer():
        step = int(step)
        total = _num(data.get("total_steps"))
        seen.max_steps = int(total) if total else seen.max_steps
        seen.step = step
        w.emit(
            "log",
            step=step,
            max_steps=seen.max_steps,
            epoch=_num(data.get("epoch")),
            loss=_num(data.get("train_loss")),
            learning_rate=None,
            token_accuracy=_num(data.get("train_mean_token_accuracy")),
            **ids,
        )
        # full_valid_loss is over the whole validation file; valid_loss over one batch.
        valid = _num(data.get("full_valid_loss"))
        if valid is None:
            valid = _num(data.get("valid_loss"))
        if valid is not None:
            w.emit("eval", step=step, eval_loss=valid, **ids)
            if seen.best_eval_loss is None or valid < seen.best_eval_loss:
                seen.best_eval_loss, seen.best_step = valid, step
        return
    level = getattr(ev, "level", "info")
    prefix = "" if level == "info" else f"[{level}] "
    w.emit("status", message=f"{prefix}{ev.message}", **ids)


def service_checkpoints(client: Any, job_id: str) -> list[Any]:
    from openai import NotFoundError

    try:
        return sorted(client.fine_tuning.jobs.checkpoints.list(job_id, limit=100), key=lambda c: c.step_number or 0)
    except NotFoundError:
        return []  # not every OpenAI-compatible service keeps checkpoints
