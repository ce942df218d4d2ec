"""The per-example rules: message structure (OpenAI's data-prep rules) and example quality."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ftui.core.build.checks.examples import conversation, instruction_of, output_of, prompt_messages, text_of
from ftui.core.build.checks.report import ERROR, WARNING, Ctx

# OpenAI's data-prep rules (roles and message keys it accepts), widened to today's tool messages.
KNOWN_ROLES = {"system", "developer", "user", "assistant", "function", "tool"}
KNOWN_MESSAGE_KEYS = {"role", "content", "name", "function_call", "weight", "tool_calls", "tool_call_id"}


@dataclass(frozen=True)
class QualityLimits:
    """The seed guide's example-quality thresholds (characters, and a unique-word ratio)."""

    instruction_min_chars: int = 10
    instruction_max_chars: int = 1000
    output_min_chars: int = 5
    repetition_min_words: int = 10
    repetition_min_unique_ratio: float = 0.3


def check_messages(ctx: Ctx, i: int, row: dict[str, Any], raw_keys: bool) -> None:
    where = ctx.where(row)
    rid = row.get("id")
    parts = (
        [("messages", row["messages"])]
        if "messages" in row
        else [
            ("prompt", row.get("prompt", [])),
            ("chosen", row.get("chosen", [])),
            ("rejected", row.get("rejected", [])),
        ]
    )
    if not any(msgs for _, msgs in parts):
        ctx.add(ERROR, "missing_messages", where, "no messages (missing or empty list)", rid)
        ctx.bad.add(i)
        return
    failed = False
    for name, msgs in parts:
        if not msgs:
            ctx.add(ERROR, "missing_messages", where, f"`{name}` is empty", rid)
            failed = True
            continue
        for j, m in enumerate(msgs):
            at = f"{name}[{j}]"
            if not isinstance(m, dict):
                ctx.add(ERROR, "not_an_object", where, f"{at} is not an object", rid)
                failed = True
                continue
            if "role" not in m or ("content" not in m and not m.get("function_call") and not m.get("tool_calls")):
                missing = "role" if "role" not in m else "content"
                ctx.add(ERROR, "message_missing_key", where, f"{at} has no `{missing}`", rid)
                failed = True
                continue
            if raw_keys:
                extra = sorted(k for k in m if k not in KNOWN_MESSAGE_KEYS)
                if extra:
                    ctx.add(
                        ERROR,
                        "unrecognized_key",
                        where,
                        f"{at} has unrecognized key {', '.join(map(repr, extra))}",
                        rid,
                    )
                    failed = True
            if m.get("role") not in KNOWN_ROLES:
                ctx.add(ERROR, "unrecognized_role", where, f"{at} has unrecognized role {m.get('role')!r}", rid)
                failed = True
            content = m.get("content")
            if (not isinstance(content, str) or not content.strip()) and not (
                m.get("function_call") or m.get("tool_calls")
            ):
                ctx.add(ERROR, "missing_content", where, f"{at} ({m.get('role')}) has no text content", rid)
                failed = True
    convo = conversation(row)
    roles = [m.get("role") for m in convo if isinstance(m, dict)]
    if "assistant" not in roles:
        ctx.add(ERROR, "no_assistant_message", where, "no assistant message: nothing to learn", rid)
        failed = True
    if "chosen" in row and not any(
        isinstance(m, dict) and m.get("role") == "assistant" for m in row.get("rejected", [])
    ):
        ctx.add(ERROR, "no_assistant_message", where, "the rejected side has no assistant message", rid)
        failed = True
    if failed:
        ctx.bad.add(i)
        return
    prompt_roles = [m.get("role") for m in prompt_messages(row)]
    if "system" not in prompt_roles and "developer" not in prompt_roles:
        ctx.add(WARNING, "no_system_message", where, "no system message (the model will see its default one)", rid)
    if "user" not in prompt_roles:
        ctx.add(WARNING, "no_user_message", where, "no user message before the answer", rid)


def check_quality(ctx: Ctx, row: dict[str, Any], limits: QualityLimits) -> None:
    where, rid = ctx.where(row), row.get("id")
    instr = instruction_of(row, ctx.pattern)
    if instr is not None:
        n = len(instr.strip())
        if n < limits.instruction_min_chars:
            ctx.add(
                WARNING,
                "instruction_too_short",
                where,
                f"instruction is {n} chars (< {limits.instruction_min_chars})",
                rid,
            )
        elif n > limits.instruction_max_chars:
            ctx.add(
                WARNING,
                "instruction_too_long",
                where,
                f"instruction is {n:,} chars (> {limits.instruction_max_chars:,})",
                rid,
            )
    out = output_of(row)
    if out is not None:
        if len(out.strip()) < limits.output_min_chars:
            ctx.add(
                WARNING,
                "output_too_short",
                where,
                f"answer is {len(out.strip())} chars (< {limits.output_min_chars})",
                rid,
            )
        words = out.lower().split()
        if len(words) >= limits.repetition_min_words:
            ratio = len(set(words)) / len(words)
            if ratio < limits.repetition_min_unique_ratio:
                ctx.add(
                    WARNING,
                    "repetitive_output",
                    where,
                    f"answer repeats itself: {ratio:.0%} unique words (< {limits.repetition_min_unique_ratio:.0%})",
                    rid,
                )
    if "chosen" in row and [text_of(m) for m in row["chosen"]] == [text_of(m) for m in row.get("rejected", [])]:
        ctx.add(
            WARNING, "chosen_equals_rejected", where, "chosen and rejected are the same: no preference to learn", rid
        )
