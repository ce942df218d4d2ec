"""LLaMA-Factory's sharegpt tool turns: `function_call` (the call as JSON text), `observation` (the
tool's result) and the `tools` column (the function definitions as one JSON string), as its
glaive_toolcall demo lays them out."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ftui.core.base import toolcalls


def structured_turns(msgs: list[dict[str, Any]], tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Read turns as OpenAI messages: a `function_call` turn (marked `call`) becomes tool_calls, each
    observation answers the call before it."""
    return toolcalls.structured(msgs, tools)


def tools_column(row: dict[str, Any]) -> dict[str, Any]:
    tools = row.get("tools")
    if tools is None:
        return {}
    return {"tools": json.dumps(toolcalls.functions(tools), ensure_ascii=False)}


def answer_turn(
    rid: str, msgs: list[dict[str, Any]], one: Callable[[str, list[dict[str, Any]]], str]
) -> dict[str, Any]:
    """A preference side: a `function_call` turn when the answer is a call, else a `gpt` turn."""
    if len(msgs) == 1 and (call := toolcalls.message_text(msgs[0])) is not None:
        return {"from": "function_call", "value": call}
    return {"from": "gpt", "value": one(rid, msgs)}
