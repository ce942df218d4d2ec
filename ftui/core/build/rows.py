"""The rows a build writes: chat (SFT), TRL's prompt/completion, DPO preference pairs, and GRPO
prompts with the grader that rewards their answers."""

from __future__ import annotations

import json
from typing import Any

from ftui.core.build.plan import Example
from ftui.core.build.toolrows import with_tools
from ftui.core.grade.grading import spec_for
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


def grpo_row(ex: Example, ws: Workspace) -> dict[str, Any]:
    # The same grader spec and expected answer the evaluation grades with, so the reward during
    # training and the pass in the comparison are one rule.
    tools = tools_of(ex.item)
    return with_tools(
        {
            "id": ex.item.id,
            "cluster": ex.cluster,
            "kind": ex.kind,
            "prompt": messages_for(ex.item, ws.prompt),
            "question": ex.item.question,
            "expected": ex.item.expected,
            "grader": spec_for(ws, ex.item),
        },
        tools,
    )


def jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
