"""Editing a tool call as a call: a skeleton for a chosen tool, and a verdict on the text as typed."""

from __future__ import annotations

import json
from typing import Any

from ftui.core.base import toolcalls

# A placeholder per JSON-schema type, so a skeleton parses and the schema check names what to fill.
_BLANK: dict[str, Any] = {"string": "", "number": 0, "integer": 0, "boolean": False, "array": [], "object": {}}


def skeleton(name: str, tools: list[dict[str, Any]], current: str = "") -> str:
    """The call to `name` as indented JSON: the arguments already typed that the tool accepts, then a
    placeholder for each required one still missing."""
    schema = toolcalls.schema_of(tools, name) or {}
    raw = schema.get("properties")
    props: dict[str, Any] = raw if isinstance(raw, dict) else {}
    calls = toolcalls.parse_calls(current, lenient=True) if current.strip() else None
    old = calls[0]["arguments"] if calls and isinstance(calls[0]["arguments"], dict) else {}
    args = {k: v for k, v in old.items() if k in props or not props}
    for key in schema.get("required") or []:
        if key not in args:
            spec = props.get(key) or {}
            enum = spec.get("enum")
            args[key] = enum[0] if enum else _BLANK.get(str(spec.get("type")), "")
    return json.dumps({"name": name, "arguments": args}, ensure_ascii=False, indent=2)


def verdict(text: str, tools: list[dict[str, Any]]) -> tuple[bool | None, str]:
    """(ok, line) for the editor's text: None when empty, else whether it is a call the tools accept."""
    if not text.strip():
        return None, "tool call · T picks a tool: " + ", ".join(toolcalls.tool_names(tools))
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return False, f"tool call ✘ JSON line {exc.lineno} col {exc.colno}: {exc.msg}"
    calls = toolcalls.parse_calls(text)
    if not calls:
        return False, 'tool call ✘ not a call: {"name": ..., "arguments": {...}}'
    problems = [p for c in calls for p in toolcalls.call_problems(c, tools)]
    if problems:
        return False, f"tool call ✘ {problems[0]}" + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else "")
    return True, "tool call ✔ " + ", ".join(f"{c['name']}({', '.join(c['arguments'])})" for c in calls)
