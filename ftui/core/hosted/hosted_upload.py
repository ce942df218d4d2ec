"""A build's rows as a hosted job's upload files, and the billed-token estimate before it is sent."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ftui.core.build import files as build_files
from ftui.core.build import formats
from ftui.core.hosted.hosted_client import HostedError

METHODS = {"sft": "supervised", "dpo": "dpo"}
# The service's upload format, per method.
UPLOAD_FORMAT = {"sft": "openai-chat", "dpo": "openai-preference"}


# A rough tokens-per-character rate for when no tokenizer is on disk (English text and code).
_CHARS_PER_TOKEN = 4.0


def upload_rows(build: Any, method: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    if method not in METHODS:
        raise HostedError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    train_path = build_files.train_file(build.dir, method)
    train = build.rows(build_files.stem(train_path.name))
    if not train:
        raise HostedError(f"{train_path}: no training rows for {method.upper()} in this build")
    # The service's validation file is what a local run evaluates on: the held-out rows judge the job later.
    return train, build.rows(build_files.stem(build_files.eval_file(build.dir, method).name))


def write_upload_files(
    train: list[dict[str, Any]], held: list[dict[str, Any]], method: str, out_dir: Path
) -> tuple[Path, Path | None]:
    """The build's rows in the service's JSONL format (the formats package owns the mapping)."""
    fmt = UPLOAD_FORMAT[method]
    train_path = out_dir / "train.jsonl"
    formats.write(train, train_path, fmt)
    eval_path = None
    if held:
        eval_path = out_dir / "eval.jsonl"
        formats.write(held, eval_path, fmt)
    return train_path, eval_path


def _conversation(row: dict[str, Any]) -> list[dict[str, Any]]:
    if "messages" in row:
        return list(row["messages"])
    return list(row.get("prompt") or []) + list(row.get("chosen") or []) + list(row.get("rejected") or [])


def _local_tokenizer(model_name: str | None) -> Any:
    if not model_name:
        return None
    try:
        from ftui.core.base.tokens import load_for_model

        # prepare=False: an estimate is not worth converting a model for.
        return load_for_model(model_name, say=lambda _m: None, prepare=False)
    except Exception:  # no tokenizer on disk, or an unreadable one: fall back to characters
        return None


def estimate(
    train: list[dict[str, Any]], epochs: int | None, tokenizer_model: str | None = None
) -> dict[str, Any] | None:
    """The billed-token estimate from checks.hosted_estimate (OpenAI's epoch rule), or None if absent."""
    try:
        from ftui.core.build.checks.hosted_estimate import hosted_estimate
    except ImportError:
        return None
    convs = [_conversation(r) for r in train]
    tok = _local_tokenizer(tokenizer_model)
    if tok is not None:
        counts = tok.count_many(convs)
        how = f"counted with the {tokenizer_model} tokenizer; the hosted model's own differs a little"
    else:
        counts = [
            math.ceil(sum(len(str(m.get("content") or "")) for m in c) / _CHARS_PER_TOKEN) + 4 * len(c) for c in convs
        ]
        how = f"approximate: {_CHARS_PER_TOKEN:g} characters per token, no local tokenizer"
    est = hosted_estimate(counts, epochs=epochs)
    est["note"] = how
    return est


def estimate_line(est: dict[str, Any]) -> str:
    return (
        f"billed-token estimate: {est['examples']} examples x {est['epochs']} epochs, "
        f"{est['tokens_per_epoch']:,} tokens per epoch = {est['billed_tokens']:,} tokens ({est['note']})"
    )
