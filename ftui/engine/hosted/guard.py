"""What the service checks at the HTTP level, before a route runs: the Host header, body and header
sizes, a request id on every answer, and an unexpected error turned into OpenAI's 500 body."""

from __future__ import annotations

import json
import logging
import secrets
import sys
from typing import Any

from ftui.core.hosted.service import LOOPBACK, ServiceError
from ftui.core.hosted.service_request import error_body

# Bytes of a job request's JSON body, and of a chat request's (whose messages can be long).
JOB_BODY_LIMIT = 1 << 20
CHAT_BODY_LIMIT = 16 << 20
# A multipart form's bytes beyond its file: boundaries, part headers and the `purpose` field.
FORM_OVERHEAD = 64 << 10
REQUEST_ID = "ftui.request_id"
log = logging.getLogger("ftui.service")


def loopback_hosts(bind_host: str | None) -> frozenset[str] | None:
    """The Host names a loopback-bound service answers to; None (any) when it listens wider."""
    if bind_host not in LOOPBACK:
        return None
    return frozenset({"127.0.0.1", "localhost", "[::1]"})


def host_name(value: str) -> str:
    """A Host header without its port: `[::1]:8800` -> `[::1]`, `localhost:8800` -> `localhost`."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[: value.find("]") + 1]
    return value.split(":", 1)[0]


class Guard:
    """Around the whole app: a request id on every answer, the Host check, and an unexpected error
    logged with that id (the 500 body carries it too) instead of a bare traceback."""

    def __init__(self, app: Any, hosts: frozenset[str] | None):
        self.app, self.hosts = app, hosts

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        rid = f"req_{secrets.token_hex(12)}"
        scope[REQUEST_ID] = rid
        started = False

        async def tagged(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", rid.encode())]}
            await send(message)

        if self.hosts is not None:
            host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
            if host_name(host) not in self.hosts:
                msg = f"this service answers requests to {', '.join(sorted(self.hosts))} only, not {host!r}"
                return await send_json(tagged, 421, error_body(421, msg, None, "invalid_host"))
        try:
            await self.app(scope, receive, tagged)
        except Exception:
            log.exception("request %s: %s %s failed", rid, scope.get("method"), scope.get("path"))
            if not started:
                msg = f"The server had an error while processing your request (request id {rid})"
                await send_json(tagged, 500, error_body(500, msg))


async def send_json(send: Any, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def too_large(limit: int, param: str | None = None, code: str = "too_large") -> ServiceError:
    return ServiceError(413, f"the request is larger than this service's limit of {limit} bytes", param, code)


def counting(receive: Any, limit: int, param: str | None = None, code: str = "too_large") -> Any:
    """An ASGI receive that refuses a body past `limit` bytes as it arrives, whatever it declared."""
    seen = 0

    async def counted() -> Any:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise too_large(limit, param, code)
        return message

    return counted


async def json_object(request: Any, limit: int = JOB_BODY_LIMIT) -> dict[str, Any]:
    """A request's JSON object body, at most `limit` bytes; anything else is OpenAI's 4xx error, not a traceback."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large(limit)
    try:
        value = json.loads(bytes(body))
    except (ValueError, RecursionError):
        raise ServiceError(400, "the request body is not JSON") from None
    if not isinstance(value, dict):
        raise ServiceError(400, "the request body must be a JSON object")
    return value


# Bytes of a request's line and headers: OpenAI's clients send about 1 KB; past this the answer is 431.
MAX_HEADER_BYTES = 32 << 10
# Seconds a refused connection's remaining bytes are read and dropped before it is closed.
DRAIN_S = 2.0


def header_limited_protocol() -> type:
    """uvicorn's h11 protocol, answering a request whose headers pass h11's limit with 431 and
    OpenAI's error body (uvicorn's own answer is a plain-text 400 whatever h11 says)."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class Protocol(H11Protocol):
        def send_400_response(self, msg: str) -> None:
            import h11

            exc = sys.exc_info()[1]  # called from uvicorn's `except h11.RemoteProtocolError`
            status = getattr(exc, "error_status_hint", 400) if isinstance(exc, h11.RemoteProtocolError) else 400
            if status == 431:
                msg = f"request headers larger than this service's limit of {MAX_HEADER_BYTES} bytes"
            data = json.dumps(error_body(status, msg, None, "headers_too_large" if status == 431 else None))
            event = h11.Response(
                status_code=status, headers=[(b"content-type", b"application/json"), (b"connection", b"close")]
            )
            self.transport.write(self.conn.send(event))
            self.transport.write(self.conn.send(h11.Data(data=data.encode())))
            self.transport.write(self.conn.send(h11.EndOfMessage()))
            # The client may still be sending the rest of its headers: closing now would reset the
            # connection and lose the answer. Say we are done, read and drop the rest a short while.
            self._draining = True
            if self.transport.can_write_eof():
                self.transport.write_eof()
            self.loop.call_later(DRAIN_S, self.transport.close)

        def data_received(self, data: bytes) -> None:
            if getattr(self, "_draining", False):
                return
            super().data_received(data)

    return Protocol
