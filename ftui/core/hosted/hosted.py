"""Hosted fine-tuning on any OpenAI-compatible service, as an alternative to local LoRA training.

The service is chosen by `base_url` alone, so a provider that closes its fine-tuning API (OpenAI
stops new jobs on 2027-01-06) is replaced by editing one line of ftui.yaml. A hosted run lives in
the same run folder as a local one and writes the same events.jsonl, so every reader of runs (the
run list, the loss chart, `ftui logs`) works on it unchanged. The service is only ever polled: the
events file is the record of what has been seen, which makes polling idempotent and restartable.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftui.core.base import events as _events
from ftui.core.base import jobs
from ftui.core.base.fsutil import atomic_write_json
from ftui.core.base.paths import store_path
from ftui.core.base.run_dirs import new_run_dir
from ftui.core.hosted.hosted_client import HostedError, Target, calling, client_for
from ftui.core.hosted.hosted_events import as_dict, emit_service_event, new_service_events, seen_in, service_checkpoints
from ftui.core.hosted.hosted_upload import METHODS, estimate, estimate_line, upload_rows, write_upload_files

if TYPE_CHECKING:
    from ftui.core.workspace.workspace import Workspace


KIND = "hosted"
STATE_FILE = "hosted_state.json"
_LOCK_FILE = ".hosted.lock"
# Job statuses after which nothing more happens on the service.
_DONE = {"succeeded": "finished", "failed": "failed", "cancelled": "cancelled"}

Say = Callable[[str], None]
# How long a watch keeps polling a service that does not answer before it gives up.
UNREACHABLE_S = 300.0


def _upload(client: Any, path: Path) -> str:
    with open(path, "rb") as fh:
        return str(client.files.create(file=(path.name, fh), purpose="fine-tune").id)


def submit(
    ws: Workspace, build: Any, target: Target, method: str = "sft", say: Say = print, client: Any = None
) -> Path:
    """Upload a build and create the job; returns the new run folder (config.json + events.jsonl).

    The folder only gets its config.json once the job exists, so a refused upload leaves no run
    behind that would read as one.
    """
    train, held = upload_rows(build, method)
    if client is None:
        client = client_for(target.base_url, target.api_key_env)
    est = estimate(train, target.n_epochs, getattr(ws, "model", None))
    if est is not None:
        say(estimate_line(est))
    run_dir = new_run_dir(ws.state.runs, f"hosted-{method}")
    try:
        train_path, eval_path = write_upload_files(train, held, method, run_dir / "upload")
        with calling(target.base_url):
            say(f"uploading {train_path.name} ({len(train)} rows) to {target.base_url}")
            train_id = _upload(client, train_path)
            eval_id = None
            if eval_path is not None:
                say(f"uploading {eval_path.name} ({len(held)} rows)")
                eval_id = _upload(client, eval_path)
            hyper: dict[str, Any] = {}
            if target.n_epochs is not None:
                hyper["n_epochs"] = target.n_epochs
            method_body: dict[str, Any] = {"type": METHODS[method]}
            if hyper:
                method_body[METHODS[method]] = {"hyperparameters": hyper}
            kwargs: dict[str, Any] = {"model": target.model, "training_file": train_id, "method": method_body}
            if eval_id:
                kwargs["validation_file"] = eval_id
            if target.suffix:
                kwargs["suffix"] = target.suffix
            job = client.fine_tuning.jobs.create(**kwargs)
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    config = {
        "kind": KIND,
        "run_id": run_dir.name,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "workspace": str(ws.root),
        "base_url": target.base_url,
        "api_key_env": target.api_key_env,
        "model": target.model,
        "job_id": job.id,
        "method": method,
        "build_dir": store_path(build.dir, run_dir),
        "build_id": build.manifest.get("build_id", Path(build.dir).name),
        "training_file": train_id,
        "validation_file": eval_id,
        "n_epochs": target.n_epochs,
        "suffix": target.suffix,
        "estimate": est,
    }
    atomic_write_json(run_dir / "config.json", config)
    with _events.EventWriter(run_dir / "events.jsonl") as w:
        w.emit(
            "started",
            model=target.model,
            method=method,
            trainable_params=None,
            total_params=None,
            train_size=len(train),
            eval_size=len(held),
            pid=None,
            device=f"hosted: {target.base_url}",
            config={
                k: config[k]
                for k in ("base_url", "job_id", "build_id", "training_file", "validation_file", "n_epochs", "suffix")
            },
        )
        w.emit("status", message=f"job {job.id} created on {target.base_url} ({job.status})", job_status=job.status)
    _write_state(run_dir, {"job_id": job.id, "status": job.status, "last_event_id": None})
    return run_dir


# --- reading a run back -----------------------------------------------------------------------


def read_config(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HostedError(f"{path}: not a run folder (no config.json)") from None
    except json.JSONDecodeError as exc:
        raise HostedError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    if not isinstance(config, dict) or config.get("kind") != KIND:
        raise HostedError(f"{Path(run_dir).name} is a local training run, not a hosted job (use `ftui logs`)")
    return config


def is_hosted(run_dir: Path) -> bool:
    try:
        return bool(json.loads((Path(run_dir) / "config.json").read_text(encoding="utf-8")).get("kind") == KIND)
    except (OSError, ValueError):
        return False


def run_state(run_dir: Path) -> str:
    """The type of the last final event, else "running": a hosted job has no local process to die."""
    evs, _ = _events.read_events(Path(run_dir) / "events.jsonl")
    state = "running"
    for ev in evs:
        if ev.get("type") in _events.FINAL_TYPES:
            state = ev["type"]
    return state


def _write_state(run_dir: Path, state: dict[str, Any]) -> None:
    # A readable mirror for people and other tools; sync() itself trusts only events.jsonl.
    atomic_write_json(run_dir / STATE_FILE, state)


@contextmanager
def _locked(run_dir: Path) -> Iterator[None]:
    # Two watchers of one run (the CLI and the TUI) must not both append the same service events.
    with open(run_dir / _LOCK_FILE, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def sync(run_dir: Path | str, client: Any = None) -> list[dict[str, Any]]:
    """Poll the job once and append what is new to events.jsonl; returns the events written."""
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    base_url, job_id = config["base_url"], config["job_id"]
    with _locked(run_dir):
        seen = seen_in(run_dir)
        if seen.final is not None:
            return []
        if client is None:
            client = client_for(base_url, config.get("api_key_env") or "OPENAI_API_KEY")
        with calling(base_url):
            job = client.fine_tuning.jobs.retrieve(job_id)
            fresh = new_service_events(client, job_id, seen.last_event_id, seen.event_ids)
            cps = [c for c in service_checkpoints(client, job_id) if c.id not in seen.checkpoints]
        before = (run_dir / "events.jsonl").stat().st_size if (run_dir / "events.jsonl").exists() else 0
        with _events.EventWriter(run_dir / "events.jsonl") as w:
            for ev in fresh:
                emit_service_event(w, ev, seen)
            for c in cps:
                w.emit(
                    "checkpoint",
                    step=int(c.step_number or 0),
                    path=c.fine_tuned_model_checkpoint,
                    metrics=as_dict(getattr(c, "metrics", None)),
                    service_checkpoint_id=c.id,
                )
                seen.last_checkpoint = c.fine_tuned_model_checkpoint
            if job.status != seen.status:
                w.emit("status", message=f"job status: {job.status}", job_status=job.status)
            final = _DONE.get(job.status)
            if final == "finished":
                runtime = (
                    (job.finished_at - job.created_at)
                    if job.finished_at and job.created_at
                    else (round(time.time() - seen.started_t, 1) if seen.started_t else None)
                )
                w.emit(
                    "finished",
                    adapter=job.fine_tuned_model,
                    best_eval_loss=seen.best_eval_loss,
                    best_step=seen.best_step,
                    runtime_s=runtime,
                    step=seen.step,
                    trained_tokens=getattr(job, "trained_tokens", None),
                )
            elif final == "failed":
                err = getattr(job, "error", None)
                msg = getattr(err, "message", None) or "the service reports the job failed without a reason"
                code = getattr(err, "code", None)
                w.emit("failed", error=f"{msg} ({code})" if code else msg, traceback_tail=[], hint=None)
            elif final == "cancelled":
                w.emit("cancelled", step=seen.step, checkpoint=seen.last_checkpoint)
        written, _ = _events.read_events(run_dir / "events.jsonl", before)
        _write_state(
            run_dir,
            {
                "job_id": job_id,
                "status": job.status,
                "last_event_id": fresh[-1].id if fresh else seen.last_event_id,
                "fine_tuned_model": job.fine_tuned_model,
            },
        )
        return written


def follow(
    run_dir: Path | str,
    interval: float = 10.0,
    on_event: Callable[[dict[str, Any]], None] = lambda ev: None,
    timeout: float | None = None,
    client: Any = None,
    unreachable_for: float = UNREACHABLE_S,
) -> str:
    """Poll until the job ends (or `timeout` seconds pass); returns the run's state.

    A service that does not answer is polled again for up to `unreachable_for` seconds before
    this gives up: a restarted service or a re-opened SSH tunnel should not end the watch.

    `on_event` gets every event the run gains while this watches, whoever polled it: with the
    workbench attached to the same run, its polls record some of the job's events first."""
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    if client is None:
        client = client_for(config["base_url"], config.get("api_key_env") or "OPENAI_API_KEY")
    down_since: float | None = None

    def poll_service() -> None:
        nonlocal down_since
        try:
            sync(run_dir, client)
            down_since = None
        except HostedError as exc:
            if not exc.unreachable:
                raise
            down_since = down_since if down_since is not None else time.monotonic()
            if time.monotonic() - down_since > unreachable_for:
                raise

    _, offset = _events.read_events(run_dir / "events.jsonl")
    tail = jobs.Tail(run_dir / "events.jsonl", offset)
    for written in tail.batches(interval, timeout, gone=lambda: run_state(run_dir) != "running", step=poll_service):
        for ev in written:
            on_event(ev)
    return run_state(run_dir)


