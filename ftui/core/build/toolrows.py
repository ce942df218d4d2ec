"""Training rows that carry tools: OpenAI's chat fine-tuning layout, `tools` beside `messages`."""

from __future__ import annotations

from typing import Any

from ftui.core.base import toolcalls


def with_tools(row: dict[str, Any], tools: list[dict[str, Any]]) -> dict[str, Any]:
    """The row with its request's tools, and `parallel_tool_calls` off unless an answer makes several
    calls at once (OpenAI's fine-tuning then trains single calls, as the answers show)."""
    if not tools:
        return row
    answers = [m for key in ("messages", "completion", "chosen", "rejected") for m in row.get(key) or []]
    parallel = any(len(m.get("tool_calls") or []) > 1 for m in answers if m.get("role") == "assistant")
    return {**row, "tools": tools, "parallel_tool_calls": parallel}


def call_findings(row: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, message) for each tool call of a row that does not fit its tools: an unknown tool,
    arguments that are not JSON, or arguments the tool's JSON schema rejects."""
    tools = toolcalls.load_tools(row.get("tools"))
    out = []
    for key in ("messages", "prompt", "completion", "chosen", "rejected"):
        for j, m in enumerate(row.get(key) or []):
            if not isinstance(m, dict) or not m.get("tool_calls"):
                continue
            for k, call in enumerate(m["tool_calls"] if isinstance(m["tool_calls"], list) else [None]):
                at = f"{key}[{j}].tool_calls[{k}]"
                one = toolcalls.calls_of(call)
                if not one:
                    out.append(("bad_tool_call", f"{at} is not a call ({{id, type, function: {{name, arguments}}}})"))
                    continue
                if isinstance(one[0]["arguments"], str):
                    out.append(("bad_tool_call", f"{at}: arguments are not valid JSON"))
                    continue
                if not tools:
                    out.append(("bad_tool_call", f"{at} calls `{one[0]['name']}` but the row declares no tools"))
                    continue
                out += [("bad_tool_call", f"{at}: {p}") for p in toolcalls.call_problems(one[0], tools)]
    return out
