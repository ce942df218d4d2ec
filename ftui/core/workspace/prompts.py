"""Rebuilding the prompt the model saw, so training and evaluation use byte-identical inputs."""

from __future__ import annotations

from typing import Any

from ftui.core.base import toolcalls
from ftui.core.base.chat import last_user, to_messages
from ftui.core.logs.items import Item
from ftui.core.workspace.settings import PromptConfig


class _Blank(dict[str, Any]):
    # A template may name a field a log lacks; an empty string is better than a crash mid-build.
    def __missing__(self, key: str) -> str:
        return ""


def user_text(item: Item, cfg: PromptConfig) -> str:
    conv = getattr(item, "messages", None)  # items built by hand may have no conversation field
    if conv:
        return last_user(conv)
    if item.prompt:
        return item.prompt
    return cfg.user_template.format_map(
        _Blank(
            evidence=item.evidence_text or "",
            question=item.question,
            evidence_files=", ".join(item.evidence_files),
        )
    )


def messages_for(item: Item, cfg: PromptConfig) -> list[dict[str, Any]]:
    """The logged conversation verbatim when the log has one; else system + user messages, the user
    turn being the exact logged prompt when there is one, else the template."""
    conv = getattr(item, "messages", None)
    if conv:
        return toolcalls.structured(to_messages(conv), tools_of(item))
    return [
        {"role": "system", "content": item.system_prompt or cfg.default_system},
        {"role": "user", "content": user_text(item, cfg)},
    ]


def tools_of(item: Any) -> list[dict[str, Any]]:
    """The tools an item's request declared (OpenAI's shape); [] for a plain question."""
    return toolcalls.load_tools(item.get("tools") if isinstance(item, dict) else getattr(item, "tools", None))


def with_answer(
    messages: list[dict[str, Any]], answer: str, tools: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """The conversation with its answer; with tools, an answer that is a call is a tool_calls message."""
    if tools:
        return [*messages, toolcalls.answer_message(answer, tools, [f"call_answer_{i}" for i in range(8)])]
    return [*messages, {"role": "assistant", "content": answer}]
