"""What `ftui eval`/`ftui forgetting` print and the Compare pane shows while they run and when they
end, written once."""

from __future__ import annotations

from typing import Any

from ftui.core.base import jobs


def eval_progress(st: jobs.JobState) -> str:
    """Each side in the order it began (base, tuned, then the few-shot arm) with answers read from the cache."""
    parts = []
    for side, pr in st.progress.items():
        if pr:
            cached = f" ({pr['cached']} cached)" if pr.get("cached") else ""
            parts.append(f"{side} {pr['done']}/{pr['total']}{cached}")
    return " · ".join(parts) or (st.message or "starting")


def forgetting_progress(st: jobs.JobState) -> str:
    """Tasks done on the tuned side (the second pass over each task) and the latest status."""
    done = st.progress.get("tuned", {}).get("done", 0)
    total = st.progress.get("tuned", st.progress.get("base", {})).get("total") or st.items or "?"
    return f"{done}/{total} tasks · {st.message or 'starting'}"


def kept_text(tasks: list[str]) -> str:
    """The tasks an unfinished forgetting check measured (they are kept in its result)."""
    return f"{len(tasks)} task(s) measured and kept" + (f" ({', '.join(tasks)})" if tasks else "")


def forgetting_outcome(run_id: str, st: jobs.JobState, result: dict[str, Any] | None, again: str) -> str:
    """One line for a check that did not finish, saying what was kept and how (`again`) to measure the rest."""
    kept = [r["task"] for r in (result or {}).get("tasks", [])]
    if st.state == "cancelled":
        why = "interrupted"
    elif st.state == "dead":
        why = "stopped: its process is gone without a final event"
    else:
        why = f"failed: {st.error or st.state}"
    return f"forgetting check of {run_id} {why}; {kept_text(kept)}; {again} measures the rest"
