"""The contract every eval tool's reader keeps: a `Source`, the records it yields, its helpers."""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftui.core.logs.passrule import PassRuleConfig
from ftui.core.logs.records import Diagnostic

Records = Iterator[tuple[Path, int, Any]]
# `source_options:` in ftui.yaml: which of a file's several grades, filters or sides is the item.
Options = Mapping[str, Any]
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
    # (file, diagnostics, options): the file's items. Every reader takes `options=None`.
    records: Callable[..., Records]
    # Whether a file (its first record, or the document's top level) is this tool's.
    looks_like: Callable[[Any], bool]
    # The `source_options` keys this tool reads, and what it would choose without them.
    options: tuple[str, ...] = ()
    # (files, options) -> lines for `ftui init`'s preview: what was chosen among what, and why.
    explain: Callable[[list[Path], Options], list[str]] | None = None
    # (files, options) -> what is wrong with the options for these files (one line), or None.
    check: Callable[[list[Path], Options], str | None] | None = None

    def reader(self, options: Options | None) -> Callable[[Path, list[Diagnostic]], Records]:
        """`records` with the workspace's options bound: what `read_items` calls per file."""
        if not options:
            return self.records

        def read(path: Path, diags: list[Diagnostic]) -> Records:
            return self.records(path, diags, options=options)

        return read


def nearest(name: str, valid: list[str]) -> str:
    """ " (did you mean `x`?)" for the closest valid name, or nothing."""
    import difflib

    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.4)
    return f" (did you mean `{close[0]}`?)" if close else ""


def unknown_options(src_name: str, allowed: tuple[str, ...], options: Options) -> str | None:
    bad = [k for k in options if k not in allowed]
    if not bad:
        return None
    valid = ", ".join(allowed) or "none"
    return f"source_options: {src_name} has no option `{bad[0]}`{nearest(bad[0], list(allowed))}; its options: {valid}"


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


def not_format(path: Path, tool: str, why: str) -> Diagnostic:
    return Diagnostic(path, 1, f"not {tool}'s format: {why}", "not_source_format")
