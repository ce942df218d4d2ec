"""A person decides on drafts: accept (as is or edited: it becomes an ordinary correction) or
reject, and the counts and provenance the panes and the postmortem show."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ftui.core.curate.corrections import CorrectionStore
from ftui.core.curate.drafts.store import STATUSES, Draft, DraftError, DraftStore

if TYPE_CHECKING:
    from ftui.core.curate.clusters import Cluster
    from ftui.core.logs.items import Item
    from ftui.core.workspace.workspace import Workspace


def _pending(store: DraftStore, ids: Iterable[str]) -> list[Draft]:
    drafts = store.all()
    out = []
    for i in ids:
        d = drafts.get(str(i))
        if d is None:
            raise DraftError(f"{store.path}: no draft for {i!r}")
        out.append(d)
    return out


def accept(ws: Workspace, items_by_id: dict[str, Item], ids: Iterable[str], *, text: str | None = None) -> list[Draft]:
    """Save drafts as corrections (a person's edited `text` for a single id), then record the decision.

    The correction is written first: a crash in between leaves an accepted correction whose draft
    still reads as waiting, never a decision without its correction.
    """
    store = DraftStore(ws)
    drafts = _pending(store, ids)
    if text is not None and len(drafts) != 1:
        raise DraftError("an edited text can replace one draft at a time")
    missing = [d.id for d in drafts if d.id not in items_by_id]
    if missing:
        raise DraftError(f"{ws.run_log}: drafted ids no longer in the run log: {', '.join(missing[:5])}")
    outputs = [text if text is not None else d.output for d in drafts]
    empty = [d.id for d, o in zip(drafts, outputs, strict=True) if not o.strip()]
    if empty:
        raise DraftError(f"empty draft for {', '.join(empty[:5])}: edit it or reject it")
    CorrectionStore(ws).save_many((items_by_id[d.id], o, "corrected") for d, o in zip(drafts, outputs, strict=True))
    if text is not None and text != drafts[0].output:
        return store.decide(drafts, "edited", final_output=text)
    return store.decide(drafts, "accepted")


def mark_edited(ws: Workspace, item_id: str, text: str) -> Draft | None:
    """A person saved their own text for an item that had a draft: the draft counts as edited."""
    store = DraftStore(ws)
    d = store.get(item_id)
    if d is None or d.status == "rejected" or (d.status == "edited" and d.final_output == text):
        return None
    if text == d.output and d.status == "accepted":
        return None
    status = "accepted" if text == d.output else "edited"
    return store.decide([d], status, final_output=None if status == "accepted" else text)[0]


def reject(ws: Workspace, ids: Iterable[str]) -> list[Draft]:
    store = DraftStore(ws)
    return store.decide(_pending(store, ids), "rejected")


def passing_pending(ws: Workspace, cluster: Cluster) -> list[Draft]:
    """The drafts `accept all` takes: waiting, passing their grader, for items still without a correction."""
    drafts = DraftStore(ws).all()
    corrections = CorrectionStore(ws).all()
    out = []
    for it in cluster.items:
        d = drafts.get(it.id)
        if d is not None and d.pending and d.passes and it.id not in corrections:
            out.append(d)
    return out


def cluster_counts(drafts: dict[str, Draft], cluster: Cluster) -> dict[str, int]:
    out = {s: 0 for s in STATUSES}
    out["passing"] = 0
    for it in cluster.items:
        d = drafts.get(it.id)
        if d is not None:
            out[d.status] += 1
            out["passing"] += d.pending and d.passes
    return out


def provenance(ws: Workspace, ids: Iterable[str]) -> dict[str, Any]:
    """For the postmortem: of these training ids, how many corrections were drafted, accepted, edited, by whom."""
    drafts = DraftStore(ws).all()
    used = [drafts[i] for i in ids if i in drafts and drafts[i].status in ("accepted", "edited")]
    teachers: dict[str, int] = {}
    for d in used:
        teachers[d.teacher] = teachers.get(d.teacher, 0) + 1
    return {
        "drafted": len(used),
        "accepted_as_drafted": sum(d.status == "accepted" for d in used),
        "edited": sum(d.status == "edited" for d in used),
        "teachers": teachers,
        "prompt_hashes": sorted({d.prompt_hash for d in used}),
    }
