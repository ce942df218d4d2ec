"""Corrections: one per item id, never lost, safe with the workbench and the CLI open at once.

Storage is an append-only journal (`journal.jsonl`, one entry a line, last entry per id wins, a
revert is a tombstone) plus a snapshot (`snapshot.json`) that compaction writes atomically. Each
save is a single write() of one line followed by fsync, under a cross-process lock, so:
- a process killed at any moment leaves at worst a torn last line, which readers skip and the next
  writer seals off with a newline before appending;
- two processes never interleave or overwrite each other's entries;
- once `save` returns, the entry is on disk.
Compaction writes the snapshot first, then replaces the journal with an empty one; a crash in
between only means the old entries are replayed over a snapshot that already holds them, which
changes nothing because the last entry per id wins either way.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock

from ftui.core.base.errors import FtuiError
from ftui.core.base.fsutil import atomic_write_json, atomic_write_text, fsync_dir
from ftui.core.base.paths import StatePaths

STATUSES = ("corrected", "skipped", "needs_review")

JOURNAL = "journal.jsonl"
SNAPSHOT = "snapshot.json"
LOCK = ".lock"
SCHEMA = 1
# Compact once the journal holds this many more entries than there are live corrections; small
# enough to keep start-up reads short, large enough that compaction is rare.
COMPACT_SLACK = 2000
LOCK_TIMEOUT_S = 30.0


def answer_hash(answer: str) -> str:
    return hashlib.sha256((answer or "").encode("utf-8")).hexdigest()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Correction:
    id: str
    output: str
    status: str
    updated: str
    original_hash: str

    def is_stale(self, item: Any) -> bool:
        """True when the run log's answer for this item changed after the correction was written."""
        return answer_hash(item.answer) != self.original_hash

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Correction:
        status = d["status"]
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        return cls(
            id=str(d["id"]),
            output=str(d.get("output", "")),
            status=status,
            updated=str(d.get("updated", "")),
            original_hash=str(d.get("original_hash", "")),
        )


class CorrectionError(FtuiError):
    """A correction that cannot be saved, or a store that cannot be read; str() says why."""


def _corrections_dir(where: Any) -> Path:
    if isinstance(where, StatePaths):
        return where.corrections
    state = getattr(where, "state", None)
    if isinstance(state, StatePaths):
        return state.corrections
    return StatePaths(Path(where)).corrections


def _file_id(path: Path) -> tuple[Any, ...] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_dev, st.st_mtime_ns, st.st_size)


