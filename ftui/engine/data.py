"""Build folders → datasets in the shapes TRL trains on.

SFT rows become conversational prompt/completion pairs: TRL then masks every prompt token out of
the loss (completion_only_loss), so only the assistant's answer is learned. This works with any
chat template, unlike assistant_only_loss which needs {% generation %} markers that SmolLM2's
template does not have.
"""

from __future__ import annotations

import json
from pathlib import Path

from ftui.core.errors import InputError

SFT_FILES = ("train.jsonl", "eval.jsonl")
PRESERVE_FILE = "preserve.jsonl"
DPO_FILES = ("dpo_train.jsonl", "dpo_eval.jsonl")
VALIDATION_FILES = {"sft": "validation.jsonl", "dpo": "dpo_validation.jsonl"}


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


def sft_row(path: Path, lineno: int, row: dict) -> dict:
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


def dpo_row(path: Path, lineno: int, row: dict) -> dict:
    out = {key: _check_messages(path, lineno, row.get(key), key) for key in ("prompt", "chosen", "rejected")}
    for key in ("chosen", "rejected"):
        if out[key][-1]["role"] != "assistant":
            raise InputError(path, lineno, f"`{key}` must end with an assistant message")
    return out


def eval_file(build_dir: Path, method: str) -> Path:
    """The file training evaluates on (eval loss, early stopping, the best checkpoint)."""
    build_dir = Path(build_dir)
    validation = build_dir / VALIDATION_FILES[method]
    return validation if validation.exists() else build_dir / (SFT_FILES if method == "sft" else DPO_FILES)[1]


def read_split(build_dir: Path, method: str, split: str) -> list[dict]:
    """Rows of one split ("train" | "eval") converted for the method; a missing eval file is an empty split.

    Training evaluates on the build's validation rows: the held-out rows (eval.jsonl) judge the run
    afterwards and must not choose its checkpoint. A build from before the validation split has no
    validation file and evaluates on its held-out rows, as it always did.
    """
    build_dir = Path(build_dir)
    names = SFT_FILES if method == "sft" else DPO_FILES
    path = build_dir / names[0] if split == "train" else eval_file(build_dir, method)
    if not path.exists():
        if split == "eval":
            return []
        raise InputError(path, None, f"build has no {path.name} (was it built for {method.upper()}?)")
    convert = sft_row if method == "sft" else dpo_row
    return [convert(path, lineno, row) for lineno, row in _read_rows(path)]


def anchor_rows(build_dir: Path, kl_rows: bool = False) -> list[dict]:
    """The build's training anchors (and, with `kl_rows`, its preserved rows) as prompt/completion rows.

    Every build writes them into its SFT files whatever the method; a DPO run with train.anchor_kl
    holds them to the base through the KL term alone (they have no rejected answer to pair with).
    """
    build_dir = Path(build_dir)
    path = build_dir / SFT_FILES[0]
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


def load_datasets(build_dir: Path, method: str, kl_rows: bool = False):
    """(train, eval|None) as datasets.Dataset objects.

    Preserved rows (preserve.jsonl, kind "preserve") teach nothing but the KL term, so they join
    the training rows only with it (`kl_rows`), never as if their answers were right.
    """
    from datasets import Dataset

    train = read_split(build_dir, method, "train")
    preserve = Path(build_dir) / PRESERVE_FILE
    if kl_rows and method == "sft" and preserve.exists():
        train += [sft_row(preserve, lineno, row) for lineno, row in _read_rows(preserve)]
    if not train:
        raise InputError(
            Path(build_dir) / (SFT_FILES[0] if method == "sft" else DPO_FILES[0]), None, "no training examples"
        )
    ev = read_split(build_dir, method, "eval")
    return Dataset.from_list(train), (Dataset.from_list(ev) if ev else None)
