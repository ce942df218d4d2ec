"""OpenAI evals record files (`oaieval ... --record_path run.jsonl`).

JSONL: a first line `{"spec": {...}}` (eval_name, run_id, ...), then one event a line (`run_id`,
`event_id`, `sample_id`, `type`, `data`, `created_by`, `created_at`), and a last
`{"final_report": ...}`. Events of one sample are joined on `sample_id`: a `sampling` event
(`data.prompt`: text or a message list, `data.sampled`) and the `match` event that grades it
(`data.correct`, `data.expected`, `data.picked`, `data.sampled`). `correct` is the grade.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ftui.core.logs.passrule import PassRuleConfig
from ftui.core.logs.records import Diagnostic, jsonl_records
from ftui.core.logs.sources.source import Options, Records, Source, mapping, not_format


def _text(v: Any) -> str | None:
    if isinstance(v, str):
        return v
    if isinstance(v, list) and v and all(isinstance(x, str) for x in v):
        return v[0] if len(v) == 1 else " | ".join(v)
    return None if v is None else str(v)


def records(path: Path, diags: list[Diagnostic], options: Options | None = None) -> Records:
    spec: dict[str, Any] = {}
    sampling: dict[str, dict[str, Any]] = {}
    matches: list[tuple[int, dict[str, Any]]] = []
    seen_events = False
    for line, ev in jsonl_records(path, diags):
        if not isinstance(ev, dict):
            diags.append(Diagnostic(path, line, "expected a JSON object", "not_object"))
            continue
        if "spec" in ev and isinstance(ev["spec"], dict):
            spec = ev["spec"]
            continue
        if "final_report" in ev:
            continue
        if "type" not in ev or "sample_id" not in ev:
            if not seen_events and line <= 2:
                diags.append(
                    not_format(path, "OpenAI evals", "no `spec` line and no events with `type` and `sample_id`")
                )
                return
            diags.append(Diagnostic(path, line, "an event needs `type` and `sample_id`", "not_source_format"))
            continue
        seen_events = True
        data = mapping(ev.get("data"))
        if ev["type"] == "sampling":
            # The first sampling of a sample is the prompt it was asked; later ones are follow-ups.
            sampling.setdefault(str(ev["sample_id"]), data)
        elif ev["type"] == "match":
            matches.append((line, ev))
    if seen_events and not matches:
        diags.append(
            not_format(path, "OpenAI evals", "no `match` events: this eval does not record a right/wrong verdict")
        )
    task = spec.get("eval_name") or spec.get("base_eval")
    for line, ev in matches:
        data = ev.get("data") or {}
        correct = data.get("correct")
        if not isinstance(correct, bool):
            diags.append(Diagnostic(path, line, "`data.correct` of a match event must be true/false", "wrong_type"))
            continue
        sid = str(ev["sample_id"])
        samp = sampling.get(sid, {})
        answer = _text(data.get("sampled")) or _text(samp.get("sampled")) or _text(data.get("picked")) or ""
        picked = data.get("picked")
        yield (
            path,
            line,
            {
                "question_id": sid,
                "prompt": samp.get("prompt"),
                "answer": answer,
                "expected_answer": _text(data.get("expected")),
                "grade": correct,
                "grade_reason": None if picked is None else f"picked {picked!r}",
                "task": task,
                "record": {"match": ev, "sampling": samp},
            },
        )


def looks_like(rec: Any) -> bool:
    if not isinstance(rec, dict):
        return False
    if isinstance(rec.get("spec"), dict) and ("eval_name" in rec["spec"] or "run_id" in rec["spec"]):
        return True
    return {"run_id", "event_id", "sample_id", "type"} <= rec.keys()


SOURCE = Source(
    name="openai_evals",
    title="OpenAI evals record",
    patterns=("*.jsonl",),
    rule=PassRuleConfig(values=[True]),
    records=records,
    looks_like=looks_like,
)