class CorrectionStore:
    def __init__(self, ws_or_state_dir: Any):
        self.dir = _corrections_dir(ws_or_state_dir)
        self.journal_path = self.dir / JOURNAL
        self.snapshot_path = self.dir / SNAPSHOT
        self._lock_path = self.dir / LOCK
        self._flock: FileLock | None = None
        self._mutex = threading.RLock()
        self._data: dict[str, Correction] = {}
        # What was read: the snapshot's identity, the journal's inode and how far it was read.
        self._snap_id: tuple[Any, ...] | None = None
        self._journal_ino: tuple[Any, ...] | None = None
        self._offset = 0
        self._journal_entries = 0
        # Lines in the journal that could not be used (torn or hand-edited), as "path:line: reason".
        self.problems: list[str] = []
        self._loaded = False

    # -- reading -------------------------------------------------------------------------------

    def get(self, id: str) -> Correction | None:
        with self._mutex:
            return self._current().get(str(id))

    def all(self) -> dict[str, Correction]:
        with self._mutex:
            return dict(self._current())

    def _current(self) -> dict[str, Correction]:
        if not self.dir.exists():
            self._reset()
            self._loaded = True
            return self._data
        try:
            with self._locked():
                self._refresh()
        except PermissionError:
            # A read-only workspace: the lock file cannot be made, and nobody can write either.
            self._refresh()
        return self._data

    # -- writing -------------------------------------------------------------------------------

    def save(self, item: Any, output: str, status: str = "corrected") -> Correction:
        self._validate(item, output, status)
        corr = Correction(
            id=str(item.id), output=output, status=status, updated=now_iso(), original_hash=answer_hash(item.answer)
        )
        entry = corr.to_dict()
        with self._mutex, self._locked(create=True):
            self._refresh()
            self._append(entry)
            self._data[corr.id] = corr
            self._maybe_compact()
        return corr

    def save_many(self, changes: Iterable[tuple[Any, str, str]]) -> list[Correction]:
        """Save (item, output, status) triples with one lock, one write and one fsync."""
        out = []
        for item, output, status in changes:
            self._validate(item, output, status)
            out.append(
                Correction(
                    id=str(item.id),
                    output=output,
                    status=status,
                    updated=now_iso(),
                    original_hash=answer_hash(item.answer),
                )
            )
        if not out:
            return out
        with self._mutex, self._locked(create=True):
            self._refresh()
            self._append_many([c.to_dict() for c in out])
            for c in out:
                self._data[c.id] = c
            self._maybe_compact()
        return out

    @staticmethod
    def _validate(item: Any, output: Any, status: str) -> None:
        if status not in STATUSES:
            raise CorrectionError(f"unknown status {status!r}; one of {', '.join(STATUSES)}")
        if not isinstance(output, str):
            raise CorrectionError(f"a correction's output must be text, got {type(output).__name__}")
        if status == "corrected" and not output.strip():
            raise CorrectionError(f"{item.id}: an empty correction cannot be saved (skip the item instead)")

    def skip(self, item: Any) -> Correction:
        # The text typed so far stays with the item, so un-skipping later loses nothing.
        prev = self.get(item.id)
        return self.save(item, prev.output if prev else "", status="skipped")

    def mark_review(self, item: Any, output: str | None = None) -> Correction:
        if output is None:
            prev = self.get(item.id)
            output = prev.output if prev else ""
        return self.save(item, output, status="needs_review")

    def revert(self, item_id: str) -> None:
        item_id = str(item_id)
        with self._mutex:
            if not self.dir.exists():
                return
            with self._locked(create=True):
                self._refresh()
                if item_id not in self._data:
                    return
                self._append({"id": item_id, "op": "revert", "updated": now_iso()})
                del self._data[item_id]
                self._maybe_compact()

    # -- internals -----------------------------------------------------------------------------

    def _locked(self, create: bool = False) -> FileLock:
        if create:
            self.dir.mkdir(parents=True, exist_ok=True)
        if self._flock is None:
            self._flock = FileLock(str(self._lock_path), timeout=LOCK_TIMEOUT_S)
        return self._flock

    def _reset(self) -> None:
        self._data = {}
        self._snap_id = None
        self._journal_ino = None
        self._offset = 0
        self._journal_entries = 0
        self.problems = []

    def _refresh(self) -> None:
        """Bring the in-memory view up to date with disk; cheap when nothing changed."""
        snap_id = _file_id(self.snapshot_path)
        jid = _file_id(self.journal_path)
        jino = jid[:2] if jid else None
        if not self._loaded or snap_id != self._snap_id or jino != self._journal_ino or (jid and jid[3] < self._offset):
            self._reset()
            self._load_snapshot()
            self._snap_id = snap_id
            self._journal_ino = jino
            self._loaded = True
        if jid and jid[3] > self._offset:
            self._read_journal()

    def _load_snapshot(self) -> None:
        try:
            raw = self.snapshot_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        try:
            doc = json.loads(raw)
            rows = doc["corrections"]
            for k, v in rows.items():
                self._data[str(k)] = Correction.from_dict(v)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # Only atomic replaces ever write this file, so this is hand editing; say where.
            raise CorrectionError(f"{self.snapshot_path}: unreadable corrections snapshot ({exc})") from None

    def _read_journal(self) -> None:
        with open(self.journal_path, "rb") as fh:
            fh.seek(self._offset)
            chunk = fh.read()
        end = chunk.rfind(b"\n")
        if end < 0:
            return  # only a torn (still being written, or crashed) line: nothing complete yet
        body = chunk[: end + 1]
        lineno_base = None
        for n, raw in enumerate(body.split(b"\n")[:-1]):
            self._journal_entries += 1
            raw = raw.strip()
            if not raw:
                continue
            try:
                entry = json.loads(raw)
                self._apply(entry)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                if lineno_base is None:
                    lineno_base = self._line_number_at(self._offset)
                self.problems.append(f"{self.journal_path}:{lineno_base + n}: skipped unreadable entry ({exc})")
        self._offset += end + 1

    def _line_number_at(self, offset: int) -> int:
        with open(self.journal_path, "rb") as fh:
            return fh.read(offset).count(b"\n") + 1

    def _apply(self, entry: dict[str, Any]) -> None:
        if entry.get("op") == "revert":
            self._data.pop(str(entry["id"]), None)
            return
        corr = Correction.from_dict(entry)
        self._data[corr.id] = corr

    def _append(self, entry: dict[str, Any]) -> None:
        self._append_many([entry])

    def _append_many(self, entries: list[dict[str, Any]]) -> None:
        # One write for the batch: a crash can tear only its last line, never an earlier one.
        data = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries).encode("utf-8")
        created = not self.journal_path.exists()
        fd = os.open(self.journal_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                # A writer died mid-line: end that fragment so this entry starts on its own line.
                data = b"\n" + data
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
            st = os.fstat(fd)
            end = st.st_size
        finally:
            os.close(fd)
        if created:
            fsync_dir(self.dir)
        # Everything up to `end` is now known: this entry and whatever _refresh read before it.
        self._offset = end
        self._journal_entries += len(entries)
        self._journal_ino = (st.st_ino, st.st_dev)

    def _maybe_compact(self) -> None:
        if self._journal_entries > COMPACT_SLACK + len(self._data):
            self._compact()

    def _compact(self) -> None:
        doc = {"schema": SCHEMA, "corrections": {k: v.to_dict() for k, v in sorted(self._data.items())}}
        atomic_write_json(self.snapshot_path, doc)
        atomic_write_text(self.journal_path, "")
        self._snap_id = _file_id(self.snapshot_path)
        jid = _file_id(self.journal_path)
        self._journal_ino = jid[:2] if jid else None
        self._offset = 0
        self._journal_entries = 0
