"""Reading records out of files: JSONL, a JSON array, or an array nested in a JSON document.

Every record that cannot be used yields a `Diagnostic` ("path:line: reason") and is skipped; every
good one is kept, with the line it starts on.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# A single line past this is almost certainly a broken export (a whole file on one line, a binary
# blob); refusing it keeps memory bounded and the message clear.
MAX_LINE_BYTES = 8 * 1024 * 1024

BOM = b"\xef\xbb\xbf"
_BOM = BOM
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


def jsonl_records(path: Path, diags: list[Diagnostic]) -> Iterator[tuple[int, Any]]:
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


def array_records(
    path: Path, text: str, diags: list[Diagnostic], start: int | None = None
) -> Iterator[tuple[int, Any]]:
    """The elements of the JSON array at offset `start` (default: the first `[`), with their lines."""
    decoder = json.JSONDecoder()
    # Bytes that are not UTF-8 were decoded as lone surrogates: only the elements holding one are
    # dropped, instead of the whole file.
    bad = [m.start() for m in _BAD_BYTES.finditer(text)]
    pos = (text.index("[") if start is None else start) + 1
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


def read_text(path: Path, diags: list[Diagnostic]) -> str:
    """A whole file as text; bytes that are not UTF-8 become lone surrogates for `array_records`."""
    raw = path.read_bytes()
    if raw.startswith(BOM):
        raw = raw[3:]
        diags.append(Diagnostic(path, 1, "UTF-8 byte-order mark at start of file (ignored)", "bom", "warning"))
    return raw.decode("utf-8", errors="surrogateescape")


_WS = " \t\r\n"


def _skip_ws(text: str, pos: int) -> int:
    n = len(text)
    while pos < n and text[pos] in _WS:
        pos += 1
    return pos


def find_array(text: str, keys: tuple[str, ...]) -> int | None:
    """Offset of the `[` of the array at `keys` (e.g. ("results", "results")) in a JSON document."""
    pos = find_value(text, keys)
    return pos if pos is not None and text[pos] == "[" else None


def value_at(text: str, keys: tuple[str, ...]) -> Any:
    """The value at `keys` in a JSON document, decoding nothing past it; None when absent."""
    pos = find_value(text, keys)
    if pos is None:
        return None
    try:
        return _DECODER.raw_decode(text, pos)[0]
    except json.JSONDecodeError:
        return None


def find_value(text: str, keys: tuple[str, ...]) -> int | None:
    """Offset of the value at `keys` in a JSON document.

    Walks the document's structure, decoding only the values it passes over, so the elements of
    the array can then be read one by one with their line numbers (a bad element costs only itself).
    """
    pos = _skip_ws(text, 0)
    for key in keys:
        if pos >= len(text) or text[pos] != "{":
            return None
        pos += 1
        while True:
            pos = _skip_ws(text, pos)
            if pos >= len(text) or text[pos] == "}":
                return None
            try:
                k, pos = _DECODER.raw_decode(text, pos)
                pos = _skip_ws(text, pos)
                if text[pos] != ":":
                    return None
                pos = _skip_ws(text, pos + 1)
                if k == key:
                    break
                _, pos = _DECODER.raw_decode(text, pos)
            except (json.JSONDecodeError, IndexError):
                return None
            pos = _skip_ws(text, pos)
            if pos < len(text) and text[pos] == ",":
                pos += 1
    return pos if pos < len(text) else None


def document_records(path: Path, diags: list[Diagnostic]) -> Iterator[tuple[int, Any]] | None:
    """The records of a pretty-printed JSON document: its first top-level array of objects.

    None when the file is not one pretty-printed document (whose first line is a lone `{`).
    """
    with open(path, "rb") as fh:
        first = fh.readline().strip().lstrip(BOM)
    if first != b"{":
        # JSONL has a whole object on its first line (or a broken one, which costs only that line).
        return None
    text = read_text(path, diags)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        diags.append(Diagnostic(path, exc.lineno, f"not valid JSON ({exc.msg} at column {exc.colno})", "not_json"))
        return iter(())
    key = (
        next((k for k, v in doc.items() if isinstance(v, list) and v and all(isinstance(x, dict) for x in v[:5])), None)
        if isinstance(doc, dict)
        else None
    )
    if key is None:
        diags.append(Diagnostic(path, 1, "a JSON document with no top-level list of records", "not_json"))
        return iter(())
    return array_records(path, text, diags, find_array(text, (key,)))
