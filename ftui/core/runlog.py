"""Reading a graded run log: streaming, forgiving of bad lines, loud about each one.

A run log is JSONL (one object a line) or a JSON array. Every line that cannot be used yields a
`Diagnostic` ("path:line: reason") and is skipped; every good line is kept.
"""

from __future__ import annotations

import bisect
import gc
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftui.core.errors import InputError
from ftui.core.workspace import Fields, Workspace

# A single line past this is almost certainly a broken export (a whole file on one line, a binary
# blob); refusing it keeps memory bounded and the message clear.
MAX_LINE_BYTES = 8 * 1024 * 1024

_BOM = b"\xef\xbb\xbf"
_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class Diagnostic:
    path: Path
    line: int
    reason: str
    kind: str  # short category for the summary, e.g. "not_json"
    level: str = "error"  # "error": the line was skipped; "warning": kept, but worth knowing

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


@dataclass(frozen=True)
class Item:
    id: str
    question: str
    answer: str
    expected: str | None
    grade: str | None
    retrieval_hit: bool | None
    label: str | None
    system_prompt: str | None
    evidence_text: str | None
    evidence_files: tuple[Any, ...]
    prompt: str | None
    task: str | None
    line: int
    source: Path
    reason: str | None = None  # the grader's explanation, when the log has one


@dataclass
class RunLog:
    path: Path
    items: list[Item] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # Whether any kept line carried the retrieval field: without it every non-passing item counts
    # as the model's failure, and the UI must say so.
    has_retrieval: bool = False
    _by_id: dict[str, Any] | None = None

    @property
    def by_id(self) -> dict[str, Item]:
        if self._by_id is None:
            self._by_id = {it.id: it for it in self.items}
        return self._by_id

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.level == "error"]

    @property
    def summary(self) -> dict[str, Any]:
        skipped = Counter(d.kind for d in self.diagnostics if d.level == "error")
        warned = Counter(d.kind for d in self.diagnostics if d.level == "warning")
        return {
            "path": str(self.path),
            "kept": len(self.items),
            "skipped": sum(skipped.values()),
            "skipped_by_reason": dict(skipped),
            "warnings_by_reason": dict(warned),
        }

    def summary_line(self) -> str:
        s = self.summary
        parts = [f"{s['kept']} item{'' if s['kept'] == 1 else 's'} kept"]
        if s["skipped"]:
            reasons = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(s["skipped_by_reason"].items()))
            parts.append(f"{s['skipped']} line{'' if s['skipped'] == 1 else 's'} skipped ({reasons})")
        return f"{self.path.name}: " + "; ".join(parts)


class _Bad(Exception):
    def __init__(self, kind: str, reason: str):
        self.kind = kind
        self.reason = reason


def _text(obj: dict[str, Any], key: str, required: bool = False, json_ok: bool = False) -> str | None:
    if key not in obj or obj[key] is None:
        if required:
            raise _Bad("missing_field", f"missing field `{key}`")
        return None
    v = obj[key]
    if isinstance(v, str):
        return v
    if json_ok and isinstance(v, (dict, list)):
        # Structured expected answers are common (JSON outputs); graders compare them as JSON text.
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (int, float)) and not isinstance(v, bool) and json_ok:
        return str(v)
    raise _Bad("wrong_type", f"field `{key}` must be text, got {type(v).__name__}")


_new = object.__new__


