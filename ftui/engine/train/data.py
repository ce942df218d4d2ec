"""Build folders → datasets in the shapes TRL trains on.

SFT rows become conversational prompt/completion pairs: TRL then masks every prompt token out of
the loss (completion_only_loss), so only the assistant's answer is learned. This works with any
chat template, unlike assistant_only_loss which needs {% generation %} markers that SmolLM2's
template does not have.
"""

from __future__ import annotations

import json
from pathlib import Path

from ftui.core.base import toolcalls
from ftui.core.base.errors import InputError
from ftui.core.build import files as build_files
from ftui.engine.infer import toolrender

PRESERVE_FILE = build_files.PRESERVE


def _read_rows(path: Path) -> list[tuple[int, dict]]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(path, lineno, f"invalid JSON: {exc.msg}") from None
            if not isinstance(row, dict):
                raise InputError(path, lineno, "each line must be a JSON object")
            rows.append((lineno, row))
    return rows


def _check_messages(path: Path, lineno: int, msgs, what: str) -> list[dict]:
    if not isinstance(msgs, list) or not msgs:
        raise InputError(path, lineno, f"`{what}` must be a non-empty list of messages")
    out = []
    for m in msgs:
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise InputError(path, lineno, f"`{what}` holds a message without a string role and content")
        out.append({"role": m["role"], "content": m["content"]})
    return out


def _tool_rows(path: Path, lineno: int, row: dict, keys: tuple[str, ...], render) -> dict | None:
    """A row with tools as the model will see it: rendered text when its template renders tools
    (`render`), else the fallback's plain messages (tools in the system turn, calls as JSON text)."""
    tools = toolcalls.load_tools(row.get("tools"))
    msgs: dict[str, list[dict]] = {}
    for k in keys:
        v = row.get(k)
        if not isinstance(v, list) or not v or not all(isinstance(m, dict) for m in v):
            raise InputError(path, lineno, f"`{k}` must be a non-empty list of messages")
        msgs[k] = v
    if render is not None:
        prompt = msgs[keys[0]]
        try:
            texts = {k: toolrender.text_row(render, prompt, msgs[k], tools or None)["completion"] for k in keys[1:]}
            head = toolrender.text_row(render, prompt, msgs[keys[1]], tools or None)["prompt"]
        except ValueError as exc:
            raise InputError(path, lineno, str(exc)) from None
        return {keys[0]: head, **texts}
    if not tools:
        return None
    return {k: toolcalls.fallback_messages(v, tools) if k == keys[0] else toolcalls.plain(v) for k, v in msgs.items()}


def sft_row(path: Path, lineno: int, row: dict, render=None) -> dict:
    if row.get("tools") or render is not None:
        msgs_in = row.get("messages")
        if not isinstance(msgs_in, list) or len(msgs_in) < 2:
            raise InputError(path, lineno, "a training example needs a prompt before the assistant's answer")
        # The fallback writes the tools into the system turn of the prompt; the answer stays apart.
        conv = _tool_rows(
            path, lineno, {**row, "prompt": msgs_in[:-1], "completion": msgs_in[-1:]}, ("prompt", "completion"), render
        )
        if conv is not None and render is not None:
            return {
                **conv,
                "anchor": row.get("kind") in ("anchor", "preserve"),
                "kl_only": row.get("kind") == "preserve",
            }
        if conv is not None:
            row = {**row, "messages": conv["prompt"] + conv["completion"]}
    msgs = _check_messages(path, lineno, row.get("messages"), "messages")
    if msgs[-1]["role"] != "assistant":
        raise InputError(path, lineno, "the last message must be the assistant's answer")
    if len(msgs) < 2:
        raise InputError(path, lineno, "a training example needs a prompt before the assistant's answer")
    # The flags let the trainer hold anchors, and preserved rows (KL only), to the base (train.anchor_kl).
    return {
        "prompt": msgs[:-1],
        "completion": msgs[-1:],
        "anchor": row.get("kind") in ("anchor", "preserve"),
        "kl_only": row.get("kind") == "preserve",
    }


def dpo_row(path: Path, lineno: int, row: dict, render=None) -> dict:
    if row.get("tools") or render is not None:
        conv = _tool_rows(path, lineno, row, ("prompt", "chosen", "rejected"), render)
        if conv is not None and render is not None:
            return conv
        if conv is not None:
            row = {**row, **conv}
    out = {key: _check_messages(path, lineno, row.get(key), key) for key in ("prompt", "chosen", "rejected")}
    for key in ("chosen", "rejected"):
        if out[key][-1]["role"] != "assistant":
            raise InputError(path, lineno, f"`{key}` must end with an assistant message")
    return out


