"""The drafts store: `<state>/drafts/journal.jsonl`, one entry a line, the last per item id wins
(a draft, then its decision).

Drafts live here, never in the corrections store that builds read: a draft reaches training only
through `decisions.accept`, which saves it as an ordinary correction and records the decision here.
Each entry keeps where the text came from (teacher, prompt hash, time), so a postmortem can say how
many training targets were drafted and how many a person edited.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftui.core.base.errors import FtuiError
from ftui.core.base.fsutil import fsync_dir
from ftui.core.curate.corrections import now_iso

if TYPE_CHECKING:
    from ftui.core.workspace.workspace import Workspace

DRAFTS = "drafts"
JOURNAL = "journal.jsonl"

# A draft waits for a person ("draft"); the person accepts it as is, accepts it after editing, or
# rejects it. Only the first two ever become corrections.
STATUSES = ("draft", "accepted", "edited", "rejected")
DECIDED = ("accepted", "edited", "rejected")


class DraftError(FtuiError):
    """A draft that cannot be made or decided; str() says why."""


def drafts_dir(ws: Workspace) -> Path:
    return Path(ws.state.root) / DRAFTS


@dataclass(frozen=True)
class Draft:
    id: str
    cluster: str
    output: str
    passed: bool
    reason: str
    grader: str
    teacher: str
    prompt_hash: str
    created: str
    job: str = ""
    original_hash: str = ""
    status: str = "draft"
    decided: str = ""
    final_output: str | None = None  # what was accepted, when a person edited the draft
    # Why the grader's pass cannot be trusted ("" when it can): such a draft is not counted as passing.
    flag: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Draft:
        if d.get("status", "draft") not in STATUSES:
            raise ValueError(f"unknown status {d.get('status')!r}")
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in names})

    @property
    def pending(self) -> bool:
        return self.status == "draft"

    @property
    def passes(self) -> bool:
        """Passed its grader, and not by copying (see `trust.suspect`)."""
        return self.passed and not self.flag


class DraftStore:
    """The journal of drafts and decisions; safe with the drafting child and the workbench writing at once.

    Every entry is one write() of one line with O_APPEND, fsynced: writers never interleave, and a
    finished draft is on disk before the child moves on. A torn last line (a crash mid-write) is
    skipped by readers and sealed off by the next writer.
    """

    def __init__(self, ws_or_dir: Any):
        self.dir = Path(ws_or_dir) if isinstance(ws_or_dir, (str, Path)) else drafts_dir(ws_or_dir)
        self.path = self.dir / JOURNAL
        self._key: tuple[int, int, int] | None = None
        self._data: dict[str, Draft] = {}
        self.problems: list[str] = []

    def all(self) -> dict[str, Draft]:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return {}
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        if key != self._key:
            self._data, self.problems = self._read()
            self._key = key
        return dict(self._data)

    def get(self, item_id: str) -> Draft | None:
        return self.all().get(str(item_id))

    def _read(self) -> tuple[dict[str, Draft], list[str]]:
        data: dict[str, Draft] = {}
        problems: list[str] = []
        with open(self.path, "rb") as fh:
            raw = fh.read()
        lines = raw.split(b"\n")
        if not raw.endswith(b"\n"):
            lines = lines[:-1]  # still being written, or torn by a crash
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                d = Draft.from_dict(json.loads(line))
            except (ValueError, TypeError) as exc:
                problems.append(f"{self.path}:{n}: skipped unreadable entry ({exc})")
                continue
            data[d.id] = d
        return data, problems

    def append(self, drafts: Iterable[Draft]) -> None:
        data = "".join(json.dumps(d.to_dict(), ensure_ascii=False) + "\n" for d in drafts).encode("utf-8")
        if not data:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data  # a writer died mid-line: start this entry on its own line
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            fsync_dir(self.dir)

    def decide(self, drafts: Iterable[Draft], status: str, final_output: str | None = None) -> list[Draft]:
        if status not in DECIDED:
            raise DraftError(f"unknown decision {status!r}; one of {', '.join(DECIDED)}")
        out = [replace(d, status=status, decided=now_iso(), final_output=final_output) for d in drafts]
        self.append(out)
        return out
