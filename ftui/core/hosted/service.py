"""`ftui service`, core side: OpenAI's fine-tuning API over a workspace's own runs.

The service's folder is STATE/service/: `files/` (each upload and its record), `jobs/` (one record
per job), `builds/` (each job's uploads as a dataset build). A job becomes an ordinary training run
in STATE/runs/ (the detached child, events.jsonl), so the workbench and `ftui runs` show it. A job's
status, events and checkpoints are read from its run's files on every request, never cached: a
restarted service reattaches to running children and reports dead ones as failed, because that is
what the files say. Keys never reach the disk: a caller is known by a hash of its key.

Beside this file: service_request (what a request may ask, the limits), service_files (uploads and
their check), service_jobs (a job as it is read), service_events (a run's events in OpenAI's shape).
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, MutableMapping
from concurrent.futures import BrokenExecutor, Executor
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftui.core.base import jobs, tokens
from ftui.core.base.events import read_events
from ftui.core.base.fsutil import atomic_write_json
from ftui.core.build import checks, formats
from ftui.core.build import files as build_files
from ftui.core.hosted.service_events import openai_checkpoints, openai_events
from ftui.core.hosted.service_jobs import ORG as ORG
from ftui.core.hosted.service_jobs import ServiceJobs
from ftui.core.hosted.service_request import METHOD_OF, JobRequest, Limits, parse_job_request
from ftui.core.hosted.service_request import ServiceError as ServiceError
from ftui.core.runs import runs

if TYPE_CHECKING:
    from ftui.core.workspace.workspace import Workspace

SERVICE_DIR = "service"
KEYS_ENV = "FTUI_SERVICE_KEYS"
BUILD_FORMAT = {"supervised": "trl-messages", "dpo": "trl-preference"}
_CKPT_RE = re.compile(r"(?P<model>ft:.+):ckpt-step-(?P<step>[0-9]{1,9})")
ACTIVE = ("queued", "running")


def owner_of(key: str) -> str:
    """Who a key is, as stored on disk: a hash, never the key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def keys_from_env(value: str | None) -> frozenset[str]:
    """Hashes of the keys in FTUI_SERVICE_KEYS (comma- or space-separated)."""
    return frozenset(owner_of(k) for k in re.split(r"[,\s]+", value or "") if k)


def take_keys(environ: MutableMapping[str, str] = os.environ) -> frozenset[str]:
    """The service's key hashes, read from the environment and removed from it, so that no child
    (training, the model server) inherits them."""
    keys = keys_from_env(environ.pop(KEYS_ENV, None))
    if not keys:
        raise ServiceError(401, f"no keys: set {KEYS_ENV} to one or more keys, comma-separated")
    return keys


def service_dir(ws: Workspace) -> Path:
    return Path(ws.state.root) / SERVICE_DIR


def base_model_name(model: str) -> str:
    """The name clients ask for a base model by: a folder's name, else the model as configured."""
    name = Path(model).name if ("/" in model and Path(model).expanduser().exists()) else model
    return name.replace(":", "-")


def _now() -> int:
    return int(time.time())


def _new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


