"""Reading: a file's format detected, and each raw record turned into a normalised row or a problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ftui.core.base import toolcalls
from ftui.core.build import toolrows_sharegpt
from ftui.core.build.formats.names import FORMATS, FormatError, Problem, ReadResult, check_format_name
from ftui.core.build.formats.records import read_records

OPENAI_TOP_KEYS = {"messages", "tools", "parallel_tool_calls", "functions"}
SHAREGPT_ROLES = {
    "human": "user",
    "gpt": "assistant",
    "system": "system",
    "observation": "tool",
    "function_call": "assistant",
}


def detect_one(obj: Any) -> str | None:
    if not isinstance(obj, dict):
        return None
    keys = set(obj)
    if "input" in keys and ("preferred_output" in keys or "non_preferred_output" in keys):
        return "openai-preference"
    if "conversations" in keys:
        return "sharegpt-preference" if "chosen" in keys else "sharegpt"
    if "instruction" in keys:
        return "alpaca-preference" if "chosen" in keys else "alpaca"
    if "chosen" in keys or "rejected" in keys:
        return "trl-preference"
    if "completion" in keys:
        return "trl-prompt-completion"
    if "messages" in keys:
        return "openai-chat" if keys <= OPENAI_TOP_KEYS else "trl-messages"
    return None


def detect_format(records: list[tuple[int, Any]], path: Path | str = "") -> str:
    votes: dict[str, int] = {}
    for _, obj in records[:200]:
        f = detect_one(obj)
        if f:
            votes[f] = votes.get(f, 0) + 1
    if not votes:
        raise FormatError(
            f"{path}: cannot tell the format (no record has messages, prompt/completion, "
            f"chosen/rejected, instruction or conversations); give --format"
        )
    # OpenAI chat rows are TRL rows without extra keys: one row with an id makes the file TRL's.
    if "openai-chat" in votes and "trl-messages" in votes:
        return "trl-messages"
    return max(sorted(votes), key=lambda f: votes[f])


# --- reading: raw -> normalised ---------------------------------------------------------------


class _Bad(Exception):
    def __init__(self, kind: str, message: str):
        self.kind = kind
        self.message = message


def _text(obj: dict[str, Any], key: str, required: bool = True) -> str:
    v = obj.get(key)
    if v is None:
        if required:
            raise _Bad("missing_field", f"missing field `{key}`")
        return ""
    if not isinstance(v, str):
        raise _Bad("wrong_type", f"field `{key}` must be text, got {type(v).__name__}")
    return v


def _msgs(v: Any, key: str, default_role: str) -> list[dict[str, Any]]:
    """A message list, or text taken as one message of `default_role` (TRL's standard form)."""
    if isinstance(v, str):
        return [{"role": default_role, "content": v}]
    if isinstance(v, dict) and "role" in v:
        return [dict(v)]
    if not isinstance(v, list):
        raise _Bad("wrong_type", f"field `{key}` must be a list of messages or text")
    out = []
    for i, m in enumerate(v):
        if not isinstance(m, dict):
            raise _Bad("not_an_object", f"`{key}[{i}]` is not an object")
        out.append(dict(m))
    return out


def _alpaca_prompt(obj: dict[str, Any]) -> list[dict[str, Any]]:
    msgs = []
    system = _text(obj, "system", required=False)
    if system:
        msgs.append({"role": "system", "content": system})
    history = obj.get("history") or []
    if not isinstance(history, list):
        raise _Bad("wrong_type", "field `history` must be a list of [instruction, response] pairs")
    for i, turn in enumerate(history):
        if not (isinstance(turn, list) and len(turn) == 2 and all(isinstance(t, str) for t in turn)):
            raise _Bad("wrong_type", f"`history[{i}]` must be [instruction, response]")
        msgs += [{"role": "user", "content": turn[0]}, {"role": "assistant", "content": turn[1]}]
    instruction = _text(obj, "instruction")
    query = _text(obj, "input", required=False)
    # LLaMA-Factory joins instruction and input with a newline.
    msgs.append({"role": "user", "content": f"{instruction}\n{query}" if query else instruction})
    return msgs


def _sharegpt_msgs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    conv = obj.get("conversations")
    if not isinstance(conv, list):
        raise _Bad("missing_field", "field `conversations` must be a list")
    msgs = []
    system = _text(obj, "system", required=False)
    if system:
        msgs.append({"role": "system", "content": system})
    for i, m in enumerate(conv):
        if not isinstance(m, dict) or "from" not in m or "value" not in m:
            raise _Bad("wrong_type", f"`conversations[{i}]` needs `from` and `value`")
        role = SHAREGPT_ROLES.get(m["from"])
        if role is None:
            raise _Bad("unrecognized_role", f"`conversations[{i}]`: unknown speaker {m['from']!r}")
        if not isinstance(m["value"], str):
            raise _Bad("wrong_type", f"`conversations[{i}].value` must be text")
        msg: dict[str, Any] = {"role": role, "content": m["value"]}
        if m["from"] == "function_call":
            msg["call"] = True  # read as a call by toolrows_sharegpt, whatever the tools column says
        msgs.append(msg)
    return msgs


def _sharegpt_turn(v: Any, key: str) -> list[dict[str, Any]]:
    if isinstance(v, str):
        return [{"role": "assistant", "content": v}]
    if not isinstance(v, dict) or not isinstance(v.get("value"), str):
        raise _Bad("wrong_type", f"field `{key}` must be {{from, value}}")
    call = {"call": True} if v.get("from") == "function_call" else {}
    return [{"role": SHAREGPT_ROLES.get(v.get("from", "gpt"), "assistant"), "content": v["value"], **call}]


def _split_implicit(
    chosen: list[dict[str, Any]], rejected: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    n = 0
    while n < min(len(chosen), len(rejected)) - 1 and chosen[n] == rejected[n]:
        n += 1
    return chosen[:n], chosen[n:], rejected[n:]


def _row(fmt: str, obj: Any, line: int, default_id: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise _Bad("not_an_object", f"expected a JSON object, got {type(obj).__name__}")
    rid = obj.get("id")
    row: dict[str, Any] = {
        "id": str(rid) if isinstance(rid, (str, int)) and not isinstance(rid, bool) else default_id,
        "line": line,
    }
    for extra in ("cluster", "kind"):
        if extra in obj:
            row[extra] = obj[extra]
    if "tools" in obj:
        try:
            row["tools"] = toolcalls.normalise_tools(obj["tools"])
        except toolcalls.ToolError as exc:
            raise _Bad("bad_tools", f"field `tools`: {exc}") from None
    if "parallel_tool_calls" in obj:
        row["parallel_tool_calls"] = bool(obj["parallel_tool_calls"])
    if fmt in ("openai-chat", "trl-messages"):
        if "messages" not in obj:
            raise _Bad("missing_messages", "missing `messages`")
        if not isinstance(obj["messages"], list):
            raise _Bad("missing_messages", "`messages` must be a list of messages")
        row["messages"] = _msgs(obj["messages"], "messages", "user")
    elif fmt == "trl-prompt-completion":
        if "prompt" not in obj or "completion" not in obj:
            raise _Bad("missing_field", "needs both `prompt` and `completion`")
        row["messages"] = _msgs(obj["prompt"], "prompt", "user") + _msgs(obj["completion"], "completion", "assistant")
    elif fmt == "openai-preference":
        inp = obj.get("input")
        if not isinstance(inp, dict) or "messages" not in inp:
            raise _Bad("missing_messages", "`input.messages` is missing")
        for key in ("preferred_output", "non_preferred_output"):
            if key not in obj:
                raise _Bad("missing_field", f"missing `{key}`")
        row["prompt"] = _msgs(inp["messages"], "input.messages", "user")
        row["chosen"] = _msgs(obj["preferred_output"], "preferred_output", "assistant")
        row["rejected"] = _msgs(obj["non_preferred_output"], "non_preferred_output", "assistant")
    elif fmt == "trl-preference":
        for key in ("chosen", "rejected"):
            if key not in obj:
                raise _Bad("missing_field", f"missing `{key}`")
        chosen = _msgs(obj["chosen"], "chosen", "assistant")
        rejected = _msgs(obj["rejected"], "rejected", "assistant")
        if "prompt" in obj:
            row["prompt"] = _msgs(obj["prompt"], "prompt", "user")
            row["chosen"], row["rejected"] = chosen, rejected
        else:
            # TRL's implicit-prompt form: both conversations share the prompt as a prefix.
            row["prompt"], row["chosen"], row["rejected"] = _split_implicit(chosen, rejected)
    elif fmt == "alpaca":
        row["messages"] = [*_alpaca_prompt(obj), {"role": "assistant", "content": _text(obj, "output")}]
    elif fmt == "alpaca-preference":
        row["prompt"] = _alpaca_prompt(obj)
        row["chosen"] = [{"role": "assistant", "content": _text(obj, "chosen")}]
        row["rejected"] = [{"role": "assistant", "content": _text(obj, "rejected")}]
    elif fmt == "sharegpt":
        row["messages"] = toolrows_sharegpt.structured_turns(_sharegpt_msgs(obj), row.get("tools") or [])
    elif fmt == "sharegpt-preference":
        tools = row.get("tools") or []
        row["prompt"] = toolrows_sharegpt.structured_turns(_sharegpt_msgs(obj), tools)
        for key in ("chosen", "rejected"):
            if key not in obj:
                raise _Bad("missing_field", f"missing `{key}`")
        row["chosen"] = toolrows_sharegpt.structured_turns(_sharegpt_turn(obj["chosen"], "chosen"), tools)
        row["rejected"] = toolrows_sharegpt.structured_turns(_sharegpt_turn(obj["rejected"], "rejected"), tools)
    else:
        raise FormatError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    return row


def normalise(
    records: list[tuple[int, Any]], fmt: str, path: Path | str = ""
) -> tuple[list[dict[str, Any]], list[Problem]]:
    check_format_name(fmt)
    rows, problems = [], []
    name = Path(path).name or "row"
    for line, obj in records:
        try:
            rows.append(_row(fmt, obj, line, f"{name}:{line}"))
        except _Bad as bad:
            problems.append(Problem(line, bad.kind, bad.message))
        except toolcalls.ToolError as exc:
            problems.append(Problem(line, "bad_call", str(exc)))
    return rows, problems


def read(path: Path | str, fmt: str | None = None) -> ReadResult:
    """Read any supported file into normalised rows; each unusable record is a problem, not a crash."""
    path = Path(path)
    records, problems = read_records(path)
    if fmt is None:
        fmt = detect_format(records, path) if records else "openai-chat"
    rows, more = normalise(records, fmt, path)
    return ReadResult(path, fmt, rows, problems + more, records)
