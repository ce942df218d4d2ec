"""promptfoo's output file (`promptfoo eval -o out.json`, or `out.jsonl`).

The JSON file is one document: `{"evalId", "results": {"version", "timestamp", "prompts",
"results": [...], "stats"}, "config", ...}`; the JSONL file holds one of those results a line. Each
result: `testIdx`, `promptIdx`, `testCase` (`vars`, `assert`, `description`), `prompt.raw` (the
rendered prompt; a JSON message list for chat prompts), `response.output` (text, or an object when
the provider returns JSON), `vars`, `success`, `score`, `gradingResult` (`pass`, `score`,
`reason`, `componentResults`), `error`, `failureReason`. `success` is the grade.

A call is kept as a call. promptfoo's OpenAI chat provider returns, as `response.output`, the
message's `tool_calls` list when it has no text, the whole message when it has both, and the
older `function_call` object; each becomes the canonical call text (ftui.core.base.toolcalls). The tool
definitions are not in a result (they are the provider's `config.tools`, often a `file://` path).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ftui.core.base import toolcalls
from ftui.core.logs.passrule import PassRuleConfig
from ftui.core.logs.records import Diagnostic, array_records, find_array, jsonl_records, read_text
from ftui.core.logs.sources.lm_eval import _prompt
from ftui.core.logs.sources.source import Converted, Options, Records, Source, mapping, not_format

_EXPECTING = ("equals", "contains", "icontains", "starts-with", "regex", "contains-json", "is-json")
_QUESTION_VARS = ("question", "query", "input", "prompt", "text")


def _failed_assertion(grading: Any) -> str | None:
    if not isinstance(grading, dict):
        return None
    for comp in grading.get("componentResults") or []:
        if isinstance(comp, dict) and comp.get("pass") is False:
            kind = mapping(comp.get("assertion")).get("type")
            if isinstance(kind, str):
                return kind
    return None


def to_record(res: Any) -> Converted:
    if not isinstance(res, dict) or "testIdx" not in res or "success" not in res:
        return None, "a result needs `testIdx` and `success`"
    if not isinstance(res["success"], bool):
        return None, f"`success` must be true/false, got {json.dumps(res['success'])[:30]}"
    test = mapping(res.get("testCase"))
    vars_ = mapping(res.get("vars") if isinstance(res.get("vars"), dict) else test.get("vars"))
    prompt = mapping(res.get("prompt"))
    raw = prompt.get("raw")
    response = mapping(res.get("response"))
    output = response.get("output")
    calls = _calls(output)
    if calls is not None:
        answer = calls
    else:
        answer = output if isinstance(output, str) else ("" if output is None else json.dumps(output))
    expected = None
    for a in test.get("assert") or []:
        if isinstance(a, dict) and a.get("type") in _EXPECTING and isinstance(a.get("value"), str):
            expected = a["value"]
            break
    if expected is None:
        for key in ("expected", "answer", "expected_answer"):
            if isinstance(vars_.get(key), str):
                expected = vars_[key]
                break
    question = next((vars_[k] for k in _QUESTION_VARS if isinstance(vars_.get(k), str)), None)
    grading = res.get("gradingResult")
    reason = (grading or {}).get("reason") if isinstance(grading, dict) else None
    reason = reason or res.get("failureReason") if isinstance(res.get("failureReason"), str) else reason
    if res.get("error") and not reason:
        reason = str(res["error"])
    score = res.get("score")
    note = f"score {score:g}" if isinstance(score, (int, float)) and not isinstance(score, bool) else ""
    if isinstance(reason, str) and reason:
        note = f"{note}: {reason}" if note else reason
    pidx = res.get("promptIdx") or 0
    return {
        "question_id": f"{res['testIdx']}" + (f"@{pidx}" if pidx else ""),
        "question": question or (test.get("description") if isinstance(test.get("description"), str) else None),
        "prompt": _prompt(raw) if isinstance(raw, str) else raw,
        "answer": answer,
        "expected_answer": expected,
        "grade": res["success"],
        "grade_reason": note or None,
        "failure_label": _failed_assertion(grading) if not res["success"] else None,
        "record": res,
    }, ""


def _calls(output: Any) -> str | None:
    """The canonical text of the calls in a provider's structured output, or None when it is not calls."""
    if isinstance(output, list):
        calls = (
            toolcalls.calls_from_openai(output)
            if all(isinstance(c, dict) and "function" in c for c in output)
            else None
        )
        return toolcalls.call_text(calls) if calls else None
    if not isinstance(output, dict):
        return None
    if output.get("tool_calls") or isinstance(output.get("function_call"), dict):
        return toolcalls.message_text(output)
    # A bare function_call: OpenAI gives its arguments as JSON text.
    if set(output) == {"name", "arguments"} and isinstance(output["arguments"], str):
        calls = toolcalls.calls_of(output)
        return toolcalls.call_text(calls) if calls else None
    return None


def records(path: Path, diags: list[Diagnostic], options: Options | None = None) -> Records:
    with open(path, "rb") as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"{") and b"\n" in head and _is_jsonl(head):
        rows = jsonl_records(path, diags)
    else:
        text = read_text(path, diags)
        start = find_array(text, ("results", "results"))
        if start is None:
            diags.append(
                not_format(path, "promptfoo", "no `results.results` array (write it with `promptfoo eval -o out.json`)")
            )
            return
        rows = array_records(path, text, diags, start)
    for line, res in rows:
        rec, why = to_record(res)
        if rec is None:
            diags.append(Diagnostic(path, line, why, "not_source_format"))
            continue
        yield path, line, rec


def _is_jsonl(head: bytes) -> bool:
    first = head.split(b"\n", 1)[0].strip()
    try:
        obj = json.loads(first)
    except json.JSONDecodeError:
        return False
    return isinstance(obj, dict) and "testIdx" in obj


def looks_like(rec: Any) -> bool:
    if not isinstance(rec, dict):
        return False
    if "testIdx" in rec and ("response" in rec or "success" in rec):
        return True
    res = rec.get("results")
    return isinstance(res, dict) and isinstance(res.get("results"), list)


SOURCE = Source(
    name="promptfoo",
    title="promptfoo output",
    patterns=("*.json", "*.jsonl"),
    rule=PassRuleConfig(values=[True]),
    records=records,
    looks_like=looks_like,
)