class Service(ServiceJobs):
    """Files, jobs and their runs for one workspace; every method checks the caller owns what it touches."""

    def __init__(self, ws: Workspace, max_running: int = 1, limits: Limits | None = None):
        self.ws = ws
        self.root = service_dir(ws)
        self.files_dir = self.root / "files"
        self.jobs_dir = self.root / "jobs"
        self.builds_dir = self.root / "builds"
        for d in (self.files_dir, self.jobs_dir, self.builds_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.max_running = max(1, max_running)
        self.limits = limits or Limits()
        # Where new jobs' files are checked: without it in the caller's thread; the service process
        # gives a process pool, so a large file's check never holds the interpreter its requests share.
        self.new_checker: Callable[[], Executor] | None = None
        self._checker: Executor | None = None
        self.base_name = base_model_name(ws.model)
        self._lock = threading.RLock()
        self._checking: Counter[str] = Counter()  # per key: job requests whose files are being checked

    @functools.cached_property
    def tokenizer(self) -> tokens.ChatTokenizer | None:  # type: ignore[override]
        """The model's chat template and tokenizer, which count a job's tokens; None without local files."""
        try:
            return tokens.load_for_model(self.ws.model, say=lambda _m: None, prepare=False)
        except (tokens.TokenizerError, OSError):
            return None

    # --- jobs: create ------------------------------------------------------------------------------

    def create_job(self, owner: str, body: Any) -> dict[str, Any]:
        """A job from OpenAI's request body: the schema first, then the files' owner, the key's
        share of the queue and the job's size, then ftui's pre-flight check of the rows."""
        req = parse_job_request(body)
        if req.model != self.base_name:
            raise ServiceError(
                400,
                f"Model {req.model} is not available for fine-tuning here; this service tunes {self.base_name}",
                "model",
                "model_not_available",
            )
        # Existence and ownership are request errors (404); the content is the job's to fail on.
        self.get_file(owner, req.training_file, "training_file")
        if req.validation_file is not None:
            self.get_file(owner, req.validation_file, "validation_file")
        settings = self._settings(req)
        with self._lock:  # a place in this key's share, held while its files are checked
            self._check_share(owner)
            self._checking[owner] += 1
        try:
            return self._create(owner, req, settings)
        finally:
            with self._lock:
                self._checking[owner] -= 1

    def _create(self, owner: str, req: JobRequest, settings: dict[str, Any]) -> dict[str, Any]:
        training_file, mtype = req.training_file, req.method
        rec: dict[str, Any] = {
            "id": _new_id("ftjob"),
            "owner": owner,
            "created_at": _now(),
            "created_t": time.time(),  # orders jobs made within one second
            "model": req.model,
            "training_file": training_file,
            "validation_file": req.validation_file,
            "method": {"type": mtype, mtype: {"hyperparameters": settings["public"]}},
            "suffix": req.suffix,
            "seed": int(self.ws.train.seed) if req.seed is None else req.seed,
            "metadata": req.metadata,
            "run_id": None,
            "error": None,
            "finished_at": None,
            "cancelled_at": None,
            "notes": [{"t": time.time(), "level": "info", "message": f"Validating training file: {training_file}"}],
        }
        rec = self._prepare_elsewhere(owner, rec, settings)
        with self._lock:
            self._save(rec)
        return self.public_job(rec)

    def _prepare_elsewhere(self, owner: str, rec: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
        if self.new_checker is None:
            return self.prepare(owner, rec, settings)
        with self._lock:
            pool = self._checker = self._checker or self.new_checker()
        try:
            return pool.submit(_prepare_in_worker, str(self.ws.root), self.limits, owner, rec, settings).result()
        except BrokenExecutor:  # the checker died (out of memory, killed): the next job gets a new one
            with self._lock:
                if self._checker is pool:
                    self._checker = None
            raise ServiceError(
                503, "ftui's file checker stopped while checking this job's files; send the request again"
            ) from None

    def close(self) -> None:
        """Stop the checker process, if one runs."""
        with self._lock:
            if self._checker is not None:
                self._checker.shutdown(wait=False, cancel_futures=True)
                self._checker = None

    def prepare(self, owner: str, rec: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
        """A new job's files checked and written as its build: the job record, failed with OpenAI's
        `invalid_training_file` (or `_validation_file`) when a file does not pass."""
        mtype = rec["method"]["type"]
        rows, problem, rec["trained_tokens"] = self.check_file(
            owner, rec["training_file"], mtype, "training_file", settings["train"]["n_epochs"]
        )
        held: list[dict[str, Any]] = []
        if problem is None and rec["validation_file"] is not None:
            held, vproblem, _ = self.check_file(owner, rec["validation_file"], mtype, "validation_file")
            if vproblem is not None:
                self._fail_validation(rec, vproblem, "validation_file")
        elif problem is not None:
            self._fail_validation(rec, problem, "training_file")
        if rec["error"] is None:
            steps = self._steps(len(rows), settings["train"])
            rec["train"] = self._make_build(rec, rows, held, settings["train"], steps)
            rec["notes"].append({"t": time.time(), "level": "info", "message": "Files validated, job queued"})
        return rec

    def _check_share(self, owner: str) -> None:
        """At most `max_active_per_key` jobs of one key queued, running or having their files checked:
        one key cannot fill the queue, nor keep the checker busy for everyone."""
        limit = self.limits.max_active_per_key
        active = self._checking[owner]
        active += sum(r.get("owner") == owner and self.status_of(r)[0] in ACTIVE for r in self.records())
        if active >= limit:
            raise ServiceError(
                429,
                f"This key has {active} jobs queued or running, the most this service takes from one key "
                f"({limit}); wait for one to finish or cancel one",
                None,
                "rate_limit_exceeded",
            )

    def _fail_validation(self, rec: dict[str, Any], problem: str, param: str) -> None:
        code = "invalid_training_file" if param == "training_file" else "invalid_validation_file"
        rec["error"] = {
            "code": code,
            "message": f"{rec[param]} failed ftui's pre-flight check: {problem}",
            "param": param,
        }
        rec["finished_at"] = _now()
        rec["notes"].append({"t": time.time(), "level": "error", "message": rec["error"]["message"]})

    def _settings(self, req: JobRequest) -> dict[str, Any]:
        """OpenAI's hyperparameters as the workspace's train settings ("auto": the workspace's, or
        for epochs OpenAI's rule), and as the job reports them back."""
        train, hyper = self.ws.train, req.hyperparameters
        epochs, batch, mult = hyper.get("n_epochs"), hyper.get("batch_size"), hyper.get("learning_rate_multiplier")
        out: dict[str, Any] = {
            "batch_size": int(batch or train.batch_size),
            "learning_rate": train.learning_rate * (mult or 1.0),
            "n_epochs": None if epochs is None else int(epochs),
        }
        public: dict[str, Any] = {
            "batch_size": out["batch_size"],
            "learning_rate_multiplier": mult or 1.0,
            "n_epochs": epochs or "auto",
        }
        if req.method == "dpo":
            out["beta"] = public["beta"] = hyper.get("beta") or train.beta
        return {"train": out, "public": public}

    def _steps(self, n_rows: int, s: dict[str, Any]) -> int:
        """The optimizer steps a job trains; past the service's cap the request is refused."""
        epochs = s["n_epochs"]
        if epochs is None:  # OpenAI's rule, from the one place that holds it
            epochs = int(checks.hosted_estimate([0] * n_rows)["epochs"])
        per_epoch = math.ceil(n_rows / (s["batch_size"] * max(1, self.ws.train.grad_accum)))
        total = max(1, per_epoch * epochs)
        cap = self.limits.max_job_steps
        if total > cap:
            raise ServiceError(
                400,
                f"This job would train {total} steps ({n_rows} examples, {epochs} epochs, batch size "
                f"{s['batch_size']}); this service trains at most {cap} steps a job",
                "hyperparameters",
                "job_too_large",
            )
        return int(total)

    def _make_build(
        self, rec: dict[str, Any], rows: list[dict[str, Any]], held: list[dict[str, Any]], s: dict[str, Any], total: int
    ) -> dict[str, Any]:
        """The uploads as a dataset build, and the run's train settings (the run is made when it starts)."""
        mtype = rec["method"]["type"]
        build_dir = self.builds_dir / rec["id"]
        build_dir.mkdir(parents=True, exist_ok=True)
        files = build_files.method_files(METHOD_OF[mtype])
        train_name, valid_name = files.train, files.validation
        formats.write(rows, build_dir / train_name, BUILD_FORMAT[mtype])
        if held:
            formats.write(held, build_dir / valid_name, BUILD_FORMAT[mtype])
        atomic_write_json(
            build_dir / "manifest.json",
            {"build_id": rec["id"], "service_job": rec["id"], "training_file": rec["training_file"]},
        )
        # Evaluate and save about four times a job (never past its end), like a hosted job's checkpoints.
        every = max(1, min(self.ws.train.eval_steps, math.ceil(total / 4)))
        overrides: dict[str, Any] = {
            "method": METHOD_OF[mtype],
            "max_steps": total,
            "batch_size": s["batch_size"],
            "learning_rate": s["learning_rate"],
            "eval_steps": every,
            "save_steps": every,
            "patience": 0,  # the caller asked for n epochs: no early stop
            "probes": 0,  # uploads carry no graded items to probe
            "anchor_kl": 0.0,
            "seed": rec["seed"],
        }
        if "beta" in s:
            overrides["beta"] = s["beta"]
        return overrides

    def _start_run(self, rec: dict[str, Any]) -> str:
        run_dir = runs.create_run(self.ws, self.builds_dir / rec["id"], rec["train"])
        cfg = runs.read_run_config(run_dir)
        cfg["service_job"] = rec["id"]  # the workbench and `ftui runs` name the job a run serves
        atomic_write_json(run_dir / "config.json", cfg)
        # Started before the record names it: a reader never sees a run without its process as dead.
        runs.start_training(run_dir)
        rec["run_id"] = run_dir.name
        self._save(rec)
        return run_dir.name

    # --- events and checkpoints ------------------------------------------------------------------

    def events(self, owner: str, job_id: str) -> list[dict[str, Any]]:
        """The job's events in OpenAI's shape, oldest first."""
        job = self.job(owner, job_id)
        status, error = self.status_of(job.record)
        over = job.run_dir is None or runs.read_state(job.run_dir).state != "running"
        name = self.fine_tuned_name(job.record)
        return openai_events(job.record, self._run_events(job), name, status, error, over=over)

    def checkpoints(self, owner: str, job_id: str) -> list[dict[str, Any]]:
        job = self.job(owner, job_id)
        return openai_checkpoints(job_id, self._run_events(job), self.fine_tuned_name(job.record))

    # --- cancel, the queue, the models ---------------------------------------------------------

    def cancel(self, owner: str, job_id: str) -> dict[str, Any]:
        with self._lock:
            job = self.job(owner, job_id)
            status, _ = self.status_of(job.record)
            if status in ("succeeded", "failed", "cancelled"):
                raise ServiceError(400, f"Job {job_id} has already {status}", "fine_tuning_job_id")
            job.record["cancelled_at"] = _now()
            self._save(job.record)
            if job.run_dir is not None and status == "running":
                jobs.request_stop(job.run_dir)
            return self.public_job(job.record)

    def tick(self) -> list[str]:
        """Start queued jobs while fewer than `max_running` train; returns the run ids started."""
        started = []
        with self._lock:
            pending = [r for r in self.records() if self.status_of(r)[0] in ("queued", "running")]
            busy = sum(self.status_of(r)[0] == "running" for r in pending)
            for rec in pending:
                if busy >= self.max_running:
                    break
                if self.status_of(rec)[0] == "queued":
                    started.append(self._start_run(rec))
                    busy += 1
        return started

    def models(self, owner: str) -> list[dict[str, Any]]:
        """The base model and this key's fine-tuned models, in OpenAI's model-list shape."""
        out = [{"id": self.base_name, "object": "model", "created": 0, "owned_by": ORG}]
        for rec in self.records():
            if rec.get("owner") == owner and self.status_of(rec)[0] == "succeeded":
                out.append(
                    {"id": self.fine_tuned_name(rec), "object": "model", "created": rec["created_at"], "owned_by": ORG}
                )
        return out

    def served_runs(self) -> dict[str, tuple[str, Path]]:
        """Every succeeded job's model name -> (owner, run folder), over all keys."""
        out = {}
        for rec in self.records():
            if rec.get("run_id") and self.status_of(rec)[0] == "succeeded":
                out[self.fine_tuned_name(rec)] = (str(rec["owner"]), Path(self.ws.state.runs) / rec["run_id"])
        return out

    def chat_model(self, owner: str, model: Any) -> tuple[Path, Path]:
        """The run folder and adapter folder behind a fine-tuned name this key may chat with: a
        succeeded job's final model, or one of its checkpoints the trainer still keeps on disk."""
        mine = {name: rd for name, (who, rd) in self.served_runs().items() if who == owner}
        if isinstance(model, str) and model in mine:
            return mine[model], mine[model] / "adapter"
        m = _CKPT_RE.fullmatch(model) if isinstance(model, str) else None
        if m is not None and m["model"] in mine:
            rd = mine[m["model"]]
            folder = rd / "checkpoints" / f"checkpoint-{int(m['step'])}"
            saved = any(
                e.get("type") == "checkpoint" and e.get("step") == int(m["step"])
                for e in read_events(rd / "events.jsonl")[0]
            )
            if saved and (folder / "adapter_config.json").is_file():
                return rd, folder
            if saved:
                raise ServiceError(
                    404,
                    f"The checkpoint `{model}` is no longer kept (a run keeps its last few checkpoints); "
                    f"{self._served_line(owner)}",
                    "model",
                    "model_not_found",
                )
        raise ServiceError(
            404,
            f"The model `{model}` does not exist or you do not have access to it; {self._served_line(owner)}",
            "model",
            "model_not_found",
        )

    def _served_line(self, owner: str) -> str:
        names = [m["id"] for m in self.models(owner)]
        return f"this service serves {', '.join(names)}, and the checkpoints its jobs list (`:ckpt-step-N`)"


_WORKER_SERVICE: dict[tuple[str, Limits], Service] = {}


def _prepare_in_worker(
    ws_root: str, limits: Limits, owner: str, rec: dict[str, Any], settings: dict[str, Any]
) -> dict[str, Any]:
    """`Service.prepare` in a checker process, which keeps its service (and tokenizer) between jobs."""
    from ftui.core.workspace.workspace import Workspace

    svc = _WORKER_SERVICE.get((ws_root, limits))
    if svc is None:
        svc = _WORKER_SERVICE[(ws_root, limits)] = Service(Workspace.load(ws_root), limits=limits)
    return svc.prepare(owner, rec, settings)


def page(items: list[dict[str, Any]], after: str | None, limit: int) -> dict[str, Any]:
    """OpenAI's cursor page: items after the one with id `after`, at most `limit`."""
    start = 0
    if after is not None:
        ids = [it["id"] for it in items]
        start = ids.index(after) + 1 if after in ids else len(items)
    limit = max(1, min(limit, 100))
    chunk = items[start : start + limit]
    return {"object": "list", "data": chunk, "has_more": start + limit < len(items)}


# --- the service process: launched and followed like every other child ----------------------------

DEFAULT_PORT = 8800
# Addresses only this machine reaches: bound to one, the service answers only to their names.
LOOPBACK = ("127.0.0.1", "localhost", "::1")
LOG = "service.log"


def listen_line(host: str, port: int, keys: int, model: str, root: Path) -> str:
    """What the service says on start: where it listens, to whom, and where it keeps its state."""
    scope = (
        "this machine only; --host 0.0.0.0 listens on every interface"
        if host in LOOPBACK
        else "EVERY machine that can reach this address"
    )
    return (
        f"ftui service: OpenAI fine-tuning API at http://{host}:{port}/v1 ({scope}); "
        f"{keys} key(s) from {KEYS_ENV}; fine-tunes {model}; jobs and files in {root}"
    )


def write_config(ws: Workspace, host: str, port: int, max_running: int, limits: Limits | None = None) -> Path:
    root = service_dir(ws)
    jobs.fresh_folder(root)
    atomic_write_json(
        root / "config.json",
        {
            "workspace": str(ws.root),
            "host": host,
            "port": int(port),
            "base_url": f"http://{host}:{port}/v1",
            "max_running": int(max_running),
            "limits": asdict(limits or Limits()),
            "model": base_model_name(ws.model),
        },
    )
    return root
