"""Whether a build is older than the corrections it was made from: a stale build says so.

Builds are content-addressed, so a rebuild with nothing changed returns the old build with its
old time; the check therefore compares what the build holds with the corrections as they are,
and uses times only for corrections edited in place.
"""

from __future__ import annotations

from datetime import datetime

from ftui.core.build.store import Build
from ftui.core.curate.corrections import CorrectionStore
from ftui.core.workspace.workspace import Workspace

CORRECTED = "corrected"


def _when(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def changes_since(ws: Workspace, build: Build) -> dict[str, list[str]]:
    """Item ids by what happened to their correction after `build`: new, removed, edited."""
    m = build.manifest
    current = {i: c for i, c in CorrectionStore(ws).all().items() if c.status == CORRECTED}
    waiting = {d.get("id") for d in m.get("discarded") or [] if d.get("reason") == "uncorrected"}
    anchors = set(m.get("anchor_ids") or [])
    used = {*m.get("train_ids", []), *m.get("eval_ids", []), *m.get("validation_ids", [])} - anchors
    made = _when(str(m.get("created", "")))
    edited = [
        i
        for i in sorted(used & set(current))
        if made is not None and (t := _when(current[i].updated)) is not None and t.replace(microsecond=0) > made
    ]
    return {
        "new": sorted(waiting & set(current)),
        "removed": sorted(used - set(current)),
        "edited": edited,
    }


def stale_text(ws: Workspace, build: Build) -> str:
    """ "" when `build` holds the corrections as they are; else one line saying what changed since."""
    ch = changes_since(ws, build)
    parts = [f"{len(ch[k])} {k}" for k in ("new", "edited", "removed") if ch[k]]
    if not parts:
        return ""
    return f"⚠ build {build.id} is older than the corrections ({', '.join(parts)} since)"
