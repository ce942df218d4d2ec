"""`ftui service`'s jobs as they are read: a job's record, and its status, events and public form
derived from its run's files on every request, never cached (a restarted service reattaches to
running children and reports dead ones as failed, because that is what the files say).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftui.core.base.events import FINAL_TYPES, read_events
from ftui.core.base.fsutil import atomic_write_json
from ftui.core.hosted.service_files import ServiceFiles
from ftui.core.hosted.service_request import ServiceError
from ftui.core.runs import runs

ORG = "ftui"


@dataclass
class Job:
    record: dict[str, Any]
    run_dir: Path | None


class ServiceJobs(ServiceFiles):
    """The read side of the service's jobs; `Service` adds creating, cancelling and starting them."""

    jobs_dir: Path
    _lock: threading.RLock

    def _job_path(self, job_id: str) -> Path:
        return self.jobs_dir / f"{job_id}.json"

    def _save(self, rec: dict[str, Any]) -> None:
        atomic_write_json(self._job_path(rec["id"]), rec)

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
