"""`ftui service`, core side: OpenAI's fine-tuning API over a workspace's own runs.

The service's folder is STATE/service/: `files/` (each upload and its record), `jobs/` (one record
per job), `builds/` (each job's uploads as a dataset build). A job becomes an ordinary training run
in STATE/runs/ (the detached child, events.jsonl), so the workbench and `ftui runs` show it. A job's
status, events and checkpoints are read from its run's files on every request, never cached: a
restarted service reattaches to running children and reports dead ones as failed, because that is
what the files say. Keys never reach the disk: a caller is known by a hash of its key.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftui.core.base import jobs, tokens
from ftui.core.base.errors import FtuiError
from ftui.core.base.events import FINAL_TYPES, read_events
from ftui.core.base.fsutil import atomic_write_json
from ftui.core.build import checks, formats
from ftui.core.build import files as build_files
from ftui.core.hosted.service_events import openai_checkpoints, openai_events
from ftui.core.runs import runs

if TYPE_CHECKING:
    from ftui.core.workspace.workspace import Workspace

SERVICE_DIR = "service"
KEYS_ENV = "FTUI_SERVICE_KEYS"
ORG = "ftui"
METHOD_OF = {"supervised": "sft", "dpo": "dpo"}
UPLOAD_FORMAT = {"supervised": "openai-chat", "dpo": "openai-preference"}
BUILD_FORMAT = {"supervised": "trl-messages", "dpo": "trl-preference"}
MAX_SUFFIX = 64  # OpenAI's limit on a fine-tuned model's suffix
# A job's first lines of a bad file: enough to fix it, short enough for an error message.
SHOWN_ERRORS = 3
_SUFFIX_RE = re.compile(r"^[A-Za-z0-9_.-]*$")
_CKPT_RE = re.compile(r"^(?P<model>ft:.+):ckpt-step-(?P<step>[0-9]+)$")


class ServiceError(FtuiError):
    """A refused request: HTTP status and OpenAI's error fields."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        kind = "invalid_request_error" if self.status < 500 else "server_error"
        return {"error": {"message": self.message, "type": kind, "param": self.param, "code": self.code}}