def _to_item(obj: Any, f: Fields, line: int, source: Path) -> Item:
    # Hot path (every line of a 100k-row log): plain type checks inline, the slow `_text` only for
    # values that are not already text, and the instance built without the frozen dataclass's
    # per-field object.__setattr__ calls (same fields, same equality and hash).
    if type(obj) is not dict and not isinstance(obj, dict):
        raise _Bad("not_object", f"expected a JSON object, got {type(obj).__name__}")
    get = obj.get
    rid = get(f.question_id)
    if rid is None or rid == "":
        raise _Bad("missing_id", f"missing id field `{f.question_id}`")
    if type(rid) is not str:
        if isinstance(rid, bool) or not isinstance(rid, (str, int)):
            raise _Bad(
                "wrong_type", f"field `{f.question_id}` must be text or a whole number, got {type(rid).__name__}"
            )
        rid = str(rid)
    hit = get(f.retrieval_hit)
    if hit is not None and hit is not True and hit is not False:
        raise _Bad("wrong_type", f"field `{f.retrieval_hit}` must be true/false, got {json.dumps(hit)[:40]}")
    files = get(f.evidence_files)
    if files is None:
        files_t: tuple[Any, ...] = ()
    elif type(files) is list and all(type(x) is str for x in files):
        files_t = tuple(files)
    elif isinstance(files, str):
        files_t = (files,)
    else:
        raise _Bad("wrong_type", f"field `{f.evidence_files}` must be a list of paths")
    grade = get(f.grade)
    if grade is not None and type(grade) is not str:
        if isinstance(grade, bool):
            grade = "correct" if grade else "incorrect"
        else:
            raise _Bad("wrong_type", f"field `{f.grade}` must be text, got {type(grade).__name__}")
    question = get(f.question)
    if type(question) is not str:
        question = _text(obj, f.question) or ""
    answer = get(f.answer)
    if type(answer) is not str:
        answer = _text(obj, f.answer, json_ok=True) or ""
    expected = get(f.expected_answer)
    if expected is not None and type(expected) is not str:
        expected = _text(obj, f.expected_answer, json_ok=True)
    label = get(f.failure_label)
    if label is not None and type(label) is not str:
        label = _text(obj, f.failure_label)
    system_prompt = get(f.system_prompt)
    if system_prompt is not None and type(system_prompt) is not str:
        system_prompt = _text(obj, f.system_prompt)
    evidence_text = get(f.evidence_text)
    if evidence_text is not None and type(evidence_text) is not str:
        evidence_text = _text(obj, f.evidence_text)
    prompt = get(f.prompt)
    if prompt is not None and type(prompt) is not str:
        prompt = _text(obj, f.prompt)
    task = get(f.task)
    if task is not None and type(task) is not str:
        task = _text(obj, f.task)
    reason = get(f.grade_reason)
    if reason is not None and type(reason) is not str:
        reason = _text(obj, f.grade_reason, json_ok=True)
    item = _new(Item)
    item.__dict__.update(
        id=rid,
        question=question,
        answer=answer,
        expected=expected,
        grade=grade,
        retrieval_hit=hit,
        label=label or None,
        system_prompt=system_prompt,
        evidence_text=evidence_text,
        evidence_files=files_t,
        prompt=prompt,
        task=task or None,
        line=line,
        source=source,
        reason=reason or None,
    )
    return item


def _jsonl_records(path: Path, diags: list[Diagnostic]) -> Iterator[tuple[int, Any]]:
    crlf_seen = False
    raw_decode = _DECODER.raw_decode
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if lineno == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
                diags.append(Diagnostic(path, 1, "UTF-8 byte-order mark at start of file (ignored)", "bom", "warning"))
            if len(raw) > MAX_LINE_BYTES:
                mb = len(raw) / (1024 * 1024)
                diags.append(
                    Diagnostic(
                        path,
                        lineno,
                        f"line is {mb:.1f} MB, over the {MAX_LINE_BYTES // (1024 * 1024)} MB limit",
                        "too_long",
                    )
                )
                continue
            if raw.endswith(b"\r\n") and not crlf_seen:
                crlf_seen = True
                diags.append(Diagnostic(path, lineno, "Windows (CRLF) line endings (accepted)", "crlf", "warning"))
            stripped = raw.strip()
            if not stripped:
                continue
            try:
                text = stripped.decode("utf-8")
            except UnicodeDecodeError as exc:
                diags.append(Diagnostic(path, lineno, f"invalid UTF-8 at byte {exc.start}", "invalid_utf8"))
                continue
            try:
                # raw_decode + an end check is json.loads without its per-call wrapper and regex.
                obj, end = raw_decode(text)
                if end != len(text):
                    raise json.JSONDecodeError("Extra data", text, end)
            except json.JSONDecodeError as exc:
                diags.append(Diagnostic(path, lineno, f"not valid JSON ({exc.msg} at column {exc.colno})", "not_json"))
                continue
            yield lineno, obj


_BAD_BYTES = re.compile("[\udc80-\udcff]")


