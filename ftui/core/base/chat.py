"""OpenAI-style message lists: the exact conversation a model saw, kept turn by turn.

Logs hold prompts as `[{"role": "system", ...}, {"role": "user", ...}, ...]`; content may be text
or a list of parts (`{"type": "text", "text": ...}`). A conversation is stored as a tuple of
(role, text) pairs so items stay hashable, and turned back into dicts only where a chat template
needs them.
"""

from __future__ import annotations

from typing import Any

from ftui.core.base import toolcalls

ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})

Conversation = tuple[tuple[str, str], ...]


def content_text(content: Any) -> str | None:
    """The text of a message's content: a string, or the text parts of a part list joined."""
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    if isinstance(content, list):
        out = []
        for part in content:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                out.append(part["text"])
            elif isinstance(part, dict) and part.get("type") in ("reasoning", "image", "image_url", "audio"):
                continue
            else:
                return None
        return "".join(out)
    return None


def as_conversation(value: Any) -> Conversation | None:
    """The message list as (role, text) pairs, or None when `value` is not a message list."""
    if type(value) is not list or not value:
        return None
    out = []
    for m in value:
        if type(m) is not dict:
            return None
        role = m.get("role")
        if role == "function":  # the older name of a tool result
            role = "tool"
        if role not in ROLES:
            return None
        # A tool-call turn keeps its calls as their canonical text (ftui.core.base.toolcalls).
        text = toolcalls.message_text(m) if role == "assistant" else None
        if text is None:
            text = content_text(m.get("content"))
        if text is None:
            return None
        out.append(("system" if role == "developer" else role, text))
    return tuple(out)


def split_final_answer(conv: Conversation) -> tuple[Conversation, str | None]:
    """(the prompt turns, the final assistant message) when the conversation ends with the answer."""
    if conv and conv[-1][0] == "assistant":
        return conv[:-1], conv[-1][1]
    return conv, None


def last_user(conv: Conversation) -> str:
    for role, text in reversed(conv):
        if role == "user":
            return text
    return ""


def system_of(conv: Conversation) -> str | None:
    return conv[0][1] if conv and conv[0][0] == "system" else None


def to_messages(conv: Conversation) -> list[dict[str, Any]]:
    return [{"role": r, "content": t} for r, t in conv]
