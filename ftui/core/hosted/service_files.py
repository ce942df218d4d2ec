"""`ftui service`'s files: uploads streamed to disk (owner-only, never held whole in memory, at most
the service's limit), their records, and the pre-flight check a job runs on them.

A file is two entries in STATE/service/files/: `file-ID.jsonl` (the bytes) and `file-ID.json` (the
record, naming its owner by the hash of its key). Reads tolerate a file deleted between listing
and reading: a concurrent delete is simply a file that is no longer there.
"""

from __future__ import annotations

import io
import json
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ftui.core.base import tokens
from ftui.core.base.errors import InputError
from ftui.core.base.fsutil import atomic_write_json
from ftui.core.build import checks, formats
from ftui.core.hosted.service_request import Limits, ServiceError

if TYPE_CHECKING:
    from ftui.core.workspace.workspace import Workspace

# The upload formats ftui's pre-flight check reads, per method.
UPLOAD_FORMAT = {"supervised": "openai-chat", "dpo": "openai-preference"}
# A job's first lines of a bad file: enough to fix it, short enough for an error message.
SHOWN_ERRORS = 3
MAX_FILENAME = 255
CHUNK = 1 << 20
_FILE_ID = re.compile(r"file-[0-9a-f]{1,40}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def public_file(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rec.items() if k != "owner"}


def clean_filename(name: str | None) -> str:
    """The name a file is listed by: its base name only, printable, at most MAX_FILENAME characters."""
    base = Path((name or "").replace("\\", "/")).name or "upload.jsonl"
    if _CONTROL.search(base) or len(base) > MAX_FILENAME:
        raise ServiceError(400, f"a file name is at most {MAX_FILENAME} printable characters", "file")
    return base


class ServiceFiles:
    """The file half of the service; `Service` adds the jobs."""

    ws: Workspace
    files_dir: Path
    base_name: str
    limits: Limits
    tokenizer: tokens.ChatTokenizer | None

    def _file_record(self, file_id: str) -> dict[str, Any] | None:
        if not isinstance(file_id, str) or not _FILE_ID.fullmatch(file_id):
            return None
        try:
            rec: dict[str, Any] = json.loads((self.files_dir / f"{file_id}.json").read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):  # deleted meanwhile, or half gone
            return None
        return rec

    def add_file(self, owner: str, filename: str, content: bytes | BinaryIO, purpose: str) -> dict[str, Any]:
        """Store an upload, read in chunks from `content` (bytes or a binary file) into a file only
        this user can read; more than the upload limit is a 413 and leaves nothing behind."""
        if purpose != "fine-tune":
            raise ServiceError(400, f"this service keeps fine-tuning files only, not purpose {purpose!r}", "purpose")
        name = clean_filename(filename)
        src: BinaryIO = io.BytesIO(content) if isinstance(content, bytes) else content
        fid = f"file-{os.urandom(12).hex()}"
        data_path = self.files_dir / f"{fid}.jsonl"
        size, blank = 0, True
        fd = os.open(data_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := src.read(CHUNK):
                    size += len(chunk)
                    if size > self.limits.upload_bytes:
                        raise ServiceError(
                            413,
                            f"{name}: the file is larger than this service's limit of {self.limits.upload_bytes} bytes",
                            "file",
                            "file_too_large",
                        )
                    blank = blank and not chunk.strip()
                    out.write(chunk)
            if blank:
                raise ServiceError(400, f"{name}: the file is empty", "file")
        except BaseException:
            data_path.unlink(missing_ok=True)
            raise
        rec = {
            "id": fid,
            "object": "file",
            "bytes": size,
            "created_at": int(time.time()),
            "filename": name,
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

    def file_path(self, owner: str, file_id: str) -> Path:
        """The upload's bytes on disk, for streaming back to its owner."""
        self.get_file(owner, file_id)
        path = self.files_dir / f"{file_id}.jsonl"
        if not path.is_file():
            raise ServiceError(404, f"No such File object: {file_id}", "file_id")
        return path

    def file_content(self, owner: str, file_id: str) -> bytes:
        try:
            return self.file_path(owner, file_id).read_bytes()
        except FileNotFoundError:
            raise ServiceError(404, f"No such File object: {file_id}", "file_id") from None

    def delete_file(self, owner: str, file_id: str) -> dict[str, Any]:
        """A job keeps its own copy of the rows (its build), so deleting an upload never breaks one."""
        self.get_file(owner, file_id)
        # The record first: from then on no reader finds the file, whatever happens to its bytes.
        (self.files_dir / f"{file_id}.json").unlink(missing_ok=True)
        (self.files_dir / f"{file_id}.jsonl").unlink(missing_ok=True)
        return {"id": file_id, "object": "file", "deleted": True}

    def list_files(self, owner: str) -> list[dict[str, Any]]:
        out = []
        for p in self.files_dir.glob("file-*.json"):
            rec = self._file_record(p.stem)
            if rec is not None and rec.get("owner") == owner:
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
            if report.errors:
                shown = "; ".join(str(f) for f in report.errors[:SHOWN_ERRORS])
                more = len(report.errors) - SHOWN_ERRORS
                return [], shown + (f" (and {more} more)" if more > 0 else ""), None
            rows = formats.read(path, fmt).rows
        except InputError as exc:  # not UTF-8, or gone: the file's name, not the service's path
            return [], f"{rec['filename']}: {exc.message}", None
        except (formats.FormatError, UnicodeDecodeError, ValueError) as exc:
            return [], f"{rec['filename']}: {exc}", None
        if not rows:
            return [], f"{rec['filename']}: no examples", None
        return rows, None, int(report.hosted["billed_tokens"]) if report.hosted else None
