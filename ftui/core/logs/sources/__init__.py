"""Eval tools' own files, read as each tool writes them, into ftui's items.

A source turns a tool's file into records with ftui's field names (`question_id`, `prompt`,
`answer`, `expected_answer`, `grade`, `grade_reason`, `task`, `failure_label`, ...) and keeps the
tool's own record under `record`, so a workspace can still map a field of its own
(`fields: {failure_label: record.doc.subject}`). Each source presets the pass rule its tool
means; `ftui init` writes both into ftui.yaml.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftui.core.base.errors import FtuiError
from ftui.core.logs.passrule import PassRuleConfig
from ftui.core.logs.records import Diagnostic

Records = Iterator[tuple[Path, int, Any]]
# A tool's record as ftui's fields, or None and why the record is not one of the tool's.
Converted = tuple[dict[str, Any] | None, str]


def mapping(v: Any) -> dict[str, Any]:
    """`v` when it is a JSON object, else an empty one: a tool's optional sub-objects read alike."""
    return v if isinstance(v, dict) else {}


def sequence(v: Any) -> list[Any]:
    """`v` when it is a JSON array, else an empty one."""
    return v if isinstance(v, list) else []


@dataclass(frozen=True)
class Source:
    name: str
    title: str
    patterns: tuple[str, ...]  # a folder's files of this tool
    rule: PassRuleConfig
    records: Callable[[Path, list[Diagnostic]], Records]
    # Whether a file (its first record, or the document's top level) is this tool's.
    looks_like: Callable[[Any], bool]


def get_source(name: str) -> Source:
    if name not in SOURCES:
        raise FtuiError(f"unknown source {name!r}; one of {', '.join(SOURCES)}")
    return SOURCES[name]


def preset_rule(name: str | None) -> PassRuleConfig | None:
    return SOURCES[name].rule if name in SOURCES else None


def first_record(path: Path) -> Any:
    """The first record of a file as a sniffer sees it: a zip's name list, a document, or a JSONL line."""
    import json

    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                return {"__zip__": zf.namelist()}
        except zipfile.BadZipFile:
            return None
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if not text:
        return None
    if text.startswith("{"):
        first_line = text.split("\n", 1)[0].strip()
        try:
            return json.loads(first_line)
        except json.JSONDecodeError:
            pass
        try:
            return json.loads(path.read_text(encoding="utf-8", errors="replace"))
        except (json.JSONDecodeError, OSError):
            return None
    if text.startswith("["):
        try:
            doc = json.loads(path.read_text(encoding="utf-8", errors="replace"))
        except (json.JSONDecodeError, OSError):
            return None
        return doc[0] if isinstance(doc, list) and doc else None
    return None


def detect(path: Path) -> str | None:
    """The tool that wrote this file, or None for a plain log."""
    rec = first_record(path)
    if rec is None:
        return None
    for src in SOURCES.values():
        try:
            if src.looks_like(rec):
                return src.name
        except (AttributeError, TypeError, KeyError):
            continue
    return None


def not_format(path: Path, tool: str, why: str) -> Diagnostic:
    return Diagnostic(path, 1, f"not {tool}'s format: {why}", "not_source_format")


# The tool modules import Source and the helpers above, so they are imported last.
from ftui.core.logs.sources import inspect_log, lm_eval, mt_bench, openai_evals, promptfoo  # noqa: E402

SOURCES: dict[str, Source] = {
    m.SOURCE.name: m.SOURCE for m in (lm_eval, promptfoo, inspect_log, openai_evals, mt_bench)
}
