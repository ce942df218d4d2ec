"""Dataset file formats: OpenAI, TRL and LLaMA-Factory layouts in and out of one normalised row.

A normalised row is either an SFT example `{"id", "messages": [...]}` or a preference pair
`{"id", "prompt": [...], "chosen": [...], "rejected": [...]}` (TRL's conversational forms, the same
rows a build writes). `line` says where a row came from. Plain `json` does the JSON/JSONL work:
the `datasets` library would cost seconds of import for nothing here. Parquet (a `.parquet` path)
goes through pyarrow, imported only when such a file is read or written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftui.core.base import fsutil, toolcalls
from ftui.core.base.errors import FtuiError, InputError
from ftui.core.build import toolrows_sharegpt

SFT = "sft"
PREFERENCE = "preference"

# name -> (row kind, one-line description)
FORMATS: dict[str, tuple[str, str]] = {
    "openai-chat": (SFT, "OpenAI chat fine-tuning JSONL: {messages}"),
    "openai-preference": (
        PREFERENCE,
        "OpenAI preference (DPO) JSONL: {input: {messages}, preferred_output, non_preferred_output}",
    ),
    "trl-messages": (SFT, "TRL conversational: {messages} (extra keys kept: id, cluster, kind)"),
    "trl-prompt-completion": (SFT, "TRL prompt/completion: {prompt, completion} as message lists or text"),
    "trl-preference": (PREFERENCE, "TRL preference: {prompt, chosen, rejected}"),
    "alpaca": (SFT, "LLaMA-Factory alpaca: {instruction, input, output, system, history} + dataset_info.json"),
    "sharegpt": (SFT, "LLaMA-Factory sharegpt: {conversations: [{from, value}], system} + dataset_info.json"),
    "alpaca-preference": (
        PREFERENCE,
        "LLaMA-Factory alpaca preference: {instruction, input, chosen, rejected, system}",
    ),
    "sharegpt-preference": (
        PREFERENCE,
        "LLaMA-Factory sharegpt preference: {conversations, chosen: {from, value}, rejected, system}",
    ),
}

LLAMA_FACTORY = ("alpaca", "sharegpt", "alpaca-preference", "sharegpt-preference")
OPENAI_TOP_KEYS = {"messages", "tools", "parallel_tool_calls", "functions"}
SHAREGPT_ROLES = {
    "human": "user",
    "gpt": "assistant",
    "system": "system",
    "observation": "tool",
    "function_call": "assistant",
}
ROLE_TO_SHAREGPT = {"user": "human", "assistant": "gpt", "system": "system", "tool": "observation"}
_BOM = "\ufeff"


class FormatError(FtuiError):
    pass


@dataclass(frozen=True)
class Problem:
    line: int
    kind: str
    message: str


@dataclass
class ReadResult:
    path: Path
    format: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    records: list[tuple[int, Any]] = field(default_factory=list)  # (line, raw object) as read

    @property
    def kind(self) -> str:
        return FORMATS[self.format][0]


# --- raw records ------------------------------------------------------------------------------


def read_records(path: Path | str) -> tuple[list[tuple[int, Any]], list[Problem]]:
    """(line, object) for each record of a JSONL file or a JSON array; bad lines become problems."""
    path = Path(path)
    if path.suffix == ".parquet":
        return _parquet_records(path), []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(path, None, f"not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise InputError(path, None, exc.strerror or str(exc)) from None
    if text.startswith(_BOM):
        text = text[1:]
    problems: list[Problem] = []
    if not text.strip():
        return [], [Problem(1, "empty_file", "file is empty: no examples")]
    stripped = text.lstrip()
    if stripped.startswith("["):
        return _array_records(text, problems), problems
    records = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append((lineno, json.loads(line)))
        except json.JSONDecodeError as exc:
            problems.append(Problem(lineno, "not_json", f"not valid JSON ({exc.msg} at column {exc.colno})"))
    return records, problems


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise FormatError(
            "parquet files need pyarrow (installed with the training extras: pip install 'ftui[train]')"
        ) from None
    return pyarrow


def _drop_nulls(obj: Any) -> Any:
    # Parquet gives every struct the union of all keys, absent ones as null: drop them again.
    if isinstance(obj, dict):
        return {k: _drop_nulls(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_drop_nulls(v) for v in obj]
    return obj


def _parquet_records(path: Path) -> list[tuple[int, Any]]:
    pa = _pyarrow()
    try:
        table = pa.parquet.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(path, None, f"not a readable parquet file ({exc})") from None
    # A parquet row has no line; its 1-based row number stands in for one.
    return [(i + 1, _drop_nulls(r)) for i, r in enumerate(table.to_pylist())]


def _write_parquet(path: Path, rows: list[dict[str, Any]]) -> None:
    import os
    import tempfile

    pa = _pyarrow()
    try:
        table = pa.Table.from_pylist(rows)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise FormatError(f"{path}: these rows do not fit one parquet schema ({exc}); write JSONL instead") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        pa.parquet.write_table(table, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _array_records(text: str, problems: list[Problem]) -> list[tuple[int, Any]]:
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1
    out: list[tuple[int, Any]] = []
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text):
            problems.append(Problem(text.count("\n") + 1, "not_json", "JSON array is not closed with ]"))
            return out
        if text[pos] == "]":
            return out
        line = text.count("\n", 0, pos) + 1
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            problems.append(Problem(exc.lineno, "not_json", f"not valid JSON ({exc.msg}); rest of the array skipped"))
            return out
        out.append((line, obj))


# --- detection --------------------------------------------------------------------------------


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


def check_format_name(fmt: str) -> str:
    if fmt not in FORMATS:
        import difflib

        close = difflib.get_close_matches(fmt, list(FORMATS), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise FormatError(f"unknown format {fmt!r}{hint}; one of {', '.join(FORMATS)}")
    return fmt


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


# --- writing: normalised -> format ------------------------------------------------------------


def _split_last_assistant(row: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    msgs = row.get("messages") or []
    if not msgs or msgs[-1].get("role") != "assistant":
        raise FormatError(f"{row.get('id')}: the last message must be the assistant's to write this format")
    return msgs[:-1], msgs[-1]


def _plain(m: dict[str, Any]) -> dict[str, Any]:
    # Tool calls and the results answering them keep their structure (OpenAI's chat format).
    out = {"role": m.get("role"), "content": m.get("content")}
    for key in ("tool_calls", "tool_call_id", "name"):
        if key in m:
            out[key] = m[key]
    if "tool_calls" in m and out["content"] is None:
        del out["content"]
    return out


def _tool_keys(row: dict[str, Any]) -> dict[str, Any]:
    if not row.get("tools"):
        return {}
    return {"tools": row["tools"], "parallel_tool_calls": bool(row.get("parallel_tool_calls", False))}


def _alpaca_fields(row_id: str, prompt: list[dict[str, Any]]) -> dict[str, Any]:
    msgs = list(prompt)
    system = ""
    if msgs and msgs[0].get("role") == "system":
        system = msgs.pop(0).get("content") or ""
    if not msgs or msgs[-1].get("role") != "user":
        raise FormatError(f"{row_id}: alpaca needs the prompt to end with a user message")
    history = []
    body = msgs[:-1]
    if len(body) % 2:
        raise FormatError(f"{row_id}: alpaca needs alternating user/assistant turns")
    for u, a in zip(body[::2], body[1::2], strict=False):
        if u.get("role") != "user" or a.get("role") != "assistant":
            raise FormatError(f"{row_id}: alpaca needs alternating user/assistant turns")
        history.append([u.get("content") or "", a.get("content") or ""])
    out = {"instruction": msgs[-1].get("content") or "", "input": ""}
    if system:
        out["system"] = system
    if history:
        out["history"] = history
    return out


def _sharegpt_fields(row_id: str, msgs: list[dict[str, Any]]) -> dict[str, Any]:
    msgs = list(msgs)
    out: dict[str, Any] = {}
    if msgs and msgs[0].get("role") == "system":
        out["system"] = msgs.pop(0).get("content") or ""
    conv = []
    for m in msgs:
        tag = ROLE_TO_SHAREGPT.get(str(m.get("role")))
        if tag is None or tag == "system":
            raise FormatError(f"{row_id}: sharegpt cannot hold a {m.get('role')!r} message here")
        call = toolcalls.message_text(m) if tag == "gpt" else None
        if call is not None:
            conv.append({"from": "function_call", "value": call})
            continue
        conv.append({"from": tag, "value": m.get("content") or ""})
    out = {"conversations": conv, **out}
    return out


def _is_pref(row: dict[str, Any]) -> bool:
    return "chosen" in row and "rejected" in row


def to_format(row: dict[str, Any], fmt: str) -> dict[str, Any]:
    kind = FORMATS[check_format_name(fmt)][0]
    rid = str(row.get("id", ""))
    if kind == PREFERENCE and not _is_pref(row):
        raise FormatError(f"{rid}: {fmt} needs preference pairs (prompt/chosen/rejected), this row is an SFT example")
    if kind == SFT and _is_pref(row):
        raise FormatError(f"{rid}: {fmt} needs SFT examples (messages), this row is a preference pair")
    if fmt == "openai-chat":
        return {"messages": [_plain(m) for m in row["messages"]], **_tool_keys(row)}
    if fmt == "trl-messages":
        extra: dict[str, Any] = {k: row[k] for k in ("id", "cluster", "kind") if k in row}
        return {**extra, "messages": [_plain(m) for m in row["messages"]], **_tool_keys(row)}
    if fmt == "trl-prompt-completion":
        prompt, last = _split_last_assistant(row)
        extra = {k: row[k] for k in ("id", "cluster", "kind") if k in row}
        return {**extra, "prompt": [_plain(m) for m in prompt], "completion": [_plain(last)], **_tool_keys(row)}
    if fmt == "openai-preference":
        inp: dict[str, Any] = {"messages": [_plain(m) for m in row["prompt"]], **_tool_keys(row)}
        return {
            "input": inp,
            "preferred_output": [_plain(m) for m in row["chosen"]],
            "non_preferred_output": [_plain(m) for m in row["rejected"]],
        }
    if fmt == "trl-preference":
        extra = {k: row[k] for k in ("id", "cluster") if k in row}
        return {
            **extra,
            "prompt": [_plain(m) for m in row["prompt"]],
            "chosen": [_plain(m) for m in row["chosen"]],
            "rejected": [_plain(m) for m in row["rejected"]],
            **_tool_keys(row),
        }
    if fmt == "alpaca":
        prompt, last = _split_last_assistant(row)
        return {**_alpaca_fields(rid, prompt), "output": last.get("content") or ""}
    if fmt == "alpaca-preference":
        return {
            **_alpaca_fields(rid, row["prompt"]),
            "chosen": _one(rid, row["chosen"]),
            "rejected": _one(rid, row["rejected"]),
        }
    if fmt == "sharegpt":
        return {**_sharegpt_fields(rid, row["messages"]), **toolrows_sharegpt.tools_column(row)}
    if fmt == "sharegpt-preference":
        out = _sharegpt_fields(rid, row["prompt"])
        out["chosen"] = toolrows_sharegpt.answer_turn(rid, row["chosen"], _one)
        out["rejected"] = toolrows_sharegpt.answer_turn(rid, row["rejected"], _one)
        return {**out, **toolrows_sharegpt.tools_column(row)}
    raise FormatError(f"unknown format {fmt!r}")


def _one(rid: str, msgs: list[dict[str, Any]]) -> str:
    if len(msgs) != 1 or msgs[0].get("role") != "assistant":
        raise FormatError(f"{rid}: this format holds exactly one assistant message per side")
    return msgs[0].get("content") or ""


def dataset_info_entry(fmt: str, file_name: str) -> dict[str, Any]:
    if fmt == "alpaca":
        return {
            "file_name": file_name,
            "columns": {
                "prompt": "instruction",
                "query": "input",
                "response": "output",
                "system": "system",
                "history": "history",
            },
        }
    if fmt == "alpaca-preference":
        return {
            "file_name": file_name,
            "ranking": True,
            "columns": {
                "prompt": "instruction",
                "query": "input",
                "chosen": "chosen",
                "rejected": "rejected",
                "system": "system",
            },
        }
    tags = {
        "role_tag": "from",
        "content_tag": "value",
        "user_tag": "human",
        "assistant_tag": "gpt",
        "observation_tag": "observation",
        "function_tag": "function_call",
        "system_tag": "system",
    }
    if fmt == "sharegpt":
        return {
            "file_name": file_name,
            "formatting": "sharegpt",
            "columns": {"messages": "conversations", "system": "system", "tools": "tools"},
            "tags": tags,
        }
    if fmt == "sharegpt-preference":
        return {
            "file_name": file_name,
            "formatting": "sharegpt",
            "ranking": True,
            "columns": {
                "messages": "conversations",
                "chosen": "chosen",
                "rejected": "rejected",
                "system": "system",
                "tools": "tools",
            },
            "tags": tags,
        }
    raise FormatError(f"{fmt} has no dataset_info.json entry")


def write(rows: Iterable[dict[str, Any]], path: Path | str, fmt: str, name: str | None = None) -> list[Path]:
    """Write rows in `fmt` atomically; LLaMA-Factory formats also get their dataset_info.json entry
    (merged into an existing file beside it). A `.json` path gets a JSON array, `.parquet` a parquet
    table, anything else JSONL."""
    path = Path(path)
    check_format_name(fmt)
    out = [to_format(r, fmt) for r in rows]
    if path.suffix == ".parquet":
        _write_parquet(path, out)
    elif path.suffix == ".json":
        fsutil.atomic_write_text(path, json.dumps(out, ensure_ascii=False, indent=2) + "\n")
    else:
        fsutil.atomic_write_jsonl(path, out)
    written = [path]
    if fmt in LLAMA_FACTORY:
        info_path = path.parent / "dataset_info.json"
        info: dict[str, Any] = {}
        if info_path.exists():
            try:
                info = json.loads(info_path.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise FormatError(f"{info_path}:{getattr(exc, 'lineno', 1)}: not valid JSON; not overwritten") from None
            if not isinstance(info, dict):
                raise FormatError(f"{info_path}:1: not a JSON object; not overwritten")
        info[name or path.stem] = dataset_info_entry(fmt, path.name)
        fsutil.atomic_write_json(info_path, info)
        written.append(info_path)
    return written


def kind_of(fmt: str) -> str:
    return FORMATS[check_format_name(fmt)][0]
