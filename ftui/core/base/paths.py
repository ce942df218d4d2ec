"""Where ftui writes: the workspace's own state folder, and the user-wide model cache."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StatePaths:
    root: Path

    @property
    def corrections(self) -> Path:
        return self.root / "corrections"

    @property
    def builds(self) -> Path:
        return self.root / "builds"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def reports(self) -> Path:
        return self.root / "reports"


def model_cache_dir() -> Path:
    env = os.environ.get("FTUI_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ftui"


# The file that makes a folder a workspace (workspace.CONFIG_NAME; named here for the base layer).
WORKSPACE_FILE = "ftui.yaml"


def workspace_root(start: Path | str) -> Path | None:
    """The nearest folder at or above `start` holding ftui.yaml (None outside a workspace)."""
    p = Path(start).resolve()
    for d in (p, *p.parents):
        if (d / WORKSPACE_FILE).is_file():
            return d
    return None


def store_path(path: Path | str, anchor: Path | str) -> str:
    """`path` as written into a state file kept in folder `anchor`: relative to `anchor` when both
    lie in one workspace (so the workspace can be copied or moved), absolute otherwise."""
    p, a = Path(path).resolve(), Path(anchor).resolve()
    root = workspace_root(a)
    if root is not None and p.is_relative_to(root):
        return os.path.relpath(p, a)
    return str(p)


def read_path(
    value: str | os.PathLike[str], anchor: Path | str, old_root: str | os.PathLike[str] | None = None
) -> Path:
    """A path read from a state file kept in folder `anchor`.

    Relative paths are resolved against `anchor`. An absolute one written before paths were stored
    relative, inside the workspace `old_root` that has since been copied or moved, is taken to the
    same place in the workspace `anchor` is in now: a copy never reads or writes the original.
    """
    p = Path(value)
    if not p.is_absolute():
        return (Path(anchor) / p).resolve()
    root = workspace_root(anchor)
    if old_root is None or root is None or root == Path(old_root).resolve():
        return p
    try:
        rel = p.relative_to(old_root)
    except ValueError:
        return p
    here = root / rel
    return here if here.exists() or not p.exists() else p
