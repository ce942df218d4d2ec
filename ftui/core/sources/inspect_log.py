"""inspect_ai eval logs: the zipped `.eval` files it writes by default, and the `.json` format.

A `.eval` file is a zip: `header.json` (the log without samples: `eval.task`, `results`, ...) and
`samples/<id>_epoch_<n>.json`, one sample each (plus `_journal/`, `summaries.json`,
`reductions.json`). A `.json` log is one document: `{"version", "status", "eval", "plan",
"results", "stats", "samples": [...]}`. A sample: `id`, `epoch`, `input` (text or a message list),
`target`, `messages` (the whole conversation), `output.choices[0].message.content`,
`scores{<scorer>: {value, answer, explanation}}` with values "C"/"I"/"P"/"N", numbers or
true/false. Each epoch of a sample is one attempt at its question.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from ftui.core.chat import as_conversation, content_text
from ftui.core.passrule import PassRuleConfig
from ftui.core.records import Diagnostic, array_records, find_array, read_text, value_at
from ftui.core.sources import Converted, Records, Source, mapping, not_format


def _score(scores: Any) -> tuple[str, Any, Any] | None:
    if not isinstance(scores, dict):
        return None
    for name, s in scores.items():
        if isinstance(s, dict) and isinstance(s.get("value"), (str, int, float, bool)):
            return name, s["value"], s.get("explanation")
    return None


def to_record(sample: Any, task: str | None) -> Converted:
    if not isinstance(sample, dict) or "id" not in sample or "input" not in sample:
        return None, "a sample needs `id` and `input`"
    score = _score(sample.get("scores"))
    if score is None:
        return None, "no scalar score in `scores` (was the sample scored?)"
    name, value, explanation = score
    output = mapping(sample.get("output"))
    choices = output.get("choices") or []
    answer = None
    if choices and isinstance(choices[0], dict) and isinstance(choices[0].get("message"), dict):
        answer = content_text(choices[0]["message"].get("content"))
    if answer is None:
        answer = output.get("completion") if isinstance(output.get("completion"), str) else ""
    inp = sample["input"]
    # The conversation the model saw (solver system prompts included) is `messages` up to its answer.
    conv = as_conversation(sample.get("messages"))
    if conv and conv[-1][0] == "assistant":
        prompt: Any = [{"role": r, "content": t} for r, t in conv]
    elif isinstance(inp, list):
        prompt = inp
    else:
        prompt = inp
    target = sample.get("target")
    expected = (
        target if isinstance(target, str) else (" | ".join(map(str, target)) if isinstance(target, list) else None)
    )
    return {
        "question_id": f"{task}/{sample['id']}" if task else str(sample["id"]),
        "question": inp if isinstance(inp, str) else None,
        "prompt": prompt,
        "answer": answer,
        "expected_answer": expected,
        "grade": value,
        "grade_reason": f"{name}: {explanation}" if isinstance(explanation, str) and explanation else name,
        "task": task,
        "record": sample,
    }, ""


def _zip_records(path: Path, diags: list[Diagnostic]) -> Records:
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        diags.append(not_format(path, "inspect_ai", f"not a readable .eval zip ({exc})"))
        return
    with zf:
        names = zf.namelist()
        task = None
        for head in ("header.json", "_journal/start.json"):
            if head in names:
                try:
                    task = json.loads(zf.read(head)).get("eval", {}).get("task")
                except (json.JSONDecodeError, AttributeError):
                    diags.append(Diagnostic(path / head, 1, "not valid JSON", "not_json"))
                break
        else:
            diags.append(not_format(path, "inspect_ai", "no header.json in the .eval zip"))
            return
        for name in names:
            if not (name.startswith("samples/") and name.endswith(".json")):
                continue
            where = path / name
            try:
                sample = json.loads(zf.read(name))
            except json.JSONDecodeError as exc:
                diags.append(
                    Diagnostic(where, exc.lineno, f"not valid JSON ({exc.msg} at column {exc.colno})", "not_json")
                )
                continue
            rec, why = to_record(sample, task)
            if rec is None:
                diags.append(Diagnostic(where, 1, why, "not_source_format"))
                continue
            yield where, 1, rec


def records(path: Path, diags: list[Diagnostic]) -> Records:
    if zipfile.is_zipfile(path):
        yield from _zip_records(path, diags)
        return
    text = read_text(path, diags)
    start = find_array(text, ("samples",))
    spec = value_at(text, ("eval",))
    task = spec.get("task") if isinstance(spec, dict) else None
    if start is None:
        diags.append(not_format(path, "inspect_ai", "no `samples` array (was the log written with samples?)"))
        return
    for line, sample in array_records(path, text, diags, start):
        rec, why = to_record(sample, task)
        if rec is None:
            diags.append(Diagnostic(path, line, why, "not_source_format"))
            continue
        yield path, line, rec


def looks_like(rec: Any) -> bool:
    if not isinstance(rec, dict):
        return False
    if "__zip__" in rec:
        names = rec["__zip__"]
        return "header.json" in names or any(n.startswith("samples/") for n in names)
    return isinstance(rec.get("eval"), dict) and "samples" in rec


SOURCE = Source(
    name="inspect",
    title="inspect_ai log",
    patterns=("*.eval", "*.json"),
    rule=PassRuleConfig(values=["C"]),
    records=records,
    looks_like=looks_like,
)
