"""inspect_ai eval logs: the zipped `.eval` files it writes by default, and the `.json` format.

A `.eval` file is a zip: `header.json` (the log without samples: `eval.task`, `results`, ...) and
`samples/<id>_epoch_<n>.json`, one sample each (plus `_journal/`, `summaries.json`,
`reductions.json`). A `.json` log is one document: `{"version", "status", "eval", "plan",
"results", "stats", "samples": [...]}`. A sample: `id`, `epoch`, `input` (text or a message list),
`target`, `messages` (the whole conversation), `output.choices[0].message.content`,
`scores{<scorer>: {value, answer, explanation}}` with values "C"/"I"/"P"/"N", numbers or
true/false. Each epoch of a sample is one attempt at its question.

Agent samples keep their calls. An assistant message's `tool_calls` are inspect's ToolCall
(`{id, function: <name>, arguments: {...}, type, parse_error}`), a tool result is
`{role: "tool", tool_call_id, function, error: {type, message}}`, and the tools offered are the
`tools` (ToolInfo: `{name, description, parameters: {type, properties, required,
additionalProperties}, options}`) of the `model` event in `events` that produced the answer. Event
text longer than 100 characters (a long tool description) is stored once in the sample's
`attachments` and referenced as `attachment://<hash>`. These become OpenAI's shapes, the ones the
run-log reader takes: assistant `tool_calls`, `tool` turns with their `tool_call_id`, and `tools`.

inspect_ai compresses `.eval` members with Zstandard (ZIP method 93) since its April 2026
releases; Python's zipfile reads that from 3.14 on, and through `zipfile_zstd` (what inspect_ai
itself uses) before.
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path
from typing import Any

from ftui.core.base import toolcalls
from ftui.core.base.chat import as_conversation, content_text
from ftui.core.logs.passrule import PassRuleConfig
from ftui.core.logs.records import Diagnostic, array_records, find_array, read_text, value_at
from ftui.core.logs.sources.source import Converted, Options, Records, Source, mapping, not_format, sequence


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
    final = choices[0].get("message") if choices and isinstance(choices[0], dict) else None
    answer: Any = None
    if isinstance(final, dict):
        # A final answer that is a call is kept as OpenAI's assistant message; the reader makes it the call.
        calls = _openai_calls(final)
        answer = (
            {"role": "assistant", "content": None, "tool_calls": calls} if calls else content_text(final.get("content"))
        )
    if answer is None:
        answer = output.get("completion") if isinstance(output.get("completion"), str) else ""
    inp = sample["input"]
    messages = sample.get("messages")
    prompt: Any = inp
    if any(isinstance(m, dict) and m.get("tool_calls") for m in sequence(messages)):
        prompt = _agent_conversation(sequence(messages)) or inp
    else:
        # The conversation the model saw (solver system prompts included) is `messages` up to its answer.
        conv = as_conversation(messages)
        if conv and conv[-1][0] == "assistant":
            prompt = [{"role": r, "content": t} for r, t in conv]
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
        "tools": _tools(sample, final),
        "record": sample,
    }, ""


def _openai_calls(message: dict[str, Any]) -> list[dict[str, Any]] | None:
    """An inspect assistant message's ToolCalls as OpenAI `tool_calls` entries, ids kept."""
    raw = [tc for tc in sequence(message.get("tool_calls")) if isinstance(tc, dict)]
    if not raw:
        return None
    # inspect names the function as text and gives the arguments as an object; OpenAI nests both.
    entries = [
        tc
        if isinstance(tc.get("function"), dict)
        else {"function": {"name": tc.get("function"), "arguments": tc.get("arguments")}}
        for tc in raw
    ]
    calls = toolcalls.calls_from_openai(entries)
    if not calls:
        return None
    return toolcalls.calls_to_openai(calls, [str(tc.get("id") or f"call_{i}") for i, tc in enumerate(raw)])


