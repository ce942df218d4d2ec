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
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftui.core.base import events as _events
from ftui.core.base import jobs
from ftui.core.base.errors import FtuiError
from ftui.core.base.fsutil import atomic_write_json
from ftui.core.base.paths import store_path
from ftui.core.base.run_dirs import new_run_dir
from ftui.core.build import files as build_files
from ftui.core.build import formats
from ftui.core.workspace.workspace import HostedConfig, SettingError

if TYPE_CHECKING:
    from ftui.core.workspace.workspace import Workspace

KIND = "hosted"
METHODS = {"sft": "supervised", "dpo": "dpo"}
# The service's upload format, per method.
UPLOAD_FORMAT = {"sft": "openai-chat", "dpo": "openai-preference"}
STATE_FILE = "hosted_state.json"
_LOCK_FILE = ".hosted.lock"
# A rough tokens-per-character rate for when no tokenizer is on disk (English text and code).
_CHARS_PER_TOKEN = 4.0
# Job statuses after which nothing more happens on the service.
_DONE = {"succeeded": "finished", "failed": "failed", "cancelled": "cancelled"}

Say = Callable[[str], None]
# How long a watch keeps polling a service that does not answer before it gives up.
UNREACHABLE_S = 300.0


class HostedError(FtuiError):
    """`service` errors came back from the fine-tuning service; the others are the user's input."""

    def __init__(self, message: str, service: bool = False, unreachable: bool = False):
        super().__init__(message)
        self.service = service
        # No answer at all (a restart, a dropped tunnel): worth polling again, unlike a refusal.
        self.unreachable = unreachable


# Where a job goes: the workspace's `hosted:` section with the command line's overrides applied.
Target = HostedConfig


def target_for(
    ws: Workspace,
    base_url: str | None = None,
    model: str | None = None,
    epochs: int | None = None,
    suffix: str | None = None,
) -> Target:
    """The workspace's `hosted:` section with command-line overrides applied."""
    cfg = getattr(ws, "hosted", None)
    base_url = base_url or (cfg.base_url if cfg else None)
    model = model or (cfg.model if cfg else None)
    where = ws.config_path
    if not base_url:
        raise HostedError(
            f"{where}: no fine-tuning service: add `hosted: {{base_url: ..., model: ...}}` or give --base-url"
        )
    if not model:
        raise HostedError(f"{where}: no base model for the hosted job: set `hosted.model` or give --model")
    try:
        return Target(
            base_url=base_url.rstrip("/"),
            model=model,
            api_key_env=cfg.api_key_env if cfg else "OPENAI_API_KEY",
            n_epochs=epochs if epochs is not None else (cfg.n_epochs if cfg else None),
            suffix=suffix if suffix is not None else (cfg.suffix if cfg else None),
        )
    except SettingError as exc:  # only --epochs can break it: the workspace's own value was checked on load
        raise HostedError(f"--epochs {exc.problems[0][1]}, not {epochs}") from None


def api_key(api_key_env: str) -> str:
    key = os.environ.get(api_key_env, "").strip()
    if not key:
        raise HostedError(f"no API key: the environment variable {api_key_env} is not set")
    return key


def client_for(base_url: str, api_key_env: str, timeout: float = 60.0, max_retries: int = 2) -> Any:
    key = api_key(api_key_env)
    from openai import OpenAI  # the client costs ~0.5 s to import; only hosted commands pay it

    return OpenAI(base_url=base_url, api_key=key, timeout=timeout, max_retries=max_retries)


def service_error(exc: BaseException, base_url: str) -> HostedError:
    """One line for anything the client raised: HTTP status and the service's own message."""
    from openai import APIConnectionError, APIStatusError

    if isinstance(exc, APIStatusError):
        body = exc.body
        msg = None
        if isinstance(body, dict):
            inner = body.get("error")
            msg = (inner if isinstance(inner, dict) else body).get("message")
        msg = msg or exc.message
        return HostedError(f"{base_url}: HTTP {exc.status_code}: {msg}", service=True)
    if isinstance(exc, APIConnectionError):
        return HostedError(f"{base_url}: cannot reach the service ({exc.message})", service=True, unreachable=True)
    return HostedError(f"{base_url}: {exc}", service=True)


@contextmanager
def _calling(base_url: str) -> Iterator[None]:
    from openai import OpenAIError

    try:
        yield
    except OpenAIError as exc:
        raise service_error(exc, base_url) from None


# --- upload files and the cost estimate -------------------------------------------------------


