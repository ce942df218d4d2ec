"""Which failures are the model's own, grouped by failure label.

An item's cluster is its log label unless the cluster overlay (`ftui.core.curate.overlay`: discovered
clusters and the user's edits) says otherwise; every reader of clusters goes through here.

The rule (the seed's): an item is the model's failure when retrieval found the evidence and the
grade does not pass. A retrieval miss is the retriever's fault and fine-tuning cannot fix it. When
the log has no retrieval field at all, the rule cannot be applied, so every non-passing item
counts, and the report says so (`retrieval_field_present`) for the UI and CLI to show.
"""

from __future__ import annotations

from dataclasses import dataclass

from ftui.core.curate.overlay import Overlay
from ftui.core.logs.items import Item, RunLog
from ftui.core.workspace.workspace import Workspace

UNLABELED = "unlabeled"
SAMPLES = 3


@dataclass(frozen=True)
class Cluster:
    label: str
    items: tuple[Item, ...]
    count: int
    share_of_items: float
    share_of_failures: float
    samples: tuple[str, ...]
    candidate: bool
    # Found by discovery (or made by hand) rather than read from the log's label field.
    discovered: bool = False
    description: str = ""
    # Over the cluster's items: failed answers and answers (one each per run the item was in).
    failed_attempts: int = 0
    attempts: int = 0

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(it.id for it in self.items)

    @property
    def repeat_rate(self) -> float:
        return self.failed_attempts / self.attempts if self.attempts else 0.0


@dataclass(frozen=True)
class ClusterReport:
    clusters: tuple[Cluster, ...]
    total_items: int
    failures: int
    retrieval_misses: int
    passing: int
    retrieval_field_present: bool
    # Non-passing items whose own retrieval field is empty in a log that has the field elsewhere:
    # neither provably the model's fault nor a miss, so counted apart rather than guessed.
    retrieval_unknown: int = 0

    def by_label(self, label: str) -> Cluster | None:
        for c in self.clusters:
            if c.label == label:
                return c
        return None

    @property
    def candidates(self) -> tuple[Cluster, ...]:
        return tuple(c for c in self.clusters if c.candidate)


def label_of(item: Item, overlay: Overlay | None = None) -> str:
    if overlay is not None and not overlay.empty:
        found = overlay.label_for(item)
        if found:
            return found
    return item.label or UNLABELED


def load_overlay(ws: Workspace) -> Overlay:
    return Overlay.load(ws)


def is_passing(ws: Workspace, item: Item) -> bool:
    return ws.is_passing(item)


def repeat_rate(item: Item) -> float:
    """Share of the runs an item was in where its answer failed (1.0 for a single failed answer)."""
    if item.failures is None:
        return 1.0
    return item.failures / item.attempts if item.attempts else 0.0


def is_model_failure(ws: Workspace, item: Item, retrieval_field_present: bool) -> bool:
    if is_passing(ws, item):
        return False
    if not retrieval_field_present:
        return True
    return item.retrieval_hit is True


def passing_items(ws: Workspace, log: RunLog) -> list[Item]:
    return [it for it in log.items if is_passing(ws, it)]


def cluster_failures(ws: Workspace, log: RunLog, overlay: Overlay | None = None) -> ClusterReport:
    if overlay is None:
        overlay = Overlay.load(ws)
    use_overlay = not overlay.empty
    present = log.has_retrieval
    passes = ws.rule.predicate()
    groups: dict[str, list[Item]] = {}
    passing = misses = unknown = failures = 0
    # One pass with the rule inlined: this runs on every refresh of a 100k-row log.
    for it in log.items:
        f = it.failures
        if f == 0 or (f is None and passes(it.grade)):
            passing += 1
            continue
        if present:
            hit = it.retrieval_hit
            if hit is False:
                misses += 1
                continue
            if hit is None:
                unknown += 1
                continue
        failures += 1
        label = (use_overlay and overlay.label_for(it)) or it.label or UNLABELED
        bucket = groups.get(label)
        if bucket is None:
            groups[label] = [it]
        else:
            bucket.append(it)
    total = len(log.items)
    threshold = ws.candidate_threshold
    min_rate = ws.min_repeat_rate
    clusters = []
    for label, items in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        n = len(items)
        info = overlay.info(label) if use_overlay else None
        tries = sum(it.attempts for it in items)
        failed = sum(it.attempts if it.failures is None else it.failures for it in items)
        repeating = n if min_rate <= 0 else sum(1 for it in items if repeat_rate(it) >= min_rate)
        clusters.append(
            Cluster(
                label=label,
                items=tuple(items),
                count=n,
                share_of_items=n / total if total else 0.0,
                share_of_failures=n / failures if failures else 0.0,
                samples=tuple(it.question for it in items[:SAMPLES]),
                candidate=repeating >= threshold,
                discovered=info is not None,
                description=info.description if info is not None else "",
                failed_attempts=failed,
                attempts=tries,
            )
        )
    return ClusterReport(
        clusters=tuple(clusters),
        total_items=total,
        failures=failures,
        retrieval_misses=misses,
        passing=passing,
        retrieval_field_present=present,
        retrieval_unknown=unknown,
    )
