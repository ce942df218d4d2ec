"""The reviewed corrections of the sample workspace, in ftui's review-file format.

For the largest model-failure cluster every item gets its corrected output (the reference answer
of the benchmark, which for a locate question is fully determined by the code: the defining file
and the symbol). The other clusters are left for a user to correct in the TUI.
"""

from __future__ import annotations

from pathlib import Path

from ftui.core.base.fsutil import atomic_write_jsonl
from ftui.core.curate.clusters import cluster_failures
from ftui.core.curate.review import review_row
from ftui.core.logs.runlog import load_run_log
from ftui.core.workspace.workspace import Workspace

REVIEW_FILE = "reviewed_corrections.jsonl"


def write_reviewed_corrections(ws: Workspace) -> tuple[str, int]:
    """Write REVIEW_FILE for the largest cluster; returns (cluster label, rows written)."""
    log = load_run_log(ws)
    report = cluster_failures(ws, log)
    if not report.clusters:
        raise ValueError(f"{ws.run_log}: the base model has no failures to correct")
    largest = report.clusters[0]
    rows = []
    for item in largest.items:
        row = review_row(item)
        row["corrected_output"] = item.expected or ""
        rows.append(row)
    atomic_write_jsonl(ws.root / REVIEW_FILE, rows)
    return largest.label, len(rows)


def review_path(ws: Workspace) -> Path:
    return ws.root / REVIEW_FILE
