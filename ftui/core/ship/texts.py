"""What `ftui export-model`/`ftui exports`/`ftui parity` print and the Ship pane shows, written once:
a running job's progress and a run's export rows with their parity."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftui.core.base import jobs
from ftui.core.base.formatting import duration, size
from ftui.core.ship import exports, parity


def job_progress(st: jobs.JobState) -> str:
    """A running export's or parity check's latest status and count, e.g. `writing (3/7 shards)`."""
    pr = st.overall
    text = st.message or "starting"
    if pr:
        count = f"{pr.get('done')}/{pr.get('total')} {pr.get('unit') or ''}".strip()
        text += f" ({count})"
    return text


def artifact_note(manifest: dict[str, Any] | None) -> str:
    """Size and export time of a finished export."""
    if not manifest:
        return ""
    return f"{size(manifest.get('bytes'))} · {duration(manifest.get('seconds'))}"


@dataclass
class ExportRow:
    """One export of a run with its parity check, as both the shell and the Ship pane list it."""

    name: str
    state: str  # the export job's
    out: str | None
    error: str | None
    shown_state: str  # the export's state, or "checking" while its parity check runs
    note: str  # progress while running, size and time when done, or what went wrong with parity
    manifest: dict[str, Any] | None  # a finished export's manifest, with its folder as "out"
    result: dict[str, Any] | None  # the parity check's result (summary with its rows), when there is one


def export_rows(run_dir: Path) -> list[ExportRow]:
    rows = []
    for st in exports.list_exports(run_dir):
        name = str(st.config.get("name") or Path(st.dir).name)
        pst = jobs.job_state(Path(run_dir) / parity.PARITY_DIR / name)
        out = Path(st.config.get("out", ""))
        done = exports.is_export(out)
        result = parity.read_result(Path(pst.dir)) if done and pst.state in ("finished", "none") else None
        manifest = {**exports.read_manifest(out), "out": str(out)} if done and st.state == "finished" else None
        shown, note = st.state, st.error or artifact_note(manifest)
        if st.state == "running":
            note = job_progress(st)
        elif pst.state == "running":
            shown, note = "checking", f"parity: {job_progress(pst)}"
        elif pst.state == "failed":
            note = f"parity failed: {pst.error}"
        elif pst.state in ("dead", "cancelled"):
            # A check that ended without a result: say so rather than leave the row looking unchecked.
            note = f"{note} · parity {'stopped' if pst.state == 'cancelled' else 'died'}"
        rows.append(ExportRow(name, st.state, st.config.get("out"), st.error, shown, note, manifest, result))
    return rows


def parity_counts(summary: dict[str, Any] | None) -> tuple[str, str, str]:
    """Identical answers, same grades (each of the items) and grade flips; dashes before a check."""
    if not summary:
        return "—", "—", "—"
    n = summary["items"]
    return f"{summary['identical']}/{n}", f"{summary['same_grade']}/{n}", str(summary["flips"])
