"""Writing: normalised rows in a format's own layout, with LLaMA-Factory's dataset_info.json entry."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ftui.core.base import fsutil, toolcalls
from ftui.core.build import toolrows_sharegpt
from ftui.core.build.formats.names import FORMATS, LLAMA_FACTORY, PREFERENCE, SFT, FormatError, check_format_name
from ftui.core.build.formats.records import write_parquet

ROLE_TO_SHAREGPT = {"user": "human", "assistant": "gpt", "system": "system", "tool": "observation"}


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
        write_parquet(path, out)
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