def _text(content: Any) -> str:
    """A message's text; parts ftui does not read (server-side tool use, documents) are left out."""
    text = content_text(content)
    if text is not None:
        return text
    return "".join(p["text"] for p in sequence(content) if isinstance(p, dict) and isinstance(p.get("text"), str))


def _agent_conversation(messages: list[Any]) -> list[dict[str, Any]] | None:
    """The conversation with its calls and their results, up to the last assistant message (the answer)."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant", "tool"):
            return None
        role = m["role"]
        calls = _openai_calls(m) if role == "assistant" else None
        if calls:
            out.append({"role": "assistant", "content": _text(m.get("content")) or None, "tool_calls": calls})
        elif role == "tool":
            # What the model was shown: inspect's OpenAI provider sends a failed call as "Error: <message>".
            error = mapping(m.get("error")).get("message")
            text = f"Error: {error}" if isinstance(error, str) else _text(m.get("content"))
            out.append({"role": "tool", "tool_call_id": str(m.get("tool_call_id") or ""), "content": text})
        else:
            out.append({"role": role, "content": _text(m.get("content"))})
    last = max((i for i, m in enumerate(out) if m["role"] == "assistant"), default=None)
    return out[: last + 1] if last is not None else None


def _resolve(value: Any, attachments: dict[str, Any]) -> Any:
    """`value` with its `attachment://<hash>` references replaced by the sample's attachments."""
    if isinstance(value, str):
        if value.startswith("attachment://"):
            found = attachments.get(value[len("attachment://") :])
            return found if isinstance(found, str) else value
        return value
    if isinstance(value, dict):
        return {k: _resolve(v, attachments) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, attachments) for v in value]
    return value


def _tools(sample: dict[str, Any], final: Any) -> list[dict[str, Any]] | None:
    """The tools offered when the answer was generated, in OpenAI's shape; None when there were none."""
    transcript = mapping(sample.get("transcript"))  # logs before `events` kept them here
    events = sequence(sample.get("events")) or sequence(transcript.get("events"))
    models = [e for e in events if isinstance(e, dict) and e.get("event") == "model"]
    if not models:
        return None
    # The model event whose output is the answer; else (no ids) the last one that offered tools.
    final_id = final.get("id") if isinstance(final, dict) else None
    event = next((e for e in reversed(models) if final_id and _output_id(e) == final_id), None)
    if event is None:
        event = next((e for e in reversed(models) if e.get("tools")), None)
    infos = [t for t in sequence(event.get("tools") if event else None) if isinstance(t, dict)]
    if not infos:
        return None
    attachments = mapping(sample.get("attachments") or transcript.get("content"))
    fns = [
        {
            "name": t.get("name"),
            "description": t.get("description") or "",
            "parameters": t.get("parameters") or {"type": "object", "properties": {}},
        }
        for t in _resolve(infos, attachments)
    ]
    try:
        return toolcalls.normalise_tools(fns)
    except toolcalls.ToolError:
        return None


def _output_id(event: dict[str, Any]) -> Any:
    choices = sequence(mapping(event.get("output")).get("choices"))
    return mapping(mapping(choices[0]).get("message")).get("id") if choices else None


def _zip_records(path: Path, diags: list[Diagnostic]) -> Records:
    if sys.version_info < (3, 14):
        import zipfile_zstd  # noqa: F401  (teaches zipfile the Zstandard members inspect_ai writes)
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
                except NotImplementedError as exc:  # a compression this Python cannot read
                    diags.append(not_format(path, "inspect_ai", f"{head}: {exc}"))
                    return
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
            except NotImplementedError as exc:
                diags.append(Diagnostic(where, 1, str(exc), "not_source_format"))
                continue
            rec, why = to_record(sample, task)
            if rec is None:
                diags.append(Diagnostic(where, 1, why, "not_source_format"))
                continue
            yield where, 1, rec


def records(path: Path, diags: list[Diagnostic], options: Options | None = None) -> Records:
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
