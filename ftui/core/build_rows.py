"""The rows a build writes: chat (SFT), TRL's prompt/completion, and DPO preference pairs."""

from __future__ import annotations

import json
from typing import Any

from ftui.core.build_plan import Example
from ftui.core.prompts import messages_for, with_answer
from ftui.core.workspace import Workspace


def sft_row(ex: Example, ws: Workspace) -> dict[str, Any]:
    return {
        "id": ex.item.id,
        "cluster": ex.cluster,
        "kind": ex.kind,
        "messages": with_answer(messages_for(ex.item, ws.prompt), ex.target),
    }


def pc_row(ex: Example, ws: Workspace) -> dict[str, Any]:
    # TRL's conversational prompt/completion: the loss covers only the completion.
    return {
        "id": ex.item.id,
        "cluster": ex.cluster,
        "kind": ex.kind,
        "prompt": messages_for(ex.item, ws.prompt),
        "completion": [{"role": "assistant", "content": ex.target}],
    }


def dpo_row(ex: Example, ws: Workspace) -> dict[str, Any]:
    return {
        "id": ex.item.id,
        "cluster": ex.cluster,
        "prompt": messages_for(ex.item, ws.prompt),
        "chosen": [{"role": "assistant", "content": ex.target}],
        "rejected": [{"role": "assistant", "content": ex.rejected or ""}],
    }


def jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