def grpo_row(path: Path, lineno: int, row: dict, render=None) -> dict:
    """A prompt and what grades its answers. The grader spec and tools ride as JSON text: a dataset
    column needs one type, and specs differ in their keys."""
    prompt = row.get("prompt")
    if row.get("tools"):
        # Tools as the fallback renders them (in the system turn); a template that renders tools
        # itself is not used here, since TRL applies the chat template to the prompt on its own.
        prompt = toolcalls.fallback_messages(prompt, toolcalls.load_tools(row.get("tools"))) if prompt else prompt
    grader = row.get("grader")
    if not isinstance(grader, dict) or not isinstance(grader.get("kind"), str):
        raise InputError(path, lineno, "`grader` must be a grader spec with a `kind`")
    if grader["kind"] == "judge":
        raise InputError(path, lineno, "a judge grader cannot reward answers inside the training child")
    expected = row.get("expected")
    if expected is not None and not isinstance(expected, str):
        raise InputError(path, lineno, "`expected` must be text")
    return {
        "prompt": _check_messages(path, lineno, prompt, "prompt"),
        "id": str(row.get("id") or f"line {lineno}"),
        "cluster": str(row.get("cluster") or ""),
        "question": str(row.get("question") or ""),
        "expected": expected or "",
        "grader": json.dumps(grader, sort_keys=True),
        "item_tools": json.dumps(row["tools"]) if row.get("tools") else "",
    }


def read_split(build_dir: Path, method: str, split: str, tok=None) -> list[dict]:
    """Rows of one split ("train" | "eval") converted for the method; a missing eval file is an empty split.

    Training evaluates on the rows `build_files.eval_file` names (validation, not held-out).
    """
    build_dir = Path(build_dir)
    path = build_files.train_file(build_dir, method) if split == "train" else build_files.eval_file(build_dir, method)
    if not path.exists():
        if split == "eval":
            return []
        raise InputError(path, None, f"build has no {path.name} (was it built for {method.upper()}?)")
    convert = {"sft": sft_row, "dpo": dpo_row, "grpo": grpo_row}[method]
    rows = _read_rows(path)
    render = tok if tok is not None and has_tools(build_dir) and toolrender.renders_tools(tok) else None
    return [convert(path, lineno, row, render) for lineno, row in rows]


def has_tools(build_dir: Path) -> bool:
    """Whether any row of the build carries tools (then the tokenizer decides how they are rendered)."""
    for name in build_files.row_files():
        path = Path(build_dir) / name
        if path.exists() and any(row.get("tools") for _, row in _read_rows(path)):
            return True
    return False


def anchor_rows(build_dir: Path, kl_rows: bool = False) -> list[dict]:
    """The build's training anchors (and, with `kl_rows`, its preserved rows) as prompt/completion rows.

    Every build writes them into its SFT files whatever the method; a DPO run with train.anchor_kl
    holds them to the base through the KL term alone (they have no rejected answer to pair with).
    """
    build_dir = Path(build_dir)
    path = build_files.train_file(build_dir, build_files.SFT)
    sources = [path] if path.exists() else []
    preserve = build_dir / PRESERVE_FILE
    if kl_rows and preserve.exists():
        sources.append(preserve)
    return [
        {**sft_row(src, n, row), "id": row.get("id")}
        for src in sources
        for n, row in _read_rows(src)
        if row.get("kind") in ("anchor", "preserve")
    ]


def load_datasets(build_dir: Path, method: str, kl_rows: bool = False, tok=None):
    """(train, eval|None) as datasets.Dataset objects.

    Preserved rows (preserve.jsonl, kind "preserve") teach nothing but the KL term, so they join
    the training rows only with it (`kl_rows`), never as if their answers were right.
    """
    from datasets import Dataset

    train = read_split(build_dir, method, "train", tok)
    render = tok if tok is not None and has_tools(build_dir) and toolrender.renders_tools(tok) else None
    preserve = Path(build_dir) / PRESERVE_FILE
    if kl_rows and method == "sft" and preserve.exists():
        train += [sft_row(preserve, lineno, row, render) for lineno, row in _read_rows(preserve)]
    if not train:
        raise InputError(build_files.train_file(build_dir, method), None, "no training examples")
    ev = read_split(build_dir, method, "eval", tok)
    return Dataset.from_list(train), (Dataset.from_list(ev) if ev else None)
