"""The parts of an example the checks look at: its conversation, prompt, question and answer."""

from __future__ import annotations

import re
from typing import Any

from ftui.core.base import toolcalls
from ftui.core.workspace.settings import PromptConfig


def text_of(m: dict[str, Any]) -> str:
    c = m.get("content")
    if not isinstance(c, str) and m.get("tool_calls"):
        return toolcalls.message_text(m) or ""  # a call is checked as its canonical text
    return c if isinstance(c, str) else ""


def conversation(row: dict[str, Any]) -> list[dict[str, Any]]:
    if "messages" in row:
        return list(row["messages"])
    return list(row.get("prompt", [])) + list(row.get("chosen", []))


def prompt_messages(row: dict[str, Any]) -> list[dict[str, Any]]:
    if "prompt" in row:
        return list(row["prompt"])
    msgs: list[dict[str, Any]] = row.get("messages", [])
    last_a = max((i for i, m in enumerate(msgs) if m.get("role") == "assistant"), default=len(msgs))
    return msgs[:last_a]


def prompt_text(row: dict[str, Any]) -> str:
    """The user-visible question of an example: its user messages (what leakage compares)."""
    return "\n".join(text_of(m) for m in prompt_messages(row) if m.get("role") == "user")


def template_pattern(user_template: str) -> re.Pattern[str] | None:
    """A regex that takes a prompt built from `user_template` apart into evidence and question."""
    parts = re.split(r"(\{evidence\}|\{question\}|\{evidence_files\})", user_template)
    if "{question}" not in parts:
        return None
    rx, named = "", set()
    for p in parts:
        if p in ("{question}", "{evidence}"):
            name = p[1:-1]
            rx += f"(?P={name})" if name in named else f"(?P<{name}>.*)"
            named.add(name)
        elif p == "{evidence_files}":
            rx += ".*"
        else:
            rx += re.escape(p.replace("{{", "{").replace("}}", "}"))
    return re.compile(rx + r"\Z", re.DOTALL)


DEFAULT_PATTERN = template_pattern(PromptConfig().user_template)


def question_of(text: str, pattern: re.Pattern[str] | None) -> str:
    """The question inside a templated prompt; evidence is context, like alpaca's `input`."""
    m = pattern.match(text) if pattern is not None else None
    return m.group("question") if m else text


def instruction_of(row: dict[str, Any], pattern: re.Pattern[str] | None = None) -> str | None:
    users = [m for m in prompt_messages(row) if m.get("role") == "user"]
    return question_of(text_of(users[-1]), pattern) if users else None


def output_of(row: dict[str, Any]) -> str | None:
    msgs = row["chosen"] if "chosen" in row else row.get("messages", [])
    outs = [m for m in msgs if m.get("role") == "assistant"]
    return text_of(outs[-1]) if outs else None
