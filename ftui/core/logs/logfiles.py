"""Which files `run_log:` names: one file, several, a glob, or a folder (one file a run).

Files are taken in the order given; a glob's or a folder's matches sorted by name, which for the
eval tools' dated file names is oldest first. That order is the run order (see ftui/core/runlog).
"""

from __future__ import annotations

import glob
from pathlib import Path

from ftui.core.base.errors import ConfigError

_GLOB_CHARS = set("*?[")


def expand_run_logs(root: Path, spec: object, source: str | None, cfg_path: Path, line: int | None) -> tuple[Path, ...]:
    entries = spec if isinstance(spec, list) else [spec]
    if not entries:
        raise ConfigError(cfg_path, line, "run_log: the list is empty")
    out: list[Path] = []
    for entry in entries:
        if not isinstance(entry, str):
            raise ConfigError(cfg_path, line, f"run_log: {entry!r} is not a path")
        found = expand_one(root, entry, source)
        if not found:
            p = (root / entry).resolve()
            what = "no file matches" if _GLOB_CHARS & set(entry) else "file not found:"
            if p.is_dir():
                what = "no run log files in folder"
            raise ConfigError(cfg_path, line, f"run_log: {what} {p}")
        out.extend(f for f in found if f not in out)
    return tuple(out)


def expand_one(root: Path, entry: str, source: str | None) -> list[Path]:
    p = (root / Path(entry).expanduser()).resolve() if not Path(entry).is_absolute() else Path(entry)
    if _GLOB_CHARS & set(entry):
        return sorted(Path(m).resolve() for m in glob.glob(str(p), recursive=True) if Path(m).is_file())
    if p.is_dir():
        return folder_logs(p, source)
    return [p] if p.is_file() else []


def folder_logs(folder: Path, source: str | None) -> list[Path]:
    """A folder's run logs: the source's own file names, or every .jsonl/.json file."""
    from ftui.core.logs.sources import SOURCES

    patterns = SOURCES[source].patterns if source in SOURCES else ("*.jsonl", "*.json")
    found: set[Path] = set()
    for pat in patterns:
        found.update(f.resolve() for f in folder.rglob(pat) if f.is_file() and ".ftui" not in f.parts)
    return sorted(found)