def upload_rows(build: Any, method: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    if method not in METHODS:
        raise HostedError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    train_path = build_files.train_file(build.dir, method)
    train = build.rows(build_files.stem(train_path.name))
    if not train:
        raise HostedError(f"{train_path}: no training rows for {method.upper()} in this build")
    # The service's validation file is what a local run evaluates on: the held-out rows judge the job later.
    return train, build.rows(build_files.stem(build_files.eval_file(build.dir, method).name))


def write_upload_files(
    train: list[dict[str, Any]], held: list[dict[str, Any]], method: str, out_dir: Path
) -> tuple[Path, Path | None]:
    """The build's rows in the service's JSONL format (formats.py owns the mapping)."""
    fmt = UPLOAD_FORMAT[method]
    train_path = out_dir / "train.jsonl"
    formats.write(train, train_path, fmt)
    eval_path = None
    if held:
        eval_path = out_dir / "eval.jsonl"
        formats.write(held, eval_path, fmt)
    return train_path, eval_path


def _conversation(row: dict[str, Any]) -> list[dict[str, Any]]:
    if "messages" in row:
        return list(row["messages"])
    return list(row.get("prompt") or []) + list(row.get("chosen") or []) + list(row.get("rejected") or [])


def _local_tokenizer(model_name: str | None) -> Any:
    if not model_name:
        return None
    try:
        from ftui.core.base.tokens import load_for_model

        # prepare=False: an estimate is not worth converting a model for.
        return load_for_model(model_name, say=lambda _m: None, prepare=False)
    except Exception:  # no tokenizer on disk, or an unreadable one: fall back to characters
        return None


def estimate(
    train: list[dict[str, Any]], epochs: int | None, tokenizer_model: str | None = None
) -> dict[str, Any] | None:
    """The billed-token estimate from checks.hosted_estimate (OpenAI's epoch rule), or None if absent."""
    try:
        from ftui.core.build.checks import hosted_estimate
    except ImportError:
        return None
    convs = [_conversation(r) for r in train]
    tok = _local_tokenizer(tokenizer_model)
    if tok is not None:
        counts = tok.count_many(convs)
        how = f"counted with the {tokenizer_model} tokenizer; the hosted model's own differs a little"
    else:
        counts = [
            math.ceil(sum(len(str(m.get("content") or "")) for m in c) / _CHARS_PER_TOKEN) + 4 * len(c) for c in convs
        ]
        how = f"approximate: {_CHARS_PER_TOKEN:g} characters per token, no local tokenizer"
    est = hosted_estimate(counts, epochs=epochs)
    est["note"] = how
    return est


def estimate_line(est: dict[str, Any]) -> str:
    return (
        f"billed-token estimate: {est['examples']} examples x {est['epochs']} epochs, "
        f"{est['tokens_per_epoch']:,} tokens per epoch = {est['billed_tokens']:,} tokens ({est['note']})"
    )


# --- submit -----------------------------------------------------------------------------------


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
        with _calling(target.base_url):
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


@dataclass
class _Seen:
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


def _seen(run_dir: Path) -> _Seen:
    evs, _ = _events.read_events(run_dir / "events.jsonl")
    s = _Seen()
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


def _new_service_events(client: Any, job_id: str, last_id: str | None, seen_ids: frozenset[str]) -> list[Any]:
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


def _as_dict(data: Any) -> dict[str, Any]:
    if isinstance(data, dict):
        return data
    dump = getattr(data, "model_dump", None)
    return dump(exclude_none=True) if dump else {}


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _emit_service_event(w: _events.EventWriter, ev: Any, seen: _Seen) -> None:
    data = _as_dict(getattr(ev, "data", None))
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


def _checkpoints(client: Any, job_id: str) -> list[Any]:
    from openai import NotFoundError

    try:
        return sorted(client.fine_tuning.jobs.checkpoints.list(job_id, limit=100), key=lambda c: c.step_number or 0)
    except NotFoundError:
        return []  # not every OpenAI-compatible service keeps checkpoints


def sync(run_dir: Path | str, client: Any = None) -> list[dict[str, Any]]:
    """Poll the job once and append what is new to events.jsonl; returns the events written."""
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    base_url, job_id = config["base_url"], config["job_id"]
    with _locked(run_dir):
        seen = _seen(run_dir)
        if seen.final is not None:
            return []
        if client is None:
            client = client_for(base_url, config.get("api_key_env") or "OPENAI_API_KEY")
        with _calling(base_url):
            job = client.fine_tuning.jobs.retrieve(job_id)
            fresh = _new_service_events(client, job_id, seen.last_event_id, seen.event_ids)
            cps = [c for c in _checkpoints(client, job_id) if c.id not in seen.checkpoints]
        before = (run_dir / "events.jsonl").stat().st_size if (run_dir / "events.jsonl").exists() else 0
        with _events.EventWriter(run_dir / "events.jsonl") as w:
            for ev in fresh:
                _emit_service_event(w, ev, seen)
            for c in cps:
                w.emit(
                    "checkpoint",
                    step=int(c.step_number or 0),
                    path=c.fine_tuned_model_checkpoint,
                    metrics=_as_dict(getattr(c, "metrics", None)),
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
    with _calling(config["base_url"]):
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
