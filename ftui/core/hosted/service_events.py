"""A run's events as OpenAI's fine-tuning job events and checkpoints.

A job's events are derived from its run's events.jsonl on every request. Their ids are positions
in that derivation, so the derivation only ever appends: a step that will get an eval loss is held
back until it has it, and an event once listed never changes. A poller that records events by id
(ftui's own hosted client, or any script) never sees one twice or misses one, across restarts.
Once the run is over (a final event, or its process gone) a held-back step is listed as it is, so
every `log` event the run wrote is a metrics event, whatever the job's end.
"""

from __future__ import annotations

from typing import Any

from ftui.core.base.events import FINAL_TYPES


def num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def openai_events(
    rec: dict[str, Any],
    evs: list[dict[str, Any]],
    ft_name: str,
    status: str,
    error: dict[str, Any] | None,
    *,
    over: bool,
) -> list[dict[str, Any]]:
    """The job record's own notes, then its run's events, oldest first, as fine_tuning.job.event objects.

    `over`: the run will write nothing more (no run, a final event, or its process is gone)."""
    out: list[tuple[float, str, str, dict[str, Any] | None]] = [
        (float(rec["created_at"]), "info", f"Created fine-tuning job: {rec['id']}", None)
    ]
    out += [(n["t"], n["level"], n["message"], None) for n in rec.get("notes") or []]
    total = None
    pending: dict[str, Any] | None = None
    # A step with an evaluation waits for its eval loss (one event, as OpenAI reports it); the
    # others are listed at once. The trainer evaluates every eval_steps and after the last step.
    every = int((rec.get("train") or {}).get("eval_steps") or 0) if rec.get("validation_file") else 0

    def evaluates(step: int) -> bool:
        return every > 0 and (step % every == 0 or step == total)

    def flush() -> None:
        nonlocal pending
        if pending is not None:
            out.append(pending["row"])
            pending = None

    for ev in evs:
        kind = ev.get("type")
        if kind == "log":
            flush()
            total = ev.get("max_steps") or total
            data: dict[str, Any] = {"step": ev["step"], "total_steps": total}
            loss = num(ev.get("loss"))
            if loss is not None:
                data["train_loss"] = loss
            acc = num(ev.get("token_accuracy"))
            if acc is not None:
                data["train_mean_token_accuracy"] = acc
            msg = f"Step {ev['step']}/{total}: training loss={loss:.2f}" if loss is not None else f"Step {ev['step']}"
            pending = {"step": ev["step"], "row": (ev["t"], "info", msg, data)}
            if not evaluates(int(ev["step"])):
                flush()
        elif kind == "eval":
            vloss = num(ev.get("eval_loss"))
            if pending is not None and pending["step"] == ev.get("step") and vloss is not None:
                # ftui's eval loss is over the whole validation file: OpenAI's full_valid_loss.
                t, level, msg, data = pending["row"]
                data = {**data, "valid_loss": vloss, "full_valid_loss": vloss}
                pending = {"step": ev["step"], "row": (t, level, f"{msg}, validation loss={vloss:.2f}", data)}
            flush()
        elif kind == "started":
            flush()
            out.append((ev["t"], "info", "Fine-tuning job started", None))
        elif kind == "status":
            flush()
            out.append((ev["t"], "info", str(ev.get("message")), None))
        elif kind == "checkpoint":
            flush()
            out.append((ev["t"], "info", f"Checkpoint created at step {ev['step']}", None))
        elif kind == "finished":
            flush()
            out.append((ev["t"], "info", f"New fine-tuned model created: {ft_name}", None))
            out.append((ev["t"], "info", "The job has successfully completed", None))
        elif kind == "failed":
            flush()
            out.append((ev["t"], "error", f"Fine-tuning job failed: {ev.get('error')}", None))
        elif kind == "cancelled":
            flush()
            out.append((ev["t"], "info", "Fine-tuning job cancelled", None))
    over = over or any(e.get("type") in FINAL_TYPES for e in evs)
    if over:  # no eval loss can come any more: the step is listed with what it has
        flush()
    if status == "cancelled" and over and not any(e.get("type") == "cancelled" for e in evs):
        # A queued job cancelled, or a run whose process ended before it could say so.
        when = max(float(rec.get("cancelled_at") or rec["created_at"]), evs[-1]["t"] if evs else 0.0)
        out.append((when, "info", "Fine-tuning job cancelled", None))
    if status == "failed" and rec.get("run_id") and error and not any(e.get("type") == "failed" for e in evs):
        # A run that died without its final event (a process killed before or while it trained).
        when = evs[-1]["t"] if evs else float(rec["created_at"])
        out.append((when, "error", f"Fine-tuning job failed: {error['message']}", None))
    short = rec["id"].split("-", 1)[1]
    return [
        {
            "id": f"ftevent-{short}-{i:06d}",
            "object": "fine_tuning.job.event",
            "created_at": int(t),
            "level": level,
            "message": msg,
            "data": data or {},
            "type": "metrics" if data else "message",
        }
        for i, (t, level, msg, data) in enumerate(out)
    ]


def openai_checkpoints(job_id: str, evs: list[dict[str, Any]], ft_name: str) -> list[dict[str, Any]]:
    """One fine_tuning.job.checkpoint per saved checkpoint, with its step's losses."""
    metrics: dict[int, dict[str, Any]] = {}
    out = []
    for ev in evs:
        kind = ev.get("type")
        if kind == "log":
            metrics.setdefault(ev["step"], {"step": float(ev["step"])})["train_loss"] = num(ev.get("loss"))
        elif kind == "eval":
            m = metrics.setdefault(ev["step"], {"step": float(ev["step"])})
            m["valid_loss"] = m["full_valid_loss"] = num(ev.get("eval_loss"))
        elif kind == "checkpoint":
            step = int(ev["step"])
            out.append(
                {
                    "id": f"ftckpt-{job_id.split('-', 1)[1]}-{step}",
                    "object": "fine_tuning.job.checkpoint",
                    "created_at": int(ev["t"]),
                    "fine_tuned_model_checkpoint": f"{ft_name}:ckpt-step-{step}",
                    "fine_tuning_job_id": job_id,
                    "metrics": {k: v for k, v in metrics.get(step, {"step": float(step)}).items() if v is not None},
                    "step_number": step,
                }
            )
    return out
