"""What the workbench knows about one workspace, kept apart from widgets so it can be tested alone.

Everything here is plain Python over `ftui.core`; the screens read it and call its methods from
workers. Loading the run log and clustering are the slow parts (a second or two at 100k rows), so
`Session.load` is meant to run in a thread.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from ftui.core.curate.progress import Progress, count_progress
from ftui.core.grade.signatures import looks_like_json
from ftui.core.workspace.workspace import Workspace

# Status names as the corrections store spells them; "pending" means no correction yet.
PENDING = "pending"
CORRECTED = "corrected"
SKIPPED = "skipped"
REVIEW = "needs_review"


def normalize_status(status: str | None) -> str:
    if not status:
        return PENDING
    s = str(status).strip().lower().replace("-", "_").replace(" ", "_")
    if s in ("review", "needs_review", "needsreview"):
        return REVIEW
    return s


def json_error(text: str) -> str | None:
    """None when `text` parses as JSON, else a short 'line:col: message'."""
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return f"line {exc.lineno} col {exc.colno}: {exc.msg}"
    return None


def apply_template(template: str, item: Any) -> str:
    """Fill `{question}`, `{answer}`, `{expected}`, `{id}`, `{label}` and `{expected.FIELD}`.

    `{expected.FIELD}` reads a field of a JSON expected answer, which is how one template covers a
    whole cluster of structured answers. Literal braces (JSON) are kept when they are not a
    placeholder, so a template can be plain JSON with a few holes in it.
    """
    values = {
        "question": item.question or "",
        "answer": item.answer or "",
        "expected": item.expected or "",
        "id": item.id,
        "label": item.label or "",
    }
    expected_obj: dict = {}
    if looks_like_json(item.expected):
        parsed = json.loads(item.expected)
        if isinstance(parsed, dict):
            expected_obj = parsed
    out = []
    i = 0
    n = len(template)
    while i < n:
        ch = template[i]
        if ch == "{":
            end = template.find("}", i + 1)
            name = template[i + 1 : end] if end > 0 else ""
            if end > 0 and name and all(c.isalnum() or c in "._" for c in name):
                if name in values:
                    out.append(values[name])
                    i = end + 1
                    continue
                if name.startswith("expected.") and name[9:]:
                    v = expected_obj.get(name[9:], "")
                    out.append(v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
                    i = end + 1
                    continue
        out.append(ch)
        i += 1
    return "".join(out)


@dataclass
class Session:
    """One open workspace: its items, clusters and corrections."""

    ws: Workspace
    items: list = field(default_factory=list)
    by_id: dict = field(default_factory=dict)
    diagnostics: list = field(default_factory=list)
    summary_line: str = ""
    report: Any = None  # ftui.core.curate.clusters.ClusterReport
    store: Any = None  # ftui.core.curate.corrections.CorrectionStore
    _status: dict = field(default_factory=dict)
    _corrections: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def load(cls, ws: Workspace) -> Session:
        from ftui.core.curate.clusters import cluster_failures
        from ftui.core.curate.corrections import CorrectionStore
        from ftui.core.logs.runlog import load_run_log

        log = load_run_log(ws)
        s = cls(ws=ws)
        s.items = log.items
        s.by_id = log.by_id
        s.diagnostics = list(log.diagnostics)
        s.summary_line = log.summary_line()
        s.report = cluster_failures(ws, log)
        s.store = CorrectionStore(ws)
        s.refresh_status()
        return s

    # -- corrections -----------------------------------------------------------------------
    # The store reads its journal under a file lock; the UI thread only ever reads this cache,
    # which the worker threads that write keep current.
    def refresh_status(self) -> None:
        found = self.store.all()
        with self._lock:
            self._corrections = dict(found)
            self._status = {c.id: normalize_status(c.status) for c in found.values()}

    def status(self, item_id: str) -> str:
        return self._status.get(item_id, PENDING)

    def correction(self, item_id: str):
        return self._corrections.get(item_id)

    def save(self, item, output: str) -> None:
        self._remember(item.id, self.store.save(item, output), CORRECTED)

    def skip(self, item, text: str | None = None) -> None:
        # Text typed before skipping stays with the item, so un-skipping later loses nothing.
        corr = self.store.save(item, text, status=SKIPPED) if text and text.strip() else self.store.skip(item)
        self._remember(item.id, corr, SKIPPED)

    def mark_review(self, item, output: str | None) -> None:
        self._remember(item.id, self.store.mark_review(item, output), REVIEW)

    def revert(self, item) -> None:
        self.store.revert(item.id)
        self._remember(item.id, None, PENDING)

    def _remember(self, item_id: str, corr, status: str) -> None:
        with self._lock:
            if corr is None:
                self._corrections.pop(item_id, None)
            else:
                self._corrections[item_id] = corr
        self.set_status(item_id, status)

    def set_status(self, item_id: str, status: str) -> None:
        with self._lock:
            if status == PENDING:
                self._status.pop(item_id, None)
            else:
                self._status[item_id] = status

    def progress(self, cluster) -> Progress:
        return count_progress((it.id for it in cluster.items), self.status)

    # -- clusters --------------------------------------------------------------------------
    @property
    def clusters(self) -> list:
        return list(self.report.clusters) if self.report is not None else []

    def cluster(self, label: str):
        for c in self.clusters:
            if c.label == label:
                return c
        return None

    def cluster_of(self, item) -> Any:
        for c in self.clusters:
            if any(it.id == item.id for it in c.items):
                return c
        return None

    @property
    def retrieval_note(self) -> str:
        if self.report is not None and not getattr(self.report, "retrieval_field_present", True):
            return "No retrieval field in this log: every non-passing item counts as a model failure."
        return ""
