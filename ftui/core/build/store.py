"""The build store: content-addressed build folders under the state folder, written atomically,
listed newest first and found by id, unique id prefix or path."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftui.core.base import fsutil
from ftui.core.base.errors import FtuiError
from ftui.core.build import files, texts
from ftui.core.workspace.workspace import Workspace

SCHEMA = 1
LATEST_FILE = "LATEST"


class BuildError(FtuiError):
    pass


@dataclass(frozen=True)
class Build:
    dir: Path
    manifest: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.manifest["build_id"])

    @property
    def train_path(self) -> Path:
        return files.train_file(self.dir, files.SFT)

    @property
    def eval_path(self) -> Path:
        return self.dir / files.method_files(files.SFT).held_out

    @property
    def dpo_train_path(self) -> Path:
        return files.train_file(self.dir, files.DPO)

    def rows(self, name: str) -> list[dict[str, Any]]:
        """Rows of one file of the build: "train", "eval", "dpo_train", "dpo_eval", "train_pc", ..."""
        path = self.dir / f"{name}.jsonl"
        return fsutil.read_jsonl(path) if path.exists() else []

    @property
    def dpo_pairs(self) -> int:
        """Every DPO pair of the build (train, validation and held out): the one count shown everywhere."""
        return texts.dpo_pairs(self.manifest.get("counts", {}))

    def summary_line(self) -> str:
        c = self.manifest["counts"]
        return (
            f"build {self.id}: {c['train']} train ({c['train_corrections']} corrections + "
            f"{c['train_anchors']} anchors), {c.get('validation', 0)} validation, {c['eval']} held out, "
            f"{self.dpo_pairs} DPO pairs, "
            f"{c['discarded']} discarded" + (f", {c['grpo_train']} GRPO prompts" if "grpo_train" in c else "")
        )


def write_build(ws: Workspace, build_id: str, texts: dict[str, str], manifest: dict[str, Any]) -> Build:
    root = ws.state.builds
    root.mkdir(parents=True, exist_ok=True)
    final = root / build_id
    if not (final / "manifest.json").exists():
        tmp = Path(tempfile.mkdtemp(prefix=f".{build_id}.", dir=root))
        try:
            for name, text in texts.items():
                fsutil.atomic_write_text(tmp / f"{name}.jsonl", text)
            fsutil.atomic_write_json(tmp / "manifest.json", manifest)
            try:
                os.rename(tmp, final)
            except OSError:
                # Another process finished the same build first; its content is identical.
                if not (final / "manifest.json").exists():
                    raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    fsutil.atomic_write_text(root / LATEST_FILE, build_id + "\n")
    return load_build(ws, build_id)


def list_builds(ws: Workspace) -> list[Build]:
    """Every complete build, newest first."""
    root = ws.state.builds
    if not root.is_dir():
        return []
    out = []
    for d in root.iterdir():
        if d.name.startswith(".") or not d.is_dir():
            continue
        try:
            out.append(Build(d, json.loads((d / "manifest.json").read_text(encoding="utf-8"))))
        except (OSError, ValueError):
            continue
    out.sort(key=lambda b: (b.manifest.get("created", ""), b.dir.stat().st_mtime), reverse=True)
    return out


def load_build(ws: Workspace, build_id: str | None = None) -> Build:
    """A build by id (a unique prefix is enough), or the latest one when `build_id` is None."""
    root = ws.state.builds
    if build_id is None:
        latest = root / LATEST_FILE
        if latest.exists():
            build_id = latest.read_text(encoding="utf-8").strip()
        else:
            builds = list_builds(ws)
            if not builds:
                raise BuildError(f"{root}: no builds yet (run `ftui build`)")
            return builds[0]
    d = root / build_id
    if not (d / "manifest.json").exists():
        matches = [b for b in list_builds(ws) if b.dir.name.startswith(build_id)] if build_id else []
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise BuildError(f"build id {build_id!r} is ambiguous: {', '.join(b.dir.name for b in matches)}")
        raise BuildError(f"{root}: no build {build_id!r}")
    try:
        manifest = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    except ValueError as exc:
        raise BuildError(f"{d / 'manifest.json'}:{getattr(exc, 'lineno', 1)}: unreadable manifest ({exc})") from None
    return Build(d, manifest)


def resolve_build_path(path: Path | str) -> Build | None:
    """A folder that holds a manifest.json is a build, wherever it lives."""
    p = Path(path)
    m = p / "manifest.json"
    if p.is_dir() and m.exists():
        try:
            return Build(p, json.loads(m.read_text(encoding="utf-8")))
        except ValueError:
            return None
    return None


def targeted_cluster(manifest: dict[str, Any]) -> str | None:
    """The build's main cluster: the one with the most corrections, or failures in a rewards build
    (ties: the first targeted)."""
    per = manifest.get("per_cluster") or {}
    # A rewards build needs no corrections: its main cluster is the one with the most failures.
    key = "items" if (manifest.get("options") or {}).get("rewards") else "corrected"
    best: str | None = None
    best_n = -1
    for name, stats in per.items():
        n = int(stats.get(key, stats.get("train", 0)) or 0) if isinstance(stats, dict) else int(stats or 0)
        if n > best_n:
            best, best_n = name, n
    if best is None:
        targets = manifest.get("target_clusters") or []
        best = targets[0] if targets else None
    return best