def owner_of(key: str) -> str:
    """Who a key is, as stored on disk: a hash, never the key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def keys_from_env(value: str | None) -> frozenset[str]:
    """Hashes of the keys in FTUI_SERVICE_KEYS (comma- or space-separated)."""
    return frozenset(owner_of(k) for k in re.split(r"[,\s]+", value or "") if k)


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


@dataclass
class Job:
    record: dict[str, Any]
    run_dir: Path | None


class Service:
    """Files, jobs and their runs for one workspace; every method checks the caller owns what it touches."""

    def __init__(self, ws: Workspace, max_running: int = 1):
        self.ws = ws
        self.root = service_dir(ws)
        self.files_dir = self.root / "files"
        self.jobs_dir = self.root / "jobs"
        self.builds_dir = self.root / "builds"
        for d in (self.files_dir, self.jobs_dir, self.builds_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.max_running = max(1, max_running)
        self.base_name = base_model_name(ws.model)
        self._lock = threading.RLock()

    @functools.cached_property
    def tokenizer(self) -> tokens.ChatTokenizer | None:
        """The model's chat template and tokenizer, which count a job's tokens; None without local files."""
        try:
            return tokens.load_for_model(self.ws.model, say=lambda _m: None, prepare=False)
        except (tokens.TokenizerError, OSError):
            return None

    # --- files ---------------------------------------------------------------------------------

    def _file_record(self, file_id: str) -> dict[str, Any] | None:
        path = self.files_dir / f"{file_id}.json"
        if not re.fullmatch(r"file-[0-9a-f]+", file_id) or not path.is_file():
            return None
        rec: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return rec

    def add_file(self, owner: str, filename: str, content: bytes, purpose: str) -> dict[str, Any]:
        if purpose != "fine-tune":
            raise ServiceError(400, f"this service keeps fine-tuning files only, not purpose {purpose!r}", "purpose")
        if not content.strip():
            raise ServiceError(400, f"{filename}: the file is empty", "file")
        fid = _new_id("file")
        data_path = self.files_dir / f"{fid}.jsonl"
        data_path.write_bytes(content)
        rec = {
            "id": fid,
            "object": "file",
            "bytes": len(content),
            "created_at": _now(),
            "filename": Path(filename or "upload.jsonl").name,
            "purpose": purpose,
            "status": "processed",
            "status_details": None,
            "expires_at": None,
            "owner": owner,
        }
        atomic_write_json(self.files_dir / f"{fid}.json", rec)
        return public_file(rec)

    def get_file(self, owner: str, file_id: str, param: str = "file_id") -> dict[str, Any]:
        rec = self._file_record(file_id)
        if rec is None or rec.get("owner") != owner:  # another key's file does not exist for this one
            raise ServiceError(404, f"No such File object: {file_id}", param)
        return rec

    def file_content(self, owner: str, file_id: str) -> bytes:
        self.get_file(owner, file_id)
        return (self.files_dir / f"{file_id}.jsonl").read_bytes()

    def delete_file(self, owner: str, file_id: str) -> dict[str, Any]:
        """A job keeps its own copy of the rows (its build), so deleting an upload never breaks one."""
        self.get_file(owner, file_id)
        (self.files_dir / f"{file_id}.jsonl").unlink(missing_ok=True)
        (self.files_dir / f"{file_id}.json").unlink(missing_ok=True)
        return {"id": file_id, "object": "file", "deleted": True}

    def list_files(self, owner: str) -> list[dict[str, Any]]:
        out = []
        for p in self.files_dir.glob("file-*.json"):
            rec = json.loads(p.read_text(encoding="utf-8"))
            if rec.get("owner") == owner:
                out.append(public_file(rec))
        return sorted(out, key=lambda r: (r["created_at"], r["id"]), reverse=True)

    def check_file(
        self, owner: str, file_id: str, method: str, param: str, epochs: int | None = None
    ) -> tuple[list[dict[str, Any]], str | None, int | None]:
        """The file's rows for `method` (or none and the first lines of ftui's pre-flight check errors),
        and the tokens `epochs` passes over it train: each example as the model's chat template renders
        it, cut at the trainer's max length (None when the model has no local tokenizer to count with).
        `epochs` None is OpenAI's rule, as for the job's own steps."""
        rec = self.get_file(owner, file_id, param)
        path = self.files_dir / f"{file_id}.jsonl"
        fmt = UPLOAD_FORMAT[method]
        limit = self.ws.train.max_length
        try:
            report = checks.run_checks(
                path,
                fmt=fmt,
                label=rec["filename"],
                tokenizer=self.tokenizer,
                model=self.base_name,
                max_length=limit,
                hosted=True,
                context_limit=limit,
                epochs=epochs,
            )
        except (formats.FormatError, UnicodeDecodeError, ValueError) as exc:
            return [], f"{rec['filename']}: {exc}", None
        if report.errors:
            shown = "; ".join(str(f) for f in report.errors[:SHOWN_ERRORS])
            more = len(report.errors) - SHOWN_ERRORS
            return [], shown + (f" (and {more} more)" if more > 0 else ""), None
        rows = formats.read(path, fmt).rows
        if not rows:
            return [], f"{rec['filename']}: no examples", None
        return rows, None, int(report.hosted["billed_tokens"]) if report.hosted else None

    # --- jobs: create ------------------------------------------------------------------------------

    def _job_path(self, job_id: str) -> Path:
        return self.jobs_dir / f"{job_id}.json"

    def _save(self, rec: dict[str, Any]) -> None:
        atomic_write_json(self._job_path(rec["id"]), rec)

    def create_job(self, owner: str, req: dict[str, Any]) -> dict[str, Any]:
        model = req.get("model")
        if model != self.base_name:
            raise ServiceError(
                400,
                f"Model {model} is not available for fine-tuning here; this service tunes {self.base_name}",
                "model",
            )
        training_file = req.get("training_file")
        if not isinstance(training_file, str):
            raise ServiceError(400, "training_file is required", "training_file")
        method_body = req.get("method") or {"type": "supervised"}
        mtype = method_body.get("type") if isinstance(method_body, dict) else None
        if mtype not in METHOD_OF:
            raise ServiceError(400, f"method type must be supervised or dpo, not {mtype!r}", "method")
        inner = method_body.get(mtype) or {}
        hyper = dict(req.get("hyperparameters") or {})
        hyper.update((inner.get("hyperparameters") if isinstance(inner, dict) else None) or {})
        suffix = req.get("suffix")
        if suffix is not None and (len(suffix) > MAX_SUFFIX or not _SUFFIX_RE.match(suffix)):
            raise ServiceError(400, f"suffix must be at most {MAX_SUFFIX} letters, digits, '-', '_' or '.'", "suffix")
        settings = self._settings(hyper, mtype)
        # Existence and ownership are request errors (404); the content is the job's to fail on.
        self.get_file(owner, training_file, "training_file")
        validation_file = req.get("validation_file")
        if validation_file is not None:
            self.get_file(owner, validation_file, "validation_file")
        jid = _new_id("ftjob")
        rec: dict[str, Any] = {
            "id": jid,
            "owner": owner,
            "created_at": _now(),
            "created_t": time.time(),  # orders jobs made within one second
            "model": model,
            "training_file": training_file,
            "validation_file": validation_file,
            "method": {"type": mtype, mtype: {"hyperparameters": settings["public"]}},
            "suffix": suffix,
            "seed": self._seed(req.get("seed")),
            "metadata": req.get("metadata"),
            "run_id": None,
            "error": None,
            "finished_at": None,
            "cancelled_at": None,
            "notes": [{"t": time.time(), "level": "info", "message": f"Validating training file: {training_file}"}],
        }
        rows, problem, rec["trained_tokens"] = self.check_file(
            owner, training_file, mtype, "training_file", settings["train"]["n_epochs"]
        )
        held: list[dict[str, Any]] = []
        if problem is None and validation_file is not None:
            held, vproblem, _ = self.check_file(owner, validation_file, mtype, "validation_file")
            if vproblem is not None:
                self._fail_validation(rec, vproblem, "validation_file")
        elif problem is not None:
            self._fail_validation(rec, problem, "training_file")
        if rec["error"] is None:
            rec["train"] = self._make_build(rec, rows, held, settings["train"])
            rec["notes"].append({"t": time.time(), "level": "info", "message": "Files validated, job queued"})
        with self._lock:
            self._save(rec)
        return self.public_job(rec)

    def _seed(self, value: Any) -> int:
        if value is None:
            return int(self.ws.train.seed)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ServiceError(400, "seed must be an integer", "seed")
        return value

    def _fail_validation(self, rec: dict[str, Any], problem: str, param: str) -> None:
        code = "invalid_training_file" if param == "training_file" else "invalid_validation_file"
        rec["error"] = {
            "code": code,
            "message": f"{rec[param]} failed ftui's pre-flight check: {problem}",
            "param": param,
        }
        rec["finished_at"] = _now()
        rec["notes"].append({"t": time.time(), "level": "error", "message": rec["error"]["message"]})

    def _settings(self, hyper: dict[str, Any], mtype: str) -> dict[str, Any]:
        """OpenAI's hyperparameters as the workspace's train settings ("auto": the workspace's, or
        for epochs OpenAI's rule), and as the job reports them back."""
        train = self.ws.train
        public: dict[str, Any] = {}
        out: dict[str, Any] = {}

        def pick(name: str, kind: type, minimum: float) -> Any:
            v = hyper.get(name, "auto")
            if v in ("auto", None):
                return None
            if isinstance(v, bool) or not isinstance(v, (int, float)) or (kind is int and int(v) != v) or v < minimum:
                raise ServiceError(400, f"hyperparameters.{name} must be 'auto' or a number >= {minimum}", name)
            return kind(v)

        epochs = pick("n_epochs", int, 1)
        batch = pick("batch_size", int, 1)
        mult = pick("learning_rate_multiplier", float, 1e-6)
        out["batch_size"] = batch or train.batch_size
        out["learning_rate"] = train.learning_rate * (mult or 1.0)
        public["batch_size"] = out["batch_size"]
        public["learning_rate_multiplier"] = mult or 1.0
        public["n_epochs"] = epochs or "auto"
        out["n_epochs"] = epochs
        if mtype == "dpo":
            beta = pick("beta", float, 1e-6)
            out["beta"] = beta or train.beta
            public["beta"] = out["beta"]
        unknown = set(hyper) - {"n_epochs", "batch_size", "learning_rate_multiplier", "beta"}
        if unknown:
            raise ServiceError(400, f"unknown hyperparameter {sorted(unknown)[0]!r}", sorted(unknown)[0])
        return {"train": out, "public": public}

    def _make_build(
        self, rec: dict[str, Any], rows: list[dict[str, Any]], held: list[dict[str, Any]], s: dict[str, Any]
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
        epochs = s["n_epochs"]
        if epochs is None:  # OpenAI's rule, from the one place that holds it
            epochs = int(checks.hosted_estimate([0] * len(rows))["epochs"])
        per_epoch = math.ceil(len(rows) / (s["batch_size"] * max(1, self.ws.train.grad_accum)))
        total = max(1, per_epoch * epochs)
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

    # --- jobs: read -------------------------------------------------------------------------------

    def _record(self, job_id: str) -> dict[str, Any] | None:
        if not re.fullmatch(r"ftjob-[0-9a-f]+", job_id or ""):
            return None
        path = self._job_path(job_id)
        if not path.is_file():
            return None
        rec: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return rec

    def job(self, owner: str, job_id: str) -> Job:
        rec = self._record(job_id)
        if rec is None or rec.get("owner") != owner:  # another key's job does not exist for this one
            raise ServiceError(404, f"Fine-tuning job {job_id} not found", "fine_tuning_job_id", "not_found")
        run_dir = Path(self.ws.state.runs) / rec["run_id"] if rec.get("run_id") else None
        return Job(rec, run_dir)

    def records(self) -> list[dict[str, Any]]:
        out = []
        for p in self.jobs_dir.glob("ftjob-*.json"):
            try:
                out.append(json.loads(p.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue
        return sorted(out, key=lambda r: (r.get("created_t") or r["created_at"], r["id"]))

    def list_jobs(self, owner: str) -> list[dict[str, Any]]:
        mine = [r for r in self.records() if r.get("owner") == owner]
        return [self.public_job(r) for r in reversed(mine)]

    def _run_events(self, job: Job) -> list[dict[str, Any]]:
        if job.run_dir is None:
            return []
        evs, _ = read_events(job.run_dir / "events.jsonl")
        return evs

    def status_of(self, rec: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
        """The job's OpenAI status and error, from its record and its run's files."""
        if not rec.get("run_id"):
            if rec.get("error"):
                return "failed", rec["error"]
            return ("cancelled", None) if rec.get("cancelled_at") else ("queued", None)
        run_dir = Path(self.ws.state.runs) / rec["run_id"]
        info = runs.read_state(run_dir)
        if info.state == "running":
            return ("cancelled", None) if rec.get("cancelled_at") else ("running", None)
        if info.state == "finished":
            return "succeeded", None
        if info.state == "cancelled":
            return "cancelled", None
        if info.state == "dead":
            if rec.get("cancelled_at"):  # asked to stop, and gone before it could say so: what was asked
                return "cancelled", None
            msg = "the training process ended without a final event (killed, or the machine restarted)"
            return "failed", {"code": "server_error", "message": msg, "param": None}
        return "failed", {"code": "server_error", "message": info.error or "training failed", "param": None}

    def fine_tuned_name(self, rec: dict[str, Any]) -> str:
        return f"ft:{rec['model']}:{ORG}:{rec.get('suffix') or ''}:{rec['id'].split('-', 1)[1][:8]}"

    def public_job(self, rec: dict[str, Any]) -> dict[str, Any]:
        status, error = self.status_of(rec)
        evs = self._run_events(Job(rec, Path(self.ws.state.runs) / rec["run_id"] if rec.get("run_id") else None))
        final = next((e for e in reversed(evs) if e.get("type") in FINAL_TYPES), None)
        finished_at = rec.get("finished_at")
        if final is not None:
            finished_at = int(final["t"])
        elif status == "cancelled":
            finished_at = rec.get("cancelled_at")
        mtype = rec["method"]["type"]
        hyper = rec["method"][mtype]["hyperparameters"]
        return {
            "id": rec["id"],
            "object": "fine_tuning.job",
            "created_at": rec["created_at"],
            "error": error,
            "fine_tuned_model": self.fine_tuned_name(rec) if status == "succeeded" else None,
            "finished_at": finished_at if status in ("succeeded", "failed", "cancelled") else None,
            "hyperparameters": {k: hyper[k] for k in ("n_epochs", "batch_size", "learning_rate_multiplier")},
            "model": rec["model"],
            "organization_id": ORG,
            "result_files": [],
            "seed": rec["seed"],
            "status": status,
            # Counted by the pre-flight check when the job was made: what its run trains once it succeeds.
            "trained_tokens": rec.get("trained_tokens") if status == "succeeded" else None,
            "training_file": rec["training_file"],
            "validation_file": rec.get("validation_file"),
            "estimated_finish": None,
            "integrations": [],
            "metadata": rec.get("metadata"),
            "method": rec["method"],
            "user_provided_suffix": rec.get("suffix"),
        }

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
        m = _CKPT_RE.match(model) if isinstance(model, str) else None
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


def public_file(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rec.items() if k != "owner"}


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
LOG = "service.log"


def listen_line(host: str, port: int, keys: int, model: str, root: Path) -> str:
    """What the service says on start: where it listens, to whom, and where it keeps its state."""
    scope = (
        "this machine only; --host 0.0.0.0 listens on every interface"
        if host in ("127.0.0.1", "localhost", "::1")
        else "EVERY machine that can reach this address"
    )
    return (
        f"ftui service: OpenAI fine-tuning API at http://{host}:{port}/v1 ({scope}); "
        f"{keys} key(s) from {KEYS_ENV}; fine-tunes {model}; jobs and files in {root}"
    )


def write_config(ws: Workspace, host: str, port: int, max_running: int) -> Path:
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
            "model": base_model_name(ws.model),
        },
    )
    return root
