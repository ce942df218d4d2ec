"""A drafting job: plan which items a teacher drafts, write the job folder `<state>/drafts/jobs/JOB/`
(config.json, items.jsonl, events.jsonl, pid, draft.log), start its child, list and find jobs."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftui.core.base import jobs
from ftui.core.base.fsutil import atomic_write_json, atomic_write_jsonl
from ftui.core.base.run_dirs import new_run_dir
from ftui.core.base.stack import require_train_stack
from ftui.core.curate.corrections import CorrectionStore, answer_hash, now_iso
from ftui.core.curate.drafts.store import DraftError, DraftStore, drafts_dir
from ftui.core.curate.drafts.teacher import (
    LOCAL,
    PromptSettings,
    Teacher,
    check_template,
    prompt_hash,
    prompt_settings,
    teacher_messages,
)
from ftui.core.grade.grading import spec_for

if TYPE_CHECKING:
    from ftui.core.curate.clusters import Cluster
    from ftui.core.curate.corrections import Correction
    from ftui.core.logs.items import Item
    from ftui.core.workspace.workspace import Workspace

JOBS = "jobs"
CONFIG = "config.json"
ITEMS = "items.jsonl"
EVENTS = "events.jsonl"
LOG = "draft.log"
ANSWER_CACHE = "draft_answers.jsonl"

DEFAULT_CONCURRENCY = 4
DEFAULT_MAX_NEW_TOKENS = 128
# Rows the local teacher decodes at once. Few-shot prompts run to thousands of tokens, and each row's
# KV cache grows with them: 16 rows of 3,000 tokens took SmolLM2-135M past 8 GB on CPU.
DEFAULT_BATCH_SIZE = 8


@dataclass
class DraftPlan:
    label: str
    teacher: Teacher
    settings: PromptSettings
    items: list[dict[str, Any]]
    examples: list[str]
    skipped: dict[str, int] = field(default_factory=dict)


def examples_for(cluster: Cluster, corrections: dict[str, Correction], limit: int) -> list[tuple[Item, str]]:
    out: list[tuple[Item, str]] = []
    for it in cluster.items:
        c = corrections.get(it.id)
        if c is not None and c.status == "corrected" and len(out) < limit:
            out.append((it, c.output))
    return out


def plan_drafts(
    ws: Workspace,
    cluster: Cluster,
    teacher: Teacher,
    settings: PromptSettings | None = None,
    *,
    ids: Iterable[str] | None = None,
    redraft: bool = False,
) -> DraftPlan:
    """Which items of `cluster` to draft, with the exact chat each one's teacher will see.

    Items that already have a correction are left alone (their examples teach the others); so are
    items whose pending or decided draft came from this very prompt, unless `redraft`.
    """
    settings = settings or prompt_settings(ws, cluster.label)
    check_template(settings.template)
    corrections = CorrectionStore(ws).all()
    drafts = DraftStore(ws).all()
    examples = examples_for(cluster, corrections, max(0, settings.examples))
    wanted = None if ids is None else {str(i) for i in ids}
    if wanted is not None:
        unknown = wanted - {it.id for it in cluster.items}
        if unknown:
            raise DraftError(f"not in cluster {cluster.label}: {', '.join(sorted(unknown)[:5])}")
    items: list[dict[str, Any]] = []
    skipped = {"corrected": 0, "already_drafted": 0}
    for it in cluster.items:
        if wanted is not None and it.id not in wanted:
            continue
        c = corrections.get(it.id)
        if c is not None and c.status in ("corrected", "skipped") and wanted is None:
            skipped["corrected"] += 1
            continue
        msgs = teacher_messages(it, ws, settings, examples, label=cluster.label)
        h = prompt_hash(msgs)
        d = drafts.get(it.id)
        if d is not None and d.prompt_hash == h and d.teacher == teacher.name and not redraft:
            skipped["already_drafted"] += 1
            continue
        items.append(
            {
                "id": it.id,
                "cluster": cluster.label,
                "question": it.question,
                "expected": it.expected,
                "grader": spec_for(ws, it),
                "messages": msgs,
                "prompt_hash": h,
                "original_hash": answer_hash(it.answer),
                "original": it.answer,  # for `trust.suspect`: a draft that repeats it is flagged
            }
        )
    return DraftPlan(cluster.label, teacher, settings, items, [ex.id for ex, _ in examples], skipped)


def _job_kind(label: str) -> str:
    """The cluster's label as the tail of a job id: `<UTC time>-<label>[-N]`, like a run's."""
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in label)[:40]


def write_job(
    ws: Workspace, plan: DraftPlan, *, concurrency: int, max_new_tokens: int, batch_size: int | None = None
) -> Path:
    if not plan.items:
        raise DraftError(f"nothing to draft in {plan.label}: every item has a correction or a draft from this prompt")
    d = new_run_dir(drafts_dir(ws) / JOBS, _job_kind(plan.label))
    job = d.name
    ev = ws.eval
    config = {
        "schema": 1,
        "job": job,
        "created": now_iso(),
        "workspace": str(ws.root),
        "cluster": plan.label,
        "teacher": plan.teacher.to_dict(),
        "teacher_name": plan.teacher.name,
        "settings": plan.settings.to_dict(),
        "examples": plan.examples,
        "concurrency": max(1, int(concurrency)),
        "max_new_tokens": max(1, int(max_new_tokens)),
        "batch_size": int(batch_size or DEFAULT_BATCH_SIZE),
        "device": ws.train.device,
        "drafts_dir": str(drafts_dir(ws)),
        "cache_dir": str(ws.state.cache),
        "judge": asdict(ev.judge) if ev.judge is not None else None,
    }
    atomic_write_jsonl(d / ITEMS, plan.items)
    atomic_write_json(d / CONFIG, config)
    return d


def start_job(job_dir: Path) -> int:
    (Path(job_dir) / jobs.STOP).unlink(missing_ok=True)
    return jobs.start_child(["draft", str(Path(job_dir).resolve())], Path(job_dir), LOG)


def start_drafting(
    ws: Workspace, cluster: Cluster, teacher: Teacher, settings: PromptSettings | None = None, **kw: Any
) -> tuple[Path, DraftPlan]:
    running = [j for j in list_jobs(ws) if j["state"] == "running" and j["cluster"] == cluster.label]
    if running:
        raise DraftError(f"{running[0]['dir']}: drafting of {cluster.label} is already running")
    plan_kw = {k: kw.pop(k) for k in ("ids", "redraft") if k in kw}
    plan = plan_drafts(ws, cluster, teacher, settings, **plan_kw)
    if teacher.kind == LOCAL:  # an endpoint teacher needs nothing installed here
        require_train_stack("drafting with the local model")
    job_dir = write_job(
        ws,
        plan,
        concurrency=kw.get("concurrency", DEFAULT_CONCURRENCY),
        max_new_tokens=kw.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS),
        batch_size=kw.get("batch_size"),
    )
    start_job(job_dir)
    return job_dir, plan


def resume_job(ws: Workspace, ref: str) -> Path:
    job_dir = find_job(ws, ref)
    st = jobs.job_state(job_dir)
    if st.state == "running":
        raise DraftError(f"{job_dir}: drafting job {job_dir.name} is still running (pid {st.pid})")
    if st.state == "finished":
        raise DraftError(f"{job_dir}: drafting job {job_dir.name} has finished; there is nothing to resume")
    jobs.mark_resume(job_dir)
    start_job(job_dir)
    return job_dir


def list_jobs(ws: Workspace) -> list[dict[str, Any]]:
    """Every drafting job, newest first, with its state and progress."""
    root = drafts_dir(ws) / JOBS
    if not root.is_dir():
        return []
    out: list[dict[str, Any]] = []
    for d in sorted((p for p in root.iterdir() if (p / CONFIG).is_file()), reverse=True):
        try:
            cfg = json.loads((d / CONFIG).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        st = jobs.job_state(d)
        prog = st.overall
        out.append(
            {
                "job": d.name,
                "dir": str(d),
                "cluster": cfg.get("cluster"),
                "teacher": cfg.get("teacher_name"),
                "state": st.state,
                "done": prog.get("done", 0),
                "total": prog.get("total", st.items),
                "passed": prog.get("passed", 0),
                "error": st.error,
                "message": st.message,
            }
        )
    return out


def find_job(ws: Workspace, ref: str) -> Path:
    jobs = drafts_dir(ws) / JOBS
    p = Path(ref).expanduser()
    if (p / CONFIG).is_file():
        return p.resolve()
    if ref in ("latest", "last"):
        found = list_jobs(ws)
        if not found:
            raise DraftError(f"{jobs}: no drafting jobs yet")
        return Path(found[0]["dir"])
    matches = sorted(d for d in jobs.glob(f"{ref}*") if (d / CONFIG).is_file()) if jobs.is_dir() else []
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise DraftError(f"{jobs}: job id {ref!r} is ambiguous: {', '.join(m.name for m in matches[:5])}")
    raise DraftError(f"{jobs}: no drafting job {ref!r}")


def stop_job(job_dir: Path | str) -> bool:
    return jobs.request_stop(Path(job_dir))


def progress_text(progress: dict[str, Any], total: int | str | None = None) -> str:
    """A drafting job's count from its latest `progress` event (or its fields), e.g. `3/7 drafted, 2 pass the grader`."""
    return (
        f"{progress.get('done', 0)}/{progress.get('total', total or '?')} drafted,"
        f" {progress.get('passed', 0)} pass the grader"
    )
