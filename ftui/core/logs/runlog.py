"""Reading graded run logs: streaming, forgiving of bad lines, loud about each one.

A run log is JSONL (one object a line), a JSON array, or an eval tool's own files (`source:`, see
ftui/core/sources). Fields may be dotted paths into nested records; a prompt may be a message list.
Several files are several runs of one benchmark: the same question id in each is one question
with several attempts. Every line that cannot be used yields a `Diagnostic` ("path:line: reason")
and is skipped; every good line is kept.

Which attempt stands for a question (its answer, grade and prompt, the DPO rejected side): the
last failing attempt in file order, else the last attempt. File order is the order `run_log`
lists them, a glob's or a folder's files sorted by name (dated names sort oldest first), so the
original answer is the most recent failure.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from ftui.core.base import toolcalls
from ftui.core.base.chat import as_conversation, last_user, split_final_answer, system_of
from ftui.core.base.errors import InputError
from ftui.core.logs.fieldpath import MISS, PathMissing, compile_getter, compile_path, resolve
from ftui.core.logs.fields import Fields
from ftui.core.logs.items import DEFAULT_RULE, Item, RunLog
from ftui.core.logs.passrule import PassRule
from ftui.core.logs.records import (
    BOM,
    MAX_LINE_BYTES,
    Diagnostic,
    array_records,
    document_records,
    jsonl_records,
    read_text,
)

__all__ = ["MAX_LINE_BYTES", "Diagnostic", "load_benchmark", "load_run_log", "read_items"]


class _Bad(Exception):
    def __init__(self, kind: str, reason: str):
        self.kind = kind
        self.reason = reason


def _text(obj: dict[str, Any], key: str, required: bool = False, json_ok: bool = False, v: Any = None) -> str | None:
    if v is None:
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

# Fields without which a line is no item: a mapped path that does not resolve skips the line. For
# the others it is a warning and the item is kept without that field.
_HARD = frozenset({"question_id", "question", "answer", "grade", "prompt"})
_TYPES = {"text": (str,), "number": (int, float), "boolean": (bool,)}
# The positions of the fields in the tuple the compiled getter returns (`vals[i]` in `item`).
_ORDER = (
    "question_id",
    "question",
    "answer",
    "expected_answer",
    "grade",
    "retrieval_hit",
    "failure_label",
    "system_prompt",
    "evidence_text",
    "evidence_files",
    "prompt",
    "task",
    "grade_reason",
    "tools",
)


class _Reader:
    """One workspace's field mapping and pass rule, compiled once for every line of every file."""

    def __init__(self, fields: Fields, rule: PassRule):
        self.rule = rule
        self.specs: dict[str, tuple[str, tuple[str | int, ...] | None]] = {}
        for name in Fields.__dataclass_fields__:
            spec = getattr(fields, name)
            self.specs[name] = (spec, compile_path(spec))
        self.grade_types = tuple(t for k in rule.kinds() for t in _TYPES.get(k, ()))
        self.get_all = compile_getter([self.specs[n][0] for n in _ORDER])

    def value(self, obj: dict[str, Any], name: str, soft: list[str]) -> Any:
        spec, segs = self.specs[name]
        v = obj.get(spec)
        if v is not None or segs is None or spec in obj:
            return v
        try:
            return resolve(obj, spec, segs)
        except PathMissing as exc:
            if name in _HARD:
                raise _Bad("missing_path", str(exc)) from None
            soft.append(str(exc))
            return None

    def item(self, obj: Any, line: int, source: Path, soft: list[str]) -> Item:
        # Hot path (every line of a million-row log): plain type checks inline, the slow `_text`
        # only for values that are not already text, and the instance built without the frozen
        # dataclass's per-field object.__setattr__ calls (same fields, same equality and hash).
        if type(obj) is not dict and not isinstance(obj, dict):
            raise _Bad("not_object", f"expected a JSON object, got {type(obj).__name__}")
        val = self.value
        specs = self.specs
        vals = self.get_all(obj)
        rid = vals[0]
        if rid is MISS:
            rid = val(obj, "question_id", soft)
        if rid is None or rid == "":
            raise _Bad("missing_id", f"missing id field `{specs['question_id'][0]}`")
        if type(rid) is not str:
            if isinstance(rid, bool) or not isinstance(rid, (str, int)):
                raise _Bad(
                    "wrong_type",
                    f"field `{specs['question_id'][0]}` must be text or a whole number, got {type(rid).__name__}",
                )
            rid = str(rid)
        hit = vals[5]
        if hit is MISS:
            hit = val(obj, "retrieval_hit", soft)
        if hit is not None and hit is not True and hit is not False:
            raise _Bad(
                "wrong_type", f"field `{specs['retrieval_hit'][0]}` must be true/false, got {json.dumps(hit)[:40]}"
            )
        files = vals[9]
        if files is MISS:
            files = val(obj, "evidence_files", soft)
        if files is None:
            files_t: tuple[Any, ...] = ()
        elif type(files) is list and all(type(x) is str for x in files):
            files_t = tuple(files)
        elif isinstance(files, str):
            files_t = (files,)
        else:
            raise _Bad("wrong_type", f"field `{specs['evidence_files'][0]}` must be a list of paths")
        grade = vals[4]
        if grade is MISS:
            grade = val(obj, "grade", soft)
        if grade is not None and not isinstance(grade, self.grade_types):
            if isinstance(grade, (list, dict)):
                raise _Bad(
                    "wrong_type",
                    f"field `{specs['grade'][0]}` must be a grade (text, a number or true/false), "
                    f"got {type(grade).__name__}",
                )
            problem = self.rule.problem(grade)
            if problem:
                raise _Bad("wrong_type", f"field `{specs['grade'][0]}`: {problem}")
        conv = None
        prompt = vals[10]
        if prompt is MISS:
            prompt = val(obj, "prompt", soft)
        if prompt is not None and type(prompt) is not str:
            conv = as_conversation(prompt)
            prompt = _text(obj, specs["prompt"][0], v=prompt) if conv is None else None
        question = vals[1]
        if question is MISS:
            question = val(obj, "question", soft)
        if type(question) is not str:
            if question is not None and (c := as_conversation(question)) is not None:
                conv = conv or c
                question = ""
            else:
                question = _text(obj, specs["question"][0], v=question) or ""
        answer = vals[2]
        if answer is MISS:
            answer = val(obj, "answer", soft)
        if type(answer) is not str:
            if answer is not None and (calls := _calls_answer(answer)) is not None:
                answer = calls
            elif answer is not None and (c := as_conversation(answer)) is not None:
                answer = split_final_answer(c)[1] or ""
            else:
                answer = _text(obj, specs["answer"][0], json_ok=True, v=answer) or ""
        system_prompt = vals[7]
        if system_prompt is MISS:
            system_prompt = val(obj, "system_prompt", soft)
        if conv is not None:
            conv, final = split_final_answer(conv)
            if not answer and final is not None:
                answer = final
            if not question:
                question = last_user(conv)
            if system_prompt is None:
                system_prompt = system_of(conv)
        expected = vals[3]
        if expected is MISS:
            expected = val(obj, "expected_answer", soft)
        if expected is not None and type(expected) is not str:
            expected = _text(obj, specs["expected_answer"][0], json_ok=True, v=expected)
        label = vals[6]
        if label is MISS:
            label = val(obj, "failure_label", soft)
        if label is not None and type(label) is not str:
            label = _text(obj, specs["failure_label"][0], v=label)
        if system_prompt is not None and type(system_prompt) is not str:
            system_prompt = _text(obj, specs["system_prompt"][0], v=system_prompt)
        evidence_text = vals[8]
        if evidence_text is MISS:
            evidence_text = val(obj, "evidence_text", soft)
        if evidence_text is not None and type(evidence_text) is not str:
            evidence_text = _text(obj, specs["evidence_text"][0], v=evidence_text)
        task = vals[11]
        if task is MISS:
            task = val(obj, "task", soft)
        if task is not None and type(task) is not str:
            task = _text(obj, specs["task"][0], json_ok=True, v=task)
        note = vals[12]
        if note is MISS:
            note = val(obj, "grade_reason", soft)
        if note is not None and type(note) is not str:
            note = _text(obj, specs["grade_reason"][0], json_ok=True, v=note)
        tools = vals[13]
        if tools is MISS:
            tools = val(obj, "tools", soft)
        if tools is not None:
            tools, answer = _tools(tools, answer, specs["tools"][0], soft)
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
            messages=conv,
            grade_reason=note or None,
            attempts=1,
            failures=None,
            tools=tools,
        )
        return item


