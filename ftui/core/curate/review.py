"""The review round trip: failures out to a JSONL file for hand editing, corrections back in.

The file has the seed's fields, so a reviewer can use any editor and the team's existing scripts
still read it. Importing merges with the corrections already saved: an empty `corrected_output`
leaves an item alone, the same text is a no-op, and different text from an existing correction is
a conflict that is reported and kept as it was unless forced.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftui.core.base.errors import FtuiError, InputError
from ftui.core.base.fsutil import atomic_write_jsonl
from ftui.core.curate.clusters import ClusterReport
from ftui.core.curate.corrections import CorrectionStore
from ftui.core.logs.items import Item, RunLog

REVIEW_FIELDS = ("question_id", "question", "evidence_files", "original_answer", "failure_label", "corrected_output")
_BOM = b"\xef\xbb\xbf"


def review_row(item: Item, cluster: str | None = None) -> dict[str, Any]:
    # `cluster`: the item's cluster now (discovered or edited), which the label field may not say.
    return {
        "question_id": item.id,
        "question": item.question,
        "evidence_files": list(item.evidence_files),
        "original_answer": item.answer,
        "failure_label": cluster or item.label or "",
        "corrected_output": "",
    }


def items_for_review(report: ClusterReport, cluster: str | None = None, exclude: Iterable[str] = ()) -> list[Item]:
    """Model-attributed failures, cluster by cluster (largest first), optionally one cluster only."""
    skip = set(exclude)
    if cluster is not None:
        c = report.by_label(cluster)
        if c is None:
            known = ", ".join(x.label for x in report.clusters) or "none"
            raise FtuiError(f"no cluster {cluster!r} (clusters: {known})")
        groups = [c]
    else:
        groups = list(report.clusters)
    return [it for c in groups for it in c.items if it.id not in skip]


def export_review(path: Path | str, items: Iterable[Item], clusters: dict[str, str] | None = None) -> int:
    rows = [review_row(it, (clusters or {}).get(it.id)) for it in items]
    atomic_write_jsonl(path, rows)
    return len(rows)


@dataclass
class ImportResult:
    path: Path
    applied: list[str] = field(default_factory=list)  # new or changed corrections written
    overwritten: list[str] = field(default_factory=list)  # conflicts replaced because of --force
    unchanged: list[str] = field(default_factory=list)  # same text as the saved correction
    untouched: list[str] = field(default_factory=list)  # empty corrected_output
    conflicts: list[dict[str, Any]] = field(default_factory=list)  # {"id", "line", "saved", "imported"}
    problems: list[str] = field(default_factory=list)  # "file:line: reason" for unusable lines
    notes: list[str] = field(default_factory=list)  # usable lines worth a warning

    @property
    def ok(self) -> bool:
        return not self.conflicts and not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "applied": self.applied,
            "overwritten": self.overwritten,
            "unchanged": self.unchanged,
            "untouched": self.untouched,
            "conflicts": self.conflicts,
            "problems": self.problems,
            "notes": self.notes,
        }


def _review_lines(path: Path, result: ImportResult) -> Iterator[tuple[int, Any]]:
    try:
        fh = open(path, "rb")  # noqa: SIM115 (opened apart from `with` so the error names the file)
    except OSError as exc:
        raise InputError(path, None, exc.strerror or str(exc)) from None
    with fh:
        for lineno, raw in enumerate(fh, start=1):
            if lineno == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
            raw = raw.strip()
            if not raw:
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                result.problems.append(f"{path}:{lineno}: invalid UTF-8 at byte {exc.start}")
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                result.problems.append(f"{path}:{lineno}: not valid JSON ({exc.msg} at column {exc.colno})")
                continue
            yield lineno, obj


def import_review(path: Path | str, log: RunLog, store: CorrectionStore, force: bool = False) -> ImportResult:
    path = Path(path)
    result = ImportResult(path=path)
    saved = store.all()
    by_id = log.by_id
    seen: dict[str, int] = {}
    changes: list[tuple[Item, str, str]] = []
    for lineno, obj in _review_lines(path, result):
        where = f"{path}:{lineno}"
        if not isinstance(obj, dict):
            result.problems.append(f"{where}: expected a JSON object, got {type(obj).__name__}")
            continue
        qid = obj.get("question_id")
        if qid is None or qid == "" or isinstance(qid, bool) or not isinstance(qid, (str, int)):
            result.problems.append(f"{where}: missing `question_id`")
            continue
        qid = str(qid)
        out = obj.get("corrected_output", "")
        if out is None:
            out = ""
        if not isinstance(out, str):
            result.problems.append(f"{where}: `corrected_output` must be text, got {type(out).__name__}")
            continue
        if qid in seen:
            result.problems.append(f"{where}: duplicate question_id {qid!r} (first at line {seen[qid]}); ignored")
            continue
        seen[qid] = lineno
        item = by_id.get(qid)
        if item is None:
            result.problems.append(f"{where}: unknown question_id {qid!r} (not in the run log)")
            continue
        if not out.strip():
            result.untouched.append(qid)
            continue
        orig = obj.get("original_answer")
        if isinstance(orig, str) and orig != item.answer:
            result.notes.append(f"{where}: {qid}: the run log's answer changed since this file was exported")
        prev = saved.get(qid)
        if prev is not None and prev.output == out:
            # Same text, but written against an answer the run log no longer has: a file reviewed
            # against the current answer re-affirms it, so it is saved again (fresh hash) below.
            reaffirmed = prev.is_stale(item) and orig == item.answer
            if prev.status == "corrected" and not reaffirmed:
                result.unchanged.append(qid)
                continue
        elif prev is not None and prev.output.strip():
            if not force:
                result.conflicts.append({"id": qid, "line": lineno, "saved": prev.output, "imported": out})
                continue
            result.overwritten.append(qid)
        changes.append((item, out, "corrected"))
        result.applied.append(qid)
    store.save_many(changes)
    return result
