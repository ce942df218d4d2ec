"""ftui's llama.cpp server reads a request as OpenAI means it: no repeat penalty unless one is named."""

from __future__ import annotations

import asyncio
import json

from ftui.core.ship.serving import LLAMA_CPP_REQUEST_DEFAULTS
from ftui.engine.ship.serve import with_request_defaults


def _call(path: str, body: bytes, method: str = "POST", chunks: int = 1) -> tuple[dict, bytes]:
    seen: dict = {}

    async def app(scope, receive, send):
        got = b""
        while True:
            msg = await receive()
            got += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        seen.update(scope=scope, body=got)

    cut = len(body) // chunks
    parts = [body[i * cut : (i + 1) * cut if i < chunks - 1 else None] for i in range(chunks)]
    queue = [{"type": "http.request", "body": p, "more_body": i < len(parts) - 1} for i, p in enumerate(parts)]

    async def receive():
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message):
        pass

    scope = {"type": "http", "method": method, "path": path, "headers": [(b"content-length", b"1")]}
    asyncio.run(with_request_defaults(app, LLAMA_CPP_REQUEST_DEFAULTS)(scope, receive, send))
    return seen["scope"], seen["body"]


def test_a_request_without_a_repeat_penalty_gets_none():
    body = json.dumps({"model": "base", "temperature": 0, "messages": []}).encode()
    scope, got = _call("/v1/chat/completions", body, chunks=2)  # a body in two messages is read whole
    assert json.loads(got) == {"repeat_penalty": 1.0, "model": "base", "temperature": 0, "messages": []}
    assert dict(scope["headers"])[b"content-length"] == str(len(got)).encode()


def test_a_named_penalty_is_kept_and_other_requests_pass_untouched():
    body = json.dumps({"prompt": "x", "repeat_penalty": 1.3}).encode()
    assert json.loads(_call("/v1/completions", body)[1])["repeat_penalty"] == 1.3
    assert _call("/v1/models", b"", method="GET")[1] == b""
    assert _call("/v1/chat/completions", b"{not json")[1] == b"{not json"  # the server's own error follows