def _calls_answer(value: Any) -> str | None:
    """An answer logged as calls: an assistant message with tool_calls, or the tool_calls list."""
    if type(value) is dict:
        return toolcalls.message_text(value)
    if type(value) is list and value and all(type(x) is dict and "function" in x for x in value):
        calls = toolcalls.calls_from_openai(value)
        return toolcalls.call_text(calls) if calls else None
    return None


def _tools(value: Any, answer: str, spec: str, soft: list[str]) -> tuple[str | None, str]:
    """(the tools as text, the answer): a text answer that is a JSON call becomes its canonical text."""
    try:
        tools = toolcalls.normalise_tools(value)
    except toolcalls.ToolError as exc:
        soft.append(f"field `{spec}`: {exc}")
        return None, answer
    if not tools:
        return None, answer
    calls = toolcalls.parse_calls(answer)
    return toolcalls.tools_text(tools), (toolcalls.call_text(calls) if calls else answer)


def generic_records(path: Path, diags: list[Diagnostic]) -> Iterator[tuple[Path, int, Any]]:
    """ftui's own layout: JSONL, or a JSON array of records."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise InputError(path, None, exc.strerror or str(exc)) from None
    if not head.strip(b" \t\r\n" + BOM):
        diags.append(Diagnostic(path, 1, "file is empty: no items", "empty_file"))
        return
    if head.lstrip(BOM + b" \t\r\n").startswith(b"["):
        records = array_records(path, read_text(path, diags), diags)
    else:
        records = document_records(path, diags) or jsonl_records(path, diags)
    for line, obj in records:
        yield path, line, obj


def read_items(
    path: Path | str | Sequence[Path | str],
    fields: Fields | None = None,
    rule: PassRule | None = None,
    source: str | None = None,
    source_options: Mapping[str, Any] | None = None,
) -> RunLog:
    """Read every usable item of one or more run logs; never raises on bad content."""
    # Parsing allocates millions of acyclic objects; the cyclic collector would run over them
    # again and again (about a third of the load time on a large log) and find nothing.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _read_items(path, fields or Fields(), rule or DEFAULT_RULE, source, source_options)
    finally:
        if gc_was_enabled:
            gc.enable()


def _read_items(
    path: Path | str | Sequence[Path | str],
    fields: Fields,
    rule: PassRule,
    source: str | None,
    source_options: Mapping[str, Any] | None = None,
) -> RunLog:
    paths = [Path(path)] if isinstance(path, (str, Path)) else [Path(p) for p in path]
    if not paths:
        raise InputError(Path("."), None, "no run log files")
    log = RunLog(path=paths[0], paths=tuple(paths))
    diags = log.diagnostics
    reader = _Reader(fields, rule)
    make = reader.item
    passes = rule.predicate()
    hit_spec = fields.retrieval_hit
    records_of: Callable[[Path, list[Diagnostic]], Iterator[tuple[Path, int, Any]]]
    if source is None:
        records_of = generic_records
    else:
        from ftui.core.logs.sources import get_source

        records_of = get_source(source).reader(source_options)
    index: dict[str, int] = {}
    items = log.items
    n: list[int] = []
    k: list[int] = []
    soft: list[str] = []
    for p in paths:
        # In ftui's own layout an id twice in one file is a mistake; a tool's files repeat an id
        # for each epoch or repeat of a sample, and those are attempts.
        seen: dict[str, int] | None = {} if source is None else None
        for rpath, lineno, obj in records_of(p, diags):
            try:
                item = make(obj, lineno, rpath, soft)
            except _Bad as bad:
                soft.clear()
                diags.append(Diagnostic(rpath, lineno, bad.reason, bad.kind))
                continue
            if soft:
                for reason in soft:
                    diags.append(Diagnostic(rpath, lineno, f"{reason} (kept without it)", "missing_path", "warning"))
                soft.clear()
            rid = item.id
            if seen is not None:
                first = seen.get(rid)
                if first is not None:
                    diags.append(
                        Diagnostic(
                            rpath,
                            lineno,
                            f"duplicate id {rid!r} (first at line {first}); kept the first",
                            "duplicate_id",
                        )
                    )
                    continue
                seen[rid] = lineno
            if not log.has_retrieval and (item.retrieval_hit is not None or hit_spec in obj):
                log.has_retrieval = True
            failed = not passes(item.grade)
            pos = index.get(rid)
            if pos is None:
                index[rid] = len(items)
                items.append(item)
                n.append(1)
                k.append(1 if failed else 0)
                continue
            n[pos] += 1
            if failed:
                k[pos] += 1
                items[pos] = item
            elif k[pos] == 0:
                items[pos] = item
    for i, it in enumerate(items):
        d = it.__dict__
        d["attempts"] = n[i]
        d["failures"] = k[i]
    log.runs = max(n, default=1)
    return log


class LogSettings(Protocol):
    """What a workspace says about its logs (ftui.core.workspace's Workspace is one)."""

    @property
    def run_log(self) -> Path | list[str]: ...
    @property
    def run_logs(self) -> tuple[Path, ...]: ...
    @property
    def benchmark(self) -> Path | None: ...
    @property
    def fields(self) -> Fields: ...
    @property
    def rule(self) -> PassRule: ...
    @property
    def source(self) -> str | None: ...
    @property
    def source_options(self) -> Mapping[str, Any]: ...


def load_run_log(ws: LogSettings) -> RunLog:
    return read_items(ws.run_logs or ws.run_log, ws.fields, ws.rule, ws.source, ws.source_options)


def load_benchmark(ws: LogSettings) -> RunLog:
    """The benchmark: the separate benchmark file when the workspace names one, else the run log."""
    if ws.benchmark is None:
        return load_run_log(ws)
    return read_items(ws.benchmark, ws.fields, ws.rule)