def cancel(run_dir: Path | str, client: Any = None) -> list[dict[str, Any]]:
    """Ask the service to cancel the job, then record the outcome; returns the events written."""
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    if run_state(run_dir) != "running":
        return []
    if client is None:
        client = client_for(config["base_url"], config.get("api_key_env") or "OPENAI_API_KEY")
    with calling(config["base_url"]):
        client.fine_tuning.jobs.cancel(config["job_id"])
    return sync(run_dir, client)


def tuned_endpoint(run_dir: Path | str) -> dict[str, Any] | None:
    """Where a finished hosted run's model answers (for evaluation as an OpenAI-compatible endpoint):
    {"base_url", "model", "api_key_env"}, or None while it has no fine-tuned model."""
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    evs, _ = _events.read_events(run_dir / "events.jsonl")
    model = next((e.get("adapter") for e in reversed(evs) if e.get("type") == "finished"), None)
    if not model:
        return None
    return {
        "base_url": config["base_url"],
        "model": model,
        "api_key_env": config.get("api_key_env") or "OPENAI_API_KEY",
    }


def base_endpoint(run_dir: Path | str) -> dict[str, Any]:
    """The hosted base model the job started from: the fair "before" side of an evaluation."""
    config = read_config(Path(run_dir))
    return {
        "base_url": config["base_url"],
        "model": config["model"],
        "api_key_env": config.get("api_key_env") or "OPENAI_API_KEY",
    }
