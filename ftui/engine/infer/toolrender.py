"""Rendering a conversation with tools through the model's chat template.

A template that renders tools (Llama 3.x, Qwen 2.5, ...) gets them as `tools=` and the calls as
`tool_calls`; one that does not (SmolLM2's) gets `ftui.core.base.toolcalls.fallback_messages`: the
definitions in the system turn and calls as JSON text. Training, evaluation and the parity check
of an export all render here, so a model is asked as it was taught.
"""

from __future__ import annotations

import contextlib
from typing import Any

from ftui.core.base import toolcalls


def renders_tools(tok: Any) -> bool:
    """Whether the tokenizer's chat template writes tool definitions (checked once per tokenizer)."""
    cached = getattr(tok, "_ftui_renders_tools", None)
    if cached is not None:
        return bool(cached)
    try:
        text = tok.apply_chat_template(
            [{"role": "user", "content": "x"}], tools=toolcalls.PROBE, tokenize=False, add_generation_prompt=True
        )
        ok = toolcalls.PROBE_TOOL in text
    except Exception:  # a template that raises on tools cannot render them
        ok = False
    with contextlib.suppress(AttributeError):
        tok._ftui_renders_tools = ok
    return ok


def chat_inputs(tok: Any, messages: list[dict], tools: Any) -> tuple[list[dict], list[dict] | None]:
    """(messages, tools to pass to the template): structured when it renders tools, else the fallback."""
    if not tools:
        return toolcalls.plain(messages), None
    return toolcalls.template_inputs(messages, tools, renders_tools(tok))


def prompt_text(tok: Any, messages: list[dict], tools: Any = None) -> str:
    msgs, t = chat_inputs(tok, messages, tools)
    if t is not None:
        return str(tok.apply_chat_template(msgs, tools=t, tokenize=False, add_generation_prompt=True))
    return str(tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True))


def text_row(tok: Any, prompt: list[dict], completion: list[dict], tools: list[dict] | None) -> dict[str, str]:
    """A prompt/completion pair as rendered text, for templates that render tools: TRL then trains on
    exactly the template's rendering of the call, and masks the prompt (tools included) out."""
    full = tok.apply_chat_template(prompt + completion, tools=tools, tokenize=False)
    head = tok.apply_chat_template(prompt, tools=tools, tokenize=False, add_generation_prompt=True)
    if not full.startswith(head):
        raise ValueError("the chat template renders the prompt differently once the answer follows it")
    return {"prompt": head, "completion": full[len(head) :]}
