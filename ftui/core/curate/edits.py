"""Discovering clusters and editing them by hand: the operations the CLI and the workbench share.

Each one reads the run log and the overlay, checks its arguments against the clusters as they
are now, and writes the overlay under its lock. The run log is never written.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftui.core.base.errors import FtuiError
from ftui.core.base.fsutil import atomic_write_json, atomic_write_text
from ftui.core.curate.clusters import UNLABELED, Cluster, ClusterReport, cluster_failures
from ftui.core.curate.discovery import DEFAULT_MAX_K, discover
from ftui.core.curate.overlay import Overlay
from ftui.core.logs.items import Item, RunLog
from ftui.core.logs.runlog import load_run_log
from ftui.core.workspace.workspace import Workspace

if TYPE_CHECKING:
    from ftui.core.curate.naming import Namer


class ClusterEditError(FtuiError):
    pass


@dataclass
class DiscoverResult:
    scope: str
    report: ClusterReport
    names: list[str]  # the clusters this run produced, largest first
    inherited: dict[str, str]  # new name -> the renamed cluster's name it kept
    pinned: int  # failures in scope left where the user put them
    run: dict[str, Any]


# How many cluster edits `undo` can take back, newest first.
UNDO_DEPTH = 20


def _undo_path(ov: Overlay) -> Path:
    return ov.path.with_suffix(".undo.json")


def remember(ov: Overlay) -> None:
    """Keep the overlay as it is on disk (under its lock, before an edit), for `undo`."""
    try:
        text: str | None = ov.path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = None
    path = _undo_path(ov)
    stack = _read_stack(path)
    stack.append({"overlay": text, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    atomic_write_json(path, stack[-UNDO_DEPTH:])


def _read_stack(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return data if isinstance(data, list) else []


def undo(ws: Workspace) -> ClusterReport:
    """Put the clusters back as they were before the last edit (rename, merge, split, move, discovery)."""
    log, ov, _ = _state(ws)
    with ov.lock():
        path = _undo_path(ov)
        stack = _read_stack(path)
        try:
            now: str | None = ov.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            now = None
        # An edit that was refused left its snapshot equal to what is on disk: skip those.
        while stack and stack[-1].get("overlay") == now:
            stack.pop()
        if not stack:
            atomic_write_json(path, [])
            raise ClusterEditError("nothing to undo: no cluster edit since the clusters were first made")
        before = stack.pop().get("overlay")
        if before is None:
            ov.path.unlink(missing_ok=True)
        else:
            atomic_write_text(ov.path, before)
        atomic_write_json(path, stack)
    return cluster_failures(ws, log, Overlay.load(ws))


def _state(ws: Workspace) -> tuple[RunLog, Overlay, ClusterReport]:
    log = load_run_log(ws)
    ov = Overlay.load(ws)
    return log, ov, cluster_failures(ws, log, ov)


def current_report(ws: Workspace) -> ClusterReport:
    return _state(ws)[2]


def _cluster(report: ClusterReport, name: str) -> Cluster:
    c = report.by_label(name)
    if c is None:
        known = ", ".join(x.label for x in report.clusters) or "none"
        raise ClusterEditError(f"no cluster {name!r} (clusters: {known})")
    return c


def scope_items(ws: Workspace, log: RunLog, report: ClusterReport, within: str | None) -> list[Item]:
    """The failures one discovery runs over: those with no log label, or those labeled `within`."""
    failures = [it for c in report.clusters for it in c.items]
    if within is None:
        return [it for it in failures if not it.label]
    return [it for it in failures if it.label == within]


def run_discovery(
    ws: Workspace,
    *,
    within: str | None = None,
    seed: int = 0,
    k: int | None = None,
    max_k: int = DEFAULT_MAX_K,
    embeddings: bool = False,
    view: str = "mixed",
    say: Callable[[str], None] = lambda s: None,
) -> DiscoverResult:
    log, ov, report = _state(ws)
    with ov.lock():
        remember(ov)
        ov = Overlay.load(ws)
        report = cluster_failures(ws, log, ov)
        items = scope_items(ws, log, report, within)
        if not items:
            if within is None:
                labels = ", ".join(c.label for c in report.clusters if c.label != UNLABELED) or "none"
                raise ClusterEditError(
                    "every model failure already has a label in the log; `ftui discover --within LABEL` "
                    f"splits one labeled cluster (labels: {labels})"
                    if report.failures
                    else "no model failures to group"
                )
            raise ClusterEditError(f"no model failures labeled {within!r} in the log")
        free = [it for it in items if not ov.pinned(it)]
        scope = within or ""
        vectors = None
        if embeddings and free:
            from ftui.core.curate.embeddings import embed_items

            vectors = embed_items(ws, free, say=say)
        found = (
            discover(
                free,
                seed=seed,
                k=k,
                max_k=max_k,
                prefix=f"{within}/" if within else "",
                embeddings=vectors,
                view=view,
            )
            if free
            else None
        )
        run = {
            "seed": seed,
            "k": found.k if found else 0,
            "chosen_by": found.chosen_by if found else "none",
            "view": view,
            # The granularity a user changes (topic clusters) and how sure that split is.
            "topic_k": found.topic_k if found else None,
            "quality": found.quality if found else None,
            "groups": found.groups if found else [],
            "items": len(free),
            "seconds": round(found.seconds, 3) if found else 0.0,
            "embeddings": ws.model if vectors is not None else None,
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        inherited = ov.apply_discovery(scope, found.clusters if found else [], log.by_id, run)
        ov.save()
    report = cluster_failures(ws, log, ov)
    names = [c.label for c in report.clusters if (info := ov.info(c.label)) and info.scope == scope]
    return DiscoverResult(scope, report, names, inherited, len(items) - len(free), run)


def describe_run(run: dict[str, Any]) -> str:
    """How a discovery chose its clusters, in a few words: `k=7 (chosen by stability 0.81)`."""
    how = run.get("chosen_by", "")
    quality = run.get("quality")
    figure = f" {quality:.2f}" if isinstance(quality, (int, float)) else ""
    said = {
        "stability": f"topic k={run.get('topic_k')} chosen by stability{figure}",
        "user": f"topic k={run.get('topic_k')} (yours; stability{figure or ' n/a'})",
        "silhouette": f"k={run.get('k')} (chosen by silhouette)",
        "signature": f"k={run.get('k')} (one cluster per signature)",
    }.get(how, f"k={run.get('k')} ({how.replace('_', ' ')})")
    if run.get("view", "mixed") != "mixed":
        said += f", {run['view']} view"
    return said


def rename(ws: Workspace, old: str, new: str) -> ClusterReport:
    log, ov, report = _state(ws)
    with ov.lock():
        remember(ov)
        ov = Overlay.load(ws)
        report = cluster_failures(ws, log, ov)
        c = _cluster(report, old)
        if new != old and report.by_label(new) is not None:
            raise ClusterEditError(f"a cluster named {new!r} exists; merge the two instead")
        ov.rename(old, new, list(c.items))
        ov.save()
    return cluster_failures(ws, log, ov)


def merge(ws: Workspace, names: list[str], into: str | None = None) -> ClusterReport:
    """Merge clusters `names` into one, named `into` (default: the first of them)."""
    if len(names) < 2:
        raise ClusterEditError("merge needs at least two clusters")
    log, ov, report = _state(ws)
    with ov.lock():
        remember(ov)
        ov = Overlay.load(ws)
        report = cluster_failures(ws, log, ov)
        clusters = [_cluster(report, n) for n in dict.fromkeys(names)]
        target = (into or names[0]).strip()
        if target not in names and report.by_label(target) is not None:
            raise ClusterEditError(f"a cluster named {target!r} exists and is not one of those merged")
        items = [it for c in clusters for it in c.items]
        ov.move(items, target, op="merge", clusters=list(dict.fromkeys(names)))
        first = ov.info(names[0])
        if target in ov.clusters and first is not None and ov.clusters[target].origin == "user":
            ov.clusters[target].description = f"merged: {', '.join(dict.fromkeys(names))}"
        ov.save()
    return cluster_failures(ws, log, ov)


def split(ws: Workspace, name: str, *, k: int | None = None, seed: int = 0) -> tuple[ClusterReport, list[str]]:
    log, ov, report = _state(ws)
    with ov.lock():
        remember(ov)
        ov = Overlay.load(ws)
        report = cluster_failures(ws, log, ov)
        c = _cluster(report, name)
        if c.count < 2:
            raise ClusterEditError(f"cluster {name!r} has {c.count} item; nothing to split")
        found = discover(list(c.items), seed=seed, k=k, prefix=f"{name}/", view="topic")
        if len(found.clusters) < 2 and k is None:
            # The automatic choice saw one group; a split asked for by hand still splits in two.
            found = discover(list(c.items), seed=seed, k=2, prefix=f"{name}/", view="topic")
        if len(found.clusters) < 2:
            raise ClusterEditError(f"cluster {name!r} does not split (its items are too alike)")
        names = ov.add_split(name, found.clusters, log.by_id)
        ov.save()
    return cluster_failures(ws, log, ov), names


def move(ws: Workspace, ids: list[str], to: str) -> ClusterReport:
    log, ov, report = _state(ws)
    with ov.lock():
        remember(ov)
        ov = Overlay.load(ws)
        report = cluster_failures(ws, log, ov)
        in_report = {it.id: it for c in report.clusters for it in c.items}
        missing = [i for i in ids if i not in in_report]
        if missing:
            where = "not in the run log" if missing[0] not in log.by_id else "not a model failure"
            raise ClusterEditError(f"item {missing[0]!r} is {where}; only model failures are in clusters")
        ov.move([in_report[i] for i in ids], to)
        ov.save()
    return cluster_failures(ws, log, ov)


def name_with_llm(ws: Workspace, namer: Namer, names: list[str], *, dry_run: bool = False) -> list[dict[str, Any]]:
    """Ask `namer` (cluster_naming.Namer) to name the clusters `names` that nobody renamed by hand.

    Returns per cluster {"old", "new", "description", "messages"}; `dry_run` only builds the prompts.
    """
    from ftui.core.curate.naming import messages
    from ftui.core.curate.overlay import _unique

    log, ov, report = _state(ws)
    plans: list[dict[str, Any]] = []
    for name in names:
        info = ov.info(name)
        c = report.by_label(name)
        if info is None or c is None or info.renamed:
            continue
        reps = [log.by_id[i] for i in info.representatives if i in log.by_id] or list(c.items[:3])
        plans.append({"old": name, "messages": messages(name, info.description, reps), "scope": info.scope})
    if dry_run:
        return plans
    for p in plans:
        reply = namer.name(p["messages"])
        p["new"], p["description"] = reply["name"], reply["description"]
    with ov.lock():
        remember(ov)
        ov = Overlay.load(ws)
        report = cluster_failures(ws, log, ov)
        taken = {c.label for c in report.clusters} - {p["old"] for p in plans}
        for p in plans:
            prefix = f"{p['scope']}/" if p["scope"] else ""
            new = _unique(prefix + p["new"], taken)
            taken.add(new)
            p["new"] = new
            c = report.by_label(p["old"])
            ov.rename(p["old"], new, list(c.items) if c else [], by_user=False, description=p["description"] or None)
        ov.save()
    return plans
