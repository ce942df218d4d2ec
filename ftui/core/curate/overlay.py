"""Discovered clusters and the user's edits to clusters, kept beside the run log, never in it.

The overlay lives in the state folder (`discovery/overlay.json`) and says, per item id, which
cluster an item is in when that is not (only) its log label:

- `auto`: what the last discovery of each scope decided;
- `pins`: what the user decided (moved an item, merged or split a cluster); a pin wins over
  discovery and survives a re-run of it.

Both remember a hash of the item's content (question, answer, expected, grader reason): when that
content changes, the entry no longer applies and the item falls back to discovery or its label.
A scope is the set of failures one discovery ran over: "" for the failures with no log label,
or a label whose cluster was split into sub-clusters. Renamed clusters keep their name through a
re-run: a new cluster takes the name of the old one most of its items came from.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

from ftui.core.base.errors import FtuiError, InputError
from ftui.core.base.fsutil import atomic_write_json

VERSION = 1
DIRNAME = "discovery"
FILENAME = "overlay.json"
LOCK_TIMEOUT_S = 30
# A new cluster inherits an old name when at least this share of its items were in that cluster.
INHERIT_SHARE = 0.5


class OverlayError(FtuiError):
    pass


@dataclass
class ClusterInfo:
    description: str = ""
    signature: str | None = None
    terms: list[str] = field(default_factory=list)
    representatives: list[str] = field(default_factory=list)
    scope: str = ""
    origin: str = "discovered"  # "discovered", "split" or "user"
    renamed: bool = False


def overlay_path(ws: Any) -> Path:
    return Path(ws.state.root) / DIRNAME / FILENAME


def _hash_of(item: Any) -> str:
    from ftui.core.curate.discovery import content_hash

    return content_hash(item)


@dataclass
class Overlay:
    path: Path
    clusters: dict[str, ClusterInfo] = field(default_factory=dict)
    auto: dict[str, list[str]] = field(default_factory=dict)  # id -> [cluster, content hash]
    pins: dict[str, list[str]] = field(default_factory=dict)  # id -> [cluster, content hash]
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)  # scope -> how its last discovery went
    edits: list[dict[str, Any]] = field(default_factory=list)  # the user's edits, oldest first

    # -- reading -------------------------------------------------------------------------------
    @classmethod
    def load(cls, ws: Any) -> Overlay:
        path = overlay_path(ws)
        ov = cls(path=path)
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return ov
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InputError(path, exc.lineno, f"invalid JSON ({exc.msg})") from None
        if not isinstance(data, dict) or data.get("v") != VERSION:
            raise InputError(path, 1, f"not a version-{VERSION} cluster overlay")
        known = set(ClusterInfo.__dataclass_fields__)
        ov.clusters = {
            name: ClusterInfo(**{k: v for k, v in info.items() if k in known})
            for name, info in (data.get("clusters") or {}).items()
        }
        ov.auto = dict(data.get("auto") or {})
        ov.pins = dict(data.get("pins") or {})
        ov.runs = dict(data.get("runs") or {})
        ov.edits = list(data.get("edits") or [])
        return ov

    @property
    def empty(self) -> bool:
        return not self.auto and not self.pins

    def label_for(self, item: Any) -> str | None:
        """The item's cluster by the overlay, or None when the overlay has nothing valid for it."""
        pin = self.pins.get(item.id)
        auto = self.auto.get(item.id)
        if pin is None and auto is None:
            return None
        h = _hash_of(item)
        if pin is not None and pin[1] == h:
            return pin[0]
        if auto is not None and auto[1] == h:
            return auto[0]
        return None

    def pinned(self, item: Any) -> bool:
        pin = self.pins.get(item.id)
        return pin is not None and pin[1] == _hash_of(item)

    def info(self, name: str) -> ClusterInfo | None:
        return self.clusters.get(name)

    # -- writing -------------------------------------------------------------------------------
    def lock(self) -> FileLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.path.with_suffix(".lock")), timeout=LOCK_TIMEOUT_S)

    def save(self) -> None:
        used = {v[0] for v in self.auto.values()} | {v[0] for v in self.pins.values()}
        self.clusters = {k: v for k, v in self.clusters.items() if k in used}
        atomic_write_json(
            self.path,
            {
                "v": VERSION,
                "clusters": {k: asdict(v) for k, v in sorted(self.clusters.items())},
                "auto": dict(sorted(self.auto.items())),
                "pins": dict(sorted(self.pins.items())),
                "runs": self.runs,
                "edits": self.edits,
            },
        )

    def _log(self, op: str, **details: Any) -> None:
        self.edits.append({"op": op, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **details})

    def apply_discovery(
        self, scope: str, found: list[Any], items_by_id: dict[str, Any], run: dict[str, Any]
    ) -> dict[str, str]:
        """Replace the scope's discovered assignment with `found` (discovery.Found clusters).

        A new cluster mostly made of an old renamed cluster's items takes that name; returns
        {new name: inherited name} for the clusters that did.
        """
        old_of = {i: v[0] for i, v in self.auto.items() if self._scope_of(v[0]) == scope}
        renamed_old = {name for name, info in self.clusters.items() if info.renamed and info.scope == scope}
        for i in old_of:
            del self.auto[i]
        old_names = {n for n, info in self.clusters.items() if info.scope == scope and info.origin == "discovered"}
        pinned_to = {v[0] for v in self.pins.values()}
        for name in old_names - pinned_to:
            del self.clusters[name]
        # The scope's old names are free again: a new cluster may inherit one (pinned items that
        # were in it are then in the same cluster as before).
        taken: set[str] = set(self.clusters) - old_names
        inherited: dict[str, str] = {}
        for f in found:
            counts: dict[str, int] = {}
            for i in f.ids:
                o = old_of.get(i)
                if o in renamed_old:
                    counts[o] = counts.get(o, 0) + 1
            name = f.name
            if counts:
                best = max(sorted(counts), key=lambda n: counts[n])
                if counts[best] >= INHERIT_SHARE * len(f.ids) and best not in inherited.values():
                    inherited[f.name] = best
                    name = best
            name = _unique(name, taken)
            taken.add(name)
            self.clusters[name] = ClusterInfo(
                description=f.description,
                signature=f.signature,
                terms=list(f.terms),
                representatives=list(f.representatives),
                scope=scope,
                origin="discovered",
                renamed=name in renamed_old,
            )
            for i in f.ids:
                self.auto[i] = [name, _hash_of(items_by_id[i])]
        self.runs[scope] = run
        return inherited

    def _scope_of(self, name: str) -> str | None:
        info = self.clusters.get(name)
        return info.scope if info is not None else None

    def rename(
        self, old: str, new: str, members: list[Any], by_user: bool = True, description: str | None = None
    ) -> None:
        """Rename cluster `old` (discovered, or from the label field) to `new`.

        A name from the user is kept through re-discovery; one from an LLM (`by_user=False`) is not.
        """
        new = new.strip()
        if not new:
            raise OverlayError("a cluster name cannot be empty")
        if new == old:
            return
        info = self.clusters.pop(old, None)
        if info is not None:
            info.renamed = info.renamed or by_user
            if description:
                info.description = description
            self.clusters[new] = info
            for table in (self.auto, self.pins):
                for v in table.values():
                    if v[0] == old:
                        v[0] = new
        else:
            # A cluster from the log's label field: its items are pinned under the new name.
            self.clusters[new] = ClusterInfo(description=f"renamed from {old}", origin="user", renamed=True)
        for it in members:
            if it.id in self.pins or info is None:
                self.pins[it.id] = [new, _hash_of(it)]
        self._log("rename" if by_user else "llm_name", old=old, new=new)

    def move(self, items: list[Any], to: str, op: str = "move", **details: Any) -> None:
        """Pin `items` to cluster `to` (existing or new)."""
        to = to.strip()
        if not to:
            raise OverlayError("a cluster name cannot be empty")
        if to not in self.clusters:
            self.clusters[to] = ClusterInfo(description="made by hand", origin="user")
        for it in items:
            self.pins[it.id] = [to, _hash_of(it)]
        self._log(op, to=to, ids=[it.id for it in items], **details)

    def add_split(self, parent: str, found: list[Any], items_by_id: dict[str, Any]) -> list[str]:
        """Pin the items of `parent` to its sub-clusters `found`; returns their names."""
        taken = set(self.clusters) - {parent}
        names = []
        for f in found:
            name = _unique(f.name, taken)
            taken.add(name)
            self.clusters[name] = ClusterInfo(
                description=f.description,
                signature=f.signature,
                terms=list(f.terms),
                representatives=list(f.representatives),
                scope=self.clusters[parent].scope if parent in self.clusters else parent,
                origin="split",
            )
            for i in f.ids:
                self.pins[i] = [name, _hash_of(items_by_id[i])]
            names.append(name)
        self._log("split", cluster=parent, into=names)
        return names


def _unique(name: str, taken: set[str]) -> str:
    out, i = name, 2
    while out in taken:
        out, i = f"{name}_{i}", i + 1
    return out
