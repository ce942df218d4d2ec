"""Graded probes during training: a few validation items answered and graded at each eval step.

Eval loss says how likely the targets have become, not whether answers pass. The probe set is the
build's validation items only (the held-out items judge the run afterwards and must not steer
it): the targeted cluster's items, which the base fails (fixed when they pass), and the anchors,
which the base passes (broken when they fail). The run directory holds the set (`probes.json`,
written here, core side); the training child answers it with the batched decoder and writes
`probe` events.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftui.core.base.fsutil import atomic_write_json, read_json_file

if TYPE_CHECKING:
    from ftui.core.workspace.workspace import Workspace

FILE = "probes.json"
CLUSTER = "cluster"
ANCHOR = "anchor"


def plan(ws: Workspace, manifest: dict[str, Any], cap: int) -> dict[str, Any] | None:
    """The probe set for a build: validation items of the targeted cluster plus validation anchors,
    at most `cap` (anchors up to half of it, the cluster the rest). None when there is nothing to
    probe: no cap, or a build without a validation split (its held-out items must stay unseen)."""
    from ftui.core.build.store import targeted_cluster
    from ftui.core.grade.grading import spec_for
    from ftui.core.logs.runlog import load_run_log
    from ftui.core.workspace.prompts import messages_for

    if cap <= 0 or "validation_ids" not in manifest:
        return None
    target = targeted_cluster(manifest)
    # A rewards build (GRPO) trains on every target cluster at once, so its probes cover them all.
    rewards = bool((manifest.get("options") or {}).get("rewards"))
    targets = set(manifest.get("target_clusters") or []) if rewards else {target}
    anchors = set(manifest.get("anchor_ids") or [])
    log = load_run_log(ws)
    cluster_items, anchor_items = [], []
    for vid in manifest.get("validation_ids") or []:
        it = log.by_id.get(vid)
        if it is None:
            continue
        spec = spec_for(ws, it)
        if spec.get("kind") == "judge":
            continue  # a training child does not call out to a judge endpoint
        row = {
            "id": it.id,
            "messages": messages_for(it, ws.prompt),
            "expected": it.expected,
            "question": it.question,
            "grader": spec,
        }
        if vid in anchors:
            anchor_items.append({**row, "role": ANCHOR})
        elif it.label in targets:
            cluster_items.append({**row, "role": CLUSTER})
    n_anchor = min(len(anchor_items), cap // 2)
    n_cluster = min(len(cluster_items), cap - n_anchor)
    n_anchor = min(len(anchor_items), cap - n_cluster)
    items = cluster_items[:n_cluster] + anchor_items[:n_anchor]
    if not items:
        return None
    return {
        "target": target,
        "max_new_tokens": ws.eval.max_new_tokens,
        "batch_size": ws.eval.batch_size,
        "items": items,
    }


def write(run_dir: Path | str, probe_set: dict[str, Any]) -> Path:
    path = Path(run_dir) / FILE
    atomic_write_json(path, probe_set)
    return path


def read(run_dir: Path | str) -> dict[str, Any] | None:
    path = Path(run_dir) / FILE
    if not path.exists():
        return None
    return read_json_file(path, "unreadable probe set")


def grade_answers(items: list[dict[str, Any]], answers: list[str]) -> dict[str, Any]:
    """The `probe` event's figures: pass counts per role, and which items are fixed or broken."""
    from ftui.core.grade.grading import grade

    counts = {"cluster_passed": 0, "cluster_total": 0, "anchors_passed": 0, "anchors_total": 0}
    fixed_ids: list[str] = []
    broken_ids: list[str] = []
    for it, answer in zip(items, answers, strict=True):
        passed = grade(answer, it.get("expected"), it["grader"], question=it.get("question") or "").passed
        if it["role"] == CLUSTER:
            counts["cluster_total"] += 1
            counts["cluster_passed"] += passed
            if passed:
                fixed_ids.append(it["id"])
        else:
            counts["anchors_total"] += 1
            counts["anchors_passed"] += passed
            if not passed:
                broken_ids.append(it["id"])
    return {
        **counts,
        "fixed_ids": fixed_ids,
        "broken_ids": broken_ids,
        "fixed": len(fixed_ids),
        "broken": len(broken_ids),
    }


def net_fixed(probe: dict[str, Any]) -> int:
    """What the comparison will count, on the probe set: cluster items fixed minus anchors broken."""
    return int(probe.get("fixed", 0)) - int(probe.get("broken", 0))


def rates(probe: dict[str, Any]) -> tuple[float | None, float | None]:
    """(cluster pass rate, anchors pass rate) of one probe event."""
    c, a = probe.get("cluster_total") or 0, probe.get("anchors_total") or 0
    return (
        probe.get("cluster_passed", 0) / c if c else None,
        probe.get("anchors_passed", 0) / a if a else None,
    )
