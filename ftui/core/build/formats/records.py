"""Raw records of a dataset file with their lines: JSONL, a JSON array or a parquet table.

Parquet goes through pyarrow, imported only when such a file is read or written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ftui.core.base.errors import InputError
from ftui.core.build.formats.names import FormatError, Problem

_BOM = "\ufeff"


def read_records(path: Path | str) -> tuple[list[tuple[int, Any]], list[Problem]]:
    """(line, object) for each record of a JSONL file or a JSON array; bad lines become problems."""
    path = Path(path)
    if path.suffix == ".parquet":
        return _parquet_records(path), []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(path, None, f"not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise InputError(path, None, exc.strerror or str(exc)) from None
    if text.startswith(_BOM):
        text = text[1:]
    problems: list[Problem] = []
    if not text.strip():
        return [], [Problem(1, "empty_file", "file is empty: no examples")]
    stripped = text.lstrip()
    if stripped.startswith("["):
        return _array_records(text, problems), problems
    records = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append((lineno, json.loads(line)))
        except json.JSONDecodeError as exc:
            problems.append(Problem(lineno, "not_json", f"not valid JSON ({exc.msg} at column {exc.colno})"))
    return records, problems


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise FormatError(
            "parquet files need pyarrow (installed with the training extras: pip install 'ftui[train]')"
        ) from None
    return pyarrow


def _drop_nulls(obj: Any) -> Any:
    # Parquet gives every struct the union of all keys, absent ones as null: drop them again.
    if isinstance(obj, dict):
        return {k: _drop_nulls(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_drop_nulls(v) for v in obj]
    return obj


def _parquet_records(path: Path) -> list[tuple[int, Any]]:
    pa = _pyarrow()
    try:
        table = pa.parquet.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(path, None, f"not a readable parquet file ({exc})") from None
    # A parquet row has no line; its 1-based row number stands in for one.
    return [(i + 1, _drop_nulls(r)) for i, r in enumerate(table.to_pylist())]


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> None:
    import os
    import tempfile

    pa = _pyarrow()
    try:
        table = pa.Table.from_pylist(rows)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise FormatError(f"{path}: these rows do not fit one parquet schema ({exc}); write JSONL instead") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        pa.parquet.write_table(table, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _array_records(text: str, problems: list[Problem]) -> list[tuple[int, Any]]:
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1
    out: list[tuple[int, Any]] = []
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text):
            problems.append(Problem(text.count("\n") + 1, "not_json", "JSON array is not closed with ]"))
            return out
        if text[pos] == "]":
            return out
        line = text.count("\n", 0, pos) + 1
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            problems.append(Problem(exc.lineno, "not_json", f"not valid JSON ({exc.msg}); rest of the array skipped"))
            return out
        out.append((line, obj))
