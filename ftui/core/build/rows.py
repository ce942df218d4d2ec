"""The rows a build writes: chat (SFT), TRL's prompt/completion, and DPO preference pairs."""

from __future__ import annotations

import json
from typing import Any

from ftui.core.build.plan import Example
from ftui.core.build.toolrows import with_tools
from ftui.core.workspace.prompts import messages_for, tools_of, with_answer
from ftui.core.workspace.workspace import Workspace


def sft_row(ex: Example, ws: Workspace) -> dict[str, Any]:
    tools = tools_of(ex.item)
    return with_tools(
        {
            "id": ex.item.id,
            "cluster": ex.cluster,
            "kind": ex.kind,
            "messages": with_answer(messages_for(ex.item, ws.prompt), ex.target, tools),
        },
        tools,
    )


def pc_row(ex: Example, ws: Workspace) -> dict[str, Any]:
    # TRL's conversational prompt/completion: the loss covers only the completion.
    tools = tools_of(ex.item)
    return with_tools(
        {
            "id": ex.item.id,
            "cluster": ex.cluster,
            "kind": ex.kind,
            "prompt": messages_for(ex.item, ws.prompt),
            "completion": with_answer([], ex.target, tools),
        },
        tools,
    )


def dpo_row(ex: Example, ws: Workspace) -> dict[str, Any]:
    tools = tools_of(ex.item)
    return with_tools(
        {
            "id": ex.item.id,
            "cluster": ex.cluster,
            "prompt": messages_for(ex.item, ws.prompt),
            "chosen": with_answer([], ex.target, tools),
            "rejected": with_answer([], ex.rejected or "", tools),
        },
        tools,
    )


def jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
