"""Tool calls: the tools a request declares, the calls an answer makes, and one text form of both.

An item keeps its answer as text. A tool-call answer is the canonical JSON text of its calls,
`{"name": ..., "arguments": {...}}` (a JSON list of such objects for parallel calls), so clusters,
corrections, DPO pairs and graders work on it unchanged; the structured forms (OpenAI's
`tool_calls` with arguments as a JSON string, LLaMA-Factory's `function_call` turns) are made from
it where a file or a chat template wants them.

Tools are kept in OpenAI's shape, `{"type": "function", "function": {name, description,
parameters}}`; bare function definitions (LLaMA-Factory's glaive files) are wrapped on the way in.

Chat templates that cannot render tools (SmolLM2's, the embedded model's) get the fallback of
`fallback_messages`: the definitions go into the system turn with an instruction to answer a call
as that canonical JSON, and earlier calls in the conversation are written the same way. Training,
evaluation and export all render through it, so the model is asked exactly as it was taught.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from ftui.core.base.errors import FtuiError

Call = dict[str, Any]  # {"name": str, "arguments": object}

FALLBACK_INSTRUCTION = (
    "You can call the tools below. To call one, answer with only a JSON object "
    '{"name": <tool name>, "arguments": <an object matching its parameters>}; '
    "to call several at once, a JSON list of such objects."
)
_TAGS = re.compile(r"^\s*(?:<tool_call>|<\|python_tag\|>)?\s*(.*?)\s*(?:</tool_call>)?\s*$", re.DOTALL)
_FENCE = re.compile(r"^\s*```(?:json|JSON)?\s*\n?(.*?)```\s*$", re.DOTALL)


class ToolError(FtuiError):
    pass


# --- tools ------------------------------------------------------------------------------------


def normalise_tools(value: Any) -> list[dict[str, Any]]:
    """Tool definitions in OpenAI's shape, from a list or its JSON text (LLaMA-Factory's `tools`)."""
    if isinstance(value, str):
        if not value.strip():
            return []
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ToolError(f"tools are not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(value, list):
        raise ToolError(f"tools must be a list of tool definitions, got {type(value).__name__}")
    out = []
    for i, tool in enumerate(value):
        fn = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else tool
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise ToolError(f"tools[{i}] has no function name")
        out.append({"type": "function", "function": fn})
    return out


def tools_text(tools: list[dict[str, Any]]) -> str:
    """The hashable form an item keeps."""
    return json.dumps(tools, ensure_ascii=False, sort_keys=True)


def load_tools(value: Any) -> list[dict[str, Any]]:
    """An item's or a row's tools (text or list); [] when there are none."""
    if not value:
        return []
    return normalise_tools(value)


def functions(tools: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The bare function definitions (LLaMA-Factory's `tools` column)."""
    return [t["function"] for t in tools]


def tool_names(tools: Iterable[dict[str, Any]]) -> list[str]:
    return [t["function"]["name"] for t in tools]


def tool_summary(value: Any) -> str:
    """One line a tool: name(required arguments) — description."""
    lines = []
    for t in load_tools(value):
        fn = t["function"]
        params = fn.get("parameters") if isinstance(fn.get("parameters"), dict) else {}
        args = ", ".join(map(str, params.get("required") or []))
        desc = f" — {fn['description']}" if fn.get("description") else ""
        lines.append(f"{fn['name']}({args}){desc}")
    return "\n".join(lines)


def schema_of(tools: Iterable[dict[str, Any]], name: str) -> dict[str, Any] | None:
    for t in tools:
        if t["function"]["name"] == name:
            params = t["function"].get("parameters")
            return params if isinstance(params, dict) else {"type": "object"}
    return None


# --- calls ------------------------------------------------------------------------------------


def _args(value: Any) -> Any:
    # OpenAI sends arguments as a JSON string; a string that is not JSON is kept as it is, and the
    # schema check reports it.
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return {} if value is None else value


def _one_call(obj: Any) -> Call | None:
    if not isinstance(obj, dict):
        return None
    if isinstance(obj.get("function"), dict):  # an OpenAI tool_calls entry
        obj = obj["function"]
    name = obj.get("name")
    if not isinstance(name, str) or not name:
        return None
    if not set(obj) <= {"name", "arguments", "parameters", "id", "type"}:
        return None
    return {"name": name, "arguments": _args(obj.get("arguments", obj.get("parameters")))}


def calls_of(value: Any) -> list[Call] | None:
    """Calls from a decoded JSON value: one call object, a list of them, or OpenAI tool_calls entries."""
    items = value if isinstance(value, list) else [value]
    if not items:
        return None
    calls = [_one_call(x) for x in items]
    if any(c is None for c in calls):
        return None
    return [c for c in calls if c is not None]


def call_text(calls: list[Call]) -> str:
    """The canonical text of calls: what an item keeps and what the fallback teaches."""
    objs = [{"name": c["name"], "arguments": c["arguments"]} for c in calls]
    return json.dumps(objs[0] if len(objs) == 1 else objs, ensure_ascii=False)


def parse_calls(text: str, lenient: bool = False) -> list[Call] | None:
    """The calls an answer's text makes, or None when it is not a call.

    Strict: the whole text is the call (a code fence or <tool_call> tags around it allowed).
    Lenient (grading a model's output): the first JSON object or list in the text.
    """
    if not text:
        return None
    body = text
    m = _FENCE.match(body)
    if m:
        body = m.group(1)
    m = _TAGS.match(body)
    if m:
        body = m.group(1)
    body = body.strip()
    if not body or body[0] not in "{[":
        if not lenient:
            return None
        starts = [i for i in (body.find("{"), body.find("[")) if i >= 0]
        if not starts:
            return None
        body = body[min(starts) :]
    try:
        value, end = json.JSONDecoder().raw_decode(body)
    except json.JSONDecodeError:
        return None
    if not lenient and body[end:].strip():
        return None
    return calls_of(value)


