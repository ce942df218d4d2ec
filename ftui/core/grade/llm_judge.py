"""LLM-as-judge through any OpenAI-compatible chat endpoint, with verdicts cached on disk.

The cache makes re-grading free and reproducible: the same (model, rubric, question, answer,
expected) never costs a second call, and a report regenerated next week keeps its verdicts.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from pathlib import Path
from typing import Any

from ftui.core.base.errors import FtuiError
from ftui.core.base.fsutil import append_jsonl
from ftui.core.grade.grading import extract_json

CACHE_NAME = "judge.jsonl"
_WORD = re.compile(r"^\W*(pass|passed|fail|failed|correct|incorrect)\b", re.IGNORECASE)


class JudgeError(FtuiError):
    pass


def verdict_key(model: str, rubric: str, question: str, answer: str, expected: str | None) -> str:
    payload = json.dumps([model, rubric, question, answer, expected], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def parse_verdict(text: str) -> tuple[bool, str] | None:
    """(passed, reason) from a judge reply: JSON {"pass": ..., "reason": ...} or a leading PASS/FAIL."""
    obj, _ = extract_json(text or "")
    if isinstance(obj, dict):
        for key in ("pass", "passed", "correct", "verdict"):
            if key in obj:
                v = obj[key]
                if isinstance(v, str):
                    v = v.strip().lower() in ("pass", "passed", "true", "yes", "correct")
                if isinstance(v, bool):
                    reason = str(obj.get("reason") or obj.get("explanation") or "").strip()
                    return v, reason
    m = _WORD.match(text or "")
    if m:
        word = m.group(1).lower()
        rest = (text[m.end() :] or "").strip(" :.-\n")
        return word in ("pass", "passed", "correct"), rest
    return None


class Judge:
    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        rubric: str,
        api_key_env: str = "OPENAI_API_KEY",
        cache_path: Path | str | None = None,
        client: Any = None,
        timeout: float = 60.0,
    ):
        self.base_url = base_url
        self.model = model
        self.rubric = rubric
        self.api_key_env = api_key_env
        self.cache_path = Path(cache_path) if cache_path else None
        self._client = client
        self._timeout = timeout
        self._cache: dict[str, tuple[bool, str]] | None = None
        self._lock = threading.Lock()
        self.calls = 0  # requests actually sent (cache misses)

    @classmethod
    def from_config(cls, cfg: dict[str, Any], cache_path: Path | str | None) -> Judge:
        return cls(
            base_url=cfg["base_url"],
            model=cfg["model"],
            rubric=cfg["rubric"],
            api_key_env=cfg.get("api_key_env") or "OPENAI_API_KEY",
            cache_path=cache_path,
        )

    def _load_cache(self) -> dict[str, tuple[bool, str]]:
        if self._cache is None:
            self._cache = {}
            if self.cache_path and self.cache_path.exists():
                with open(self.cache_path, "rb") as fh:
                    for raw in fh:
                        try:
                            row = json.loads(raw)
                            self._cache[row["key"]] = (bool(row["pass"]), str(row.get("reason", "")))
                        except (ValueError, KeyError, TypeError):
                            continue  # a torn or foreign line costs one re-judged answer, nothing more
        return self._cache

    def _client_or_new(self) -> Any:
        if self._client is None:
            from openai import OpenAI

            key = os.environ.get(self.api_key_env) or "not-set"
            self._client = OpenAI(base_url=self.base_url, api_key=key, timeout=self._timeout, max_retries=2)
        return self._client

    def messages(self, question: str, answer: str, expected: str | None) -> list[dict[str, Any]]:
        user = (
            f"QUESTION:\n{question}\n\n"
            f"EXPECTED ANSWER:\n{expected if expected is not None else '(none given)'}\n\n"
            f"ANSWER TO GRADE:\n{answer}"
        )
        return [{"role": "system", "content": self.rubric}, {"role": "user", "content": user}]

    def verdict(self, question: str, answer: str, expected: str | None) -> tuple[bool, str]:
        key = verdict_key(self.model, self.rubric, question, answer, expected)
        with self._lock:
            hit = self._load_cache().get(key)
        if hit is not None:
            return hit[0], hit[1] or ("judge: pass" if hit[0] else "judge: fail")
        text = self._ask(question, answer, expected)
        parsed = parse_verdict(text)
        if parsed is None:
            # Not cached: a reply we cannot read is a judge problem, and the next run should ask again.
            short = " ".join(text.split())[:80]
            return False, f"judge reply not understood: {short!r}"
        passed, reason = parsed
        reason = f"judge: {reason}" if reason else ("judge: pass" if passed else "judge: fail")
        with self._lock:
            self._load_cache()[key] = (passed, reason)
            if self.cache_path is not None:
                append_jsonl(self.cache_path, {"key": key, "pass": passed, "reason": reason, "model": self.model})
        return passed, reason

    def _ask(self, question: str, answer: str, expected: str | None) -> str:
        from openai import APIConnectionError, APIStatusError

        client = self._client_or_new()
        self.calls += 1
        try:
            resp = client.chat.completions.create(
                model=self.model, messages=self.messages(question, answer, expected), temperature=0, max_tokens=256
            )
        except APIStatusError as exc:
            hint = f" (set ${self.api_key_env})" if exc.status_code in (401, 403) else ""
            raise JudgeError(f"judge {self.base_url}: HTTP {exc.status_code}{hint}") from None
        except APIConnectionError as exc:
            raise JudgeError(f"judge {self.base_url}: cannot connect ({exc.__cause__ or exc})") from None
        return resp.choices[0].message.content or ""