def _array_records(path: Path, text: str, diags: list[Diagnostic]) -> Iterator[tuple[int, Any]]:
    decoder = json.JSONDecoder()
    # Bytes that are not UTF-8 were decoded as lone surrogates: only the elements holding one are
    # dropped, instead of the whole file.
    bad = [m.start() for m in _BAD_BYTES.finditer(text)]
    pos = text.index("[") + 1
    n = len(text)
    # Line numbers are counted incrementally: counting from the start for every element would
    # make a large array quadratic.
    line, counted = 1, 0
    while True:
        while pos < n and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= n:
            diags.append(Diagnostic(path, text.count("\n", 0, n) + 1, "JSON array is not closed with ]", "not_json"))
            return
        if text[pos] == "]":
            return
        line += text.count("\n", counted, pos)
        counted = pos
        try:
            obj, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            # Exports are usually indented, one element starting per line at the same column:
            # skip to the next line that starts an element at that column and carry on.
            col = pos - (text.rfind("\n", 0, pos) + 1)
            nxt = re.compile(r"\n" + re.escape(text[pos - col : pos]) + r"[{\[]").search(text, max(exc.pos, pos + 1))
            if col == 0 or nxt is None:
                diags.append(
                    Diagnostic(
                        path,
                        exc.lineno,
                        f"not valid JSON ({exc.msg} at column {exc.colno}); rest of the array skipped",
                        "not_json",
                    )
                )
                return
            resume = nxt.start() + 1 + col
            resume_line = line + text.count("\n", pos, resume)
            diags.append(
                Diagnostic(
                    path,
                    exc.lineno,
                    f"not valid JSON ({exc.msg} at column {exc.colno}); skipped to line {resume_line}",
                    "not_json",
                )
            )
            pos = resume
            continue
        if bad and _has_bad(bad, pos, end):
            diags.append(Diagnostic(path, line, "invalid UTF-8 in this element", "invalid_utf8"))
        else:
            yield line, obj
        pos = end


def _has_bad(bad: list[int], start: int, end: int) -> bool:
    i = bisect.bisect_left(bad, start)
    return i < len(bad) and bad[i] < end


def read_items(path: Path | str, fields: Fields = Fields()) -> RunLog:
    """Read every usable item of a run log or benchmark file; never raises on bad content."""
    # Parsing allocates hundreds of thousands of acyclic objects; the cyclic collector would run
    # over them again and again (about a third of the load time on a 100k-row log) and find nothing.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _read_items(path, fields)
    finally:
        if gc_was_enabled:
            gc.enable()


def _read_items(path: Path | str, fields: Fields) -> RunLog:
    path = Path(path)
    log = RunLog(path=path)
    diags = log.diagnostics
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise InputError(path, None, exc.strerror or str(exc)) from None
    if not head.strip(b" \t\r\n" + _BOM):
        diags.append(Diagnostic(path, 1, "file is empty: no items", "empty_file"))
        return log
    if head.lstrip(_BOM + b" \t\r\n").startswith(b"["):
        raw = path.read_bytes()
        if raw.startswith(_BOM):
            raw = raw[3:]
            diags.append(Diagnostic(path, 1, "UTF-8 byte-order mark at start of file (ignored)", "bom", "warning"))
        text = raw.decode("utf-8", errors="surrogateescape")
        records = _array_records(path, text, diags)
    else:
        records = _jsonl_records(path, diags)
    seen: dict[str, int] = {}
    hit_field = fields.retrieval_hit
    for lineno, obj in records:
        try:
            item = _to_item(obj, fields, lineno, path)
        except _Bad as bad:
            diags.append(Diagnostic(path, lineno, bad.reason, bad.kind))
            continue
        first = seen.get(item.id)
        if first is not None:
            diags.append(
                Diagnostic(
                    path, lineno, f"duplicate id {item.id!r} (first at line {first}); kept the first", "duplicate_id"
                )
            )
            continue
        seen[item.id] = lineno
        if not log.has_retrieval and hit_field in obj:
            log.has_retrieval = True
        log.items.append(item)
    return log


def load_run_log(ws: Workspace) -> RunLog:
    return read_items(ws.run_log, ws.fields)


def load_benchmark(ws: Workspace) -> RunLog:
    """The benchmark: the separate benchmark file when the workspace names one, else the run log."""
    return read_items(ws.benchmark or ws.run_log, ws.fields)
