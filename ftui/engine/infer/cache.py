"""Answers already generated, by (model, prompt, generation settings): evaluation and drafting share them."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from ftui.core.base.fsutil import append_jsonl


def model_identity(model: str) -> str:
    """What names the base model in the cache: a folder by its absolute path, anything else by name."""
    p = Path(model).expanduser()
    return str(p.resolve()) if p.is_dir() else model.strip().lower()


def endpoint_identity(ep: dict) -> str:
    ident = f"endpoint:{ep['base_url'].rstrip('/')}:{ep['model']}"
    # Other decoding fields give other answers: they must not share cached ones.
    return ident + (f":{json.dumps(ep['extra_body'], sort_keys=True)}" if ep.get("extra_body") else "")


def answer_key(identity: str, messages: list[dict], max_new_tokens: int) -> str:
    payload = {
        "model": identity,
        "messages": messages,
        "settings": {"decoding": "greedy", "max_new_tokens": max_new_tokens},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


class AnswerCache:
    """Base-model answers by (model, prompt, generation settings), shared by every run of a workspace."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._rows: dict[str, str] = {}
        if self.path.exists():
            with open(self.path, "rb") as fh:
                for raw in fh:
                    try:
                        row = json.loads(raw)
                        self._rows[row["key"]] = row["answer"]
                    except (ValueError, KeyError, TypeError):
                        continue  # a torn last line costs one regenerated answer

    def get(self, key: str) -> str | None:
        return self._rows.get(key)

    def put(self, key: str, answer: str, identity: str) -> None:
        self._rows[key] = answer
        append_jsonl(self.path, {"key": key, "answer": answer, "model": identity, "t": round(time.time(), 3)})

    def __len__(self) -> int:
        return len(self._rows)