def calls_from_openai(tool_calls: Any) -> list[Call] | None:
    return calls_of(tool_calls) if isinstance(tool_calls, list) else None


def calls_to_openai(calls: list[Call], ids: list[str] | None = None) -> list[dict[str, Any]]:
    out = []
    for i, c in enumerate(calls):
        args = c["arguments"]
        out.append(
            {
                "id": ids[i] if ids and i < len(ids) else f"call_{i}",
                "type": "function",
                "function": {
                    "name": c["name"],
                    "arguments": args if isinstance(args, str) else json.dumps(args, ensure_ascii=False),
                },
            }
        )
    return out


def message_text(m: dict[str, Any]) -> str | None:
    """An assistant message's calls as canonical text (OpenAI tool_calls or the older function_call)."""
    calls = calls_from_openai(m.get("tool_calls")) if m.get("tool_calls") else None
    if calls is None and isinstance(m.get("function_call"), dict):
        calls = calls_of(m["function_call"])
    return call_text(calls) if calls else None


def answer_message(text: str, tools: list[dict[str, Any]], ids: list[str] | None = None) -> dict[str, Any]:
    """The assistant message for an answer: a tool_calls message when the text is a call and the
    request declared tools, else plain content."""
    calls = parse_calls(text) if tools else None
    if calls:
        return {"role": "assistant", "content": None, "tool_calls": calls_to_openai(calls, ids)}
    return {"role": "assistant", "content": text}


def structured(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Plain (role, text) messages with their calls made structured: assistant call text becomes
    tool_calls, and each tool result answers the call before it (tool_call_id). A message marked
    `call` (a sharegpt function_call turn) is a call whatever the tools; with no tools, only those are."""
    if not tools and not any(m.get("call") for m in messages):
        return messages
    out = []
    pending: list[str] = []
    n = 0
    for m in messages:
        marked = bool(m.get("call"))
        if marked:
            m = {k: v for k, v in m.items() if k != "call"}
        if m.get("role") == "assistant" and isinstance(m.get("content"), str) and (tools or marked):
            calls = parse_calls(m["content"])
            if calls is None and marked:
                raise ToolError(f"a function_call turn that is not a call: {m['content'][:60]!r}")
            if calls:
                ids = [f"call_{n + i}" for i in range(len(calls))]
                n += len(calls)
                pending = list(ids)
                out.append({"role": "assistant", "content": None, "tool_calls": calls_to_openai(calls, ids)})
                continue
        if m.get("role") == "tool" and "tool_call_id" not in m:
            m = {**m, "tool_call_id": pending.pop(0) if pending else f"call_{n}"}
        out.append(m)
    return out


def plain(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Structured messages as role/content text: calls as their canonical text."""
    out = []
    for m in messages:
        text = message_text(m) if m.get("role") == "assistant" else None
        content = m.get("content")
        if text is None:
            text = content if isinstance(content, str) else ("" if content is None else json.dumps(content))
        out.append({"role": str(m.get("role")), "content": text})
    return out


# --- the fallback for chat templates without tools -----------------------------------------------


def system_with_tools(system: str, tools: list[dict[str, Any]]) -> str:
    lines = [json.dumps(fn, ensure_ascii=False) for fn in functions(tools)]
    head = f"{system}\n\n" if system else ""
    return head + FALLBACK_INSTRUCTION + "\n" + "\n".join(lines)


def fallback_messages(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages for a chat template that cannot render tools: the definitions in the system turn,
    calls as their canonical JSON text, tool results as `tool` turns."""
    msgs = plain(messages)
    if not tools:
        return msgs
    if msgs and msgs[0]["role"] == "system":
        return [{"role": "system", "content": system_with_tools(msgs[0]["content"], tools)}, *msgs[1:]]
    return [{"role": "system", "content": system_with_tools("", tools)}, *msgs]


def template_inputs(
    messages: list[dict[str, Any]], tools: Any, renders_tools: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """(messages, tools for the template) for a chat template that does or does not render tools:
    the one place that picks between the template's own rendering and the fallback."""
    tools = load_tools(tools)
    if not tools:
        return plain(messages), None
    if renders_tools:
        return messages, tools
    return fallback_messages(messages, tools), None


PROBE_TOOL = "ftui_probe_tool_7f3a"
PROBE = [{"type": "function", "function": {"name": PROBE_TOOL, "description": "", "parameters": {"type": "object"}}}]


# --- checking calls against the tools' schemas -----------------------------------------------------


def call_problems(call: Call, tools: list[dict[str, Any]]) -> list[str]:
    """Why a call does not fit the declared tools: an unknown tool, or arguments its schema rejects."""
    schema = schema_of(tools, call["name"])
    if schema is None:
        names = ", ".join(tool_names(tools)) or "(none)"
        return [f"calls `{call['name']}`, which is not a declared tool ({names})"]
    return schema_problems(call["arguments"], schema)


def schema_problems(arguments: Any, schema: dict[str, Any]) -> list[str]:
    import jsonschema

    try:
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        return [f"the tool's parameters are not a valid JSON schema ({exc.message})"]
    out = []
    for err in sorted(cls(schema).iter_errors(arguments), key=lambda e: list(map(str, e.absolute_path))):
        where = ".".join(map(str, err.absolute_path))
        out.append(f"`{where}`: {err.message}" if where else err.message)
    return out
