"""Rebuild the sample run log: the embedded base model answers every question, ftui grades it.

The answers go through the same path an evaluation uses (ftui.engine.infer.generate with the model's
chat template, prompts from ftui.core.workspace.prompts.messages_for) and the grades through
ftui.core.grade.grading with the workspace's own grader choice, so the run log is the base model's real
behaviour, not something written to look like it.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

from ftui.core.base.formatting import duration
from ftui.core.base.fsutil import atomic_write_text
from ftui.core.grade.grading import grade, spec_for
from ftui.core.logs.items import Item
from ftui.core.workspace.prompts import messages_for
from ftui.core.workspace.workspace import Workspace
from ftui.sample.labels import failure_label
from ftui.sample.questions import Question, all_questions

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "sample_data"


def _item(q: Question, system_prompt: str, source: Path) -> Item:
    return Item(
        id=q.id,
        question=q.question,
        answer="",
        expected=q.expected,
        grade=None,
        retrieval_hit=q.retrieval_hit,
        label=None,
        system_prompt=system_prompt,
        evidence_text=q.evidence_text,
        evidence_files=tuple(q.evidence_files),
        prompt=None,
        task=q.task,
        line=0,
        source=source,
    )


def _ensure_run_log(sample_dir: Path) -> None:
    # The workspace refuses to load without its run log; on a first regeneration there is none yet.
    import yaml

    cfg = yaml.safe_load((sample_dir / "ftui.yaml").read_text(encoding="utf-8")) or {}
    path = sample_dir / cfg.get("run_log", "run_log.jsonl")
    if not path.exists():
        path.write_text("", encoding="utf-8")


def regenerate(sample_dir: Path = SAMPLE_DIR, out: Path | None = None, limit: int | None = None, log=print) -> dict:
    """Answer, grade and label every question; write the run log; return per-type pass counts."""
    from ftui.engine.infer.generate import generate_answers

    sample_dir = Path(sample_dir)
    _ensure_run_log(sample_dir)
    ws = Workspace.load(sample_dir)
    out = Path(out) if out is not None else ws.run_log
    questions = all_questions(sample_dir)
    if limit:
        questions = questions[:limit]
    records = [q.record() for q in questions]
    items = [_item(q, r["system_prompt"], out) for q, r in zip(questions, records, strict=False)]
    messages = [messages_for(it, ws.prompt) for it in items]
    log(
        f"answering {len(items)} questions with {ws.model} (max_new_tokens={ws.eval.max_new_tokens}, batch {ws.eval.batch_size})..."
    )
    t0 = time.time()
    answers = generate_answers(ws.model, messages, max_new_tokens=ws.eval.max_new_tokens, batch_size=ws.eval.batch_size)
    log(f"answered in {duration(time.time() - t0)}")
    per_task: dict[str, Counter] = {}
    lines = []
    for rec, it, answer in zip(records, items, answers, strict=False):
        g = grade(answer, it.expected, spec_for(ws, it), question=it.question)
        rec["answer"] = answer
        rec["grade"] = "correct" if g.passed else "incorrect"
        rec["grade_reason"] = g.reason
        rec["grader"] = g.grader
        rec["failure_label"] = failure_label(it.task, g.passed, g.reason, it.retrieval_hit)
        rec["model"] = ws.model
        c = per_task.setdefault(it.task, Counter())
        c["items"] += 1
        c["passed"] += int(g.passed)
        if rec["failure_label"]:
            c[rec["failure_label"]] += 1
        lines.append(json.dumps(rec, ensure_ascii=False))
    atomic_write_text(out, "\n".join(lines) + "\n")
    log(f"wrote {len(lines)} graded answers to {out}")
    return {task: dict(c) for task, c in per_task.items()}
