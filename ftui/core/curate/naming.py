"""Naming discovered clusters with an LLM through any OpenAI-compatible chat endpoint (optional).

The rule-based names (a defining signature, or distinguishing words) are always there; this asks a
model for a better name and one-line description from a cluster's representative failures. The
prompt is the user's to read (`ftui discover --llm --show-prompt`), and each reply is cached by
(model, prompt) in the state folder, so naming the same clusters again costs nothing. A name the
user gave by hand is never replaced.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftui.core.base.errors import FtuiError
from ftui.core.base.fsutil import append_jsonl
from ftui.core.grade.grading import extract_json

CACHE_NAME = "cluster_names.jsonl"
ITEM_CHARS = 300
SYSTEM = (
    "You name groups of failed answers from a language model so an engineer can tell them apart. "
    "Each group failed in a similar way. Say HOW the answers failed (wrong format, refusal, wrong "
    "fact, too long, ...), not only what they are about. Reply with JSON only: "
    '{"name": "short_snake_case_name", "description": "one sentence"}'
)
_SNAKE = re.compile(r"[^a-z0-9]+")


class NamingError(FtuiError):
    pass


@dataclass(frozen=True)
class Endpoint:
    base_url: str
    model: str
    api_key_env: str = "OPENAI_API_KEY"


def endpoint_for(
    ws: Any, base_url: str | None = None, model: str | None = None, key_env: str | None = None
) -> Endpoint:
    """The endpoint given, else the workspace's judge endpoint; an error when there is neither."""
    judge = ws.eval.judge
    if base_url is None and judge is None:
        raise NamingError("naming with an LLM needs an endpoint: --llm-url URL --llm-model NAME, or eval.judge")
    return Endpoint(
        base_url=base_url or judge.base_url,
        model=model or (judge.model if judge is not None else "") or "default",
        api_key_env=key_env or (judge.api_key_env if judge is not None else "OPENAI_API_KEY"),
    )


def _clip(text: str | None) -> str:
    t = " ".join((text or "").split())
    return t if len(t) <= ITEM_CHARS else t[: ITEM_CHARS - 1] + "…"


def messages(name: str, description: str, items: list[Any]) -> list[dict[str, str]]:
    parts = [f"Current name: {name}", f"What the rules found: {description}", "", "Examples:"]
    for n, it in enumerate(items, 1):
        parts.append(f"{n}. QUESTION: {_clip(it.question)}")
        parts.append(f"   EXPECTED: {_clip(it.expected) or '(none)'}")
        parts.append(f"   ANSWER: {_clip(it.answer)}")
        if getattr(it, "reason", None):
            parts.append(f"   GRADER: {_clip(it.grade_reason)}")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n".join(parts)}]


def _key(model: str, msgs: list[dict[str, str]]) -> str:
    return hashlib.sha256(json.dumps([model, msgs], ensure_ascii=False).encode()).hexdigest()


class Namer:
    def __init__(self, endpoint: Endpoint, cache_path: Path | None, client: Any = None):
        self.endpoint = endpoint
        self.cache_path = cache_path
        self._client = client
        self._cache: dict[str, dict[str, str]] | None = None
        self.calls = 0

    def _load(self) -> dict[str, dict[str, str]]:
        if self._cache is None:
            self._cache = {}
            if self.cache_path is not None and self.cache_path.exists():
                for raw in self.cache_path.read_bytes().splitlines():
                    try:
                        row = json.loads(raw)
                        self._cache[row["key"]] = {"name": row["name"], "description": row["description"]}
                    except (ValueError, KeyError, TypeError):
                        continue  # a torn line costs one more request, nothing else
        return self._cache

    def name(self, msgs: list[dict[str, str]]) -> dict[str, str]:
        key = _key(self.endpoint.model, msgs)
        hit = self._load().get(key)
        if hit is not None:
            return hit
        text = self._ask(msgs)
        obj, _ = extract_json(text)
        if not isinstance(obj, dict) or not str(obj.get("name") or "").strip():
            raise NamingError(f"{self.endpoint.base_url}: reply is not a JSON name: {' '.join(text.split())[:80]!r}")
        out = {
            "name": _SNAKE.sub("_", str(obj["name"]).lower()).strip("_")[:60] or "cluster",
            "description": " ".join(str(obj.get("description") or "").split())[:200],
        }
        self._load()[key] = out
        if self.cache_path is not None:
            append_jsonl(self.cache_path, {"key": key, "model": self.endpoint.model, **out})
        return out

    def _ask(self, msgs: list[dict[str, str]]) -> str:
        from openai import APIConnectionError, APIStatusError, OpenAI

        if self._client is None:
            key = os.environ.get(self.endpoint.api_key_env) or "not-set"
            self._client = OpenAI(base_url=self.endpoint.base_url, api_key=key, timeout=60.0, max_retries=2)
        self.calls += 1
        try:
            resp = self._client.chat.completions.create(
                model=self.endpoint.model, messages=msgs, temperature=0, max_tokens=200
            )
        except APIStatusError as exc:
            hint = f" (set ${self.endpoint.api_key_env})" if exc.status_code in (401, 403) else ""
            raise NamingError(f"{self.endpoint.base_url}: HTTP {exc.status_code}{hint}") from None
        except APIConnectionError as exc:
            raise NamingError(f"{self.endpoint.base_url}: cannot connect ({exc.__cause__ or exc})") from None
        return resp.choices[0].message.content or ""
