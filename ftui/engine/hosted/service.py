"""The service child: `python -m ftui.engine service SERVICE_DIR`, OpenAI's fine-tuning API over HTTP.

FastAPI routes over `ftui.core.hosted.service.Service` (which owns every rule); this file only speaks
HTTP. Training jobs are ordinary detached runs, so stopping this process stops no training.
Chat completions go to an inference child, `python -m ftui.engine serve` (the same server as `ftui
serve`: llama.cpp on GGUF exports, or vLLM with the adapters on CUDA), restarted when a new
fine-tune has to join it. That keeps torch and the models out of this process, serves exactly
what `ftui parity` checks, and lets llama.cpp hold one model in memory at a time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import multiprocessing
import os
import secrets
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from ftui.core.base import jobs
from ftui.core.base.events import EventWriter
from ftui.core.base.fsutil import atomic_write_json
from ftui.core.hosted.service import Service, ServiceError, owner_of, page, take_keys
from ftui.core.hosted.service_files import public_file
from ftui.core.hosted.service_request import AuthThrottle, Limits, error_body
from ftui.core.ship import exports, serving
from ftui.core.workspace.workspace import Workspace
from ftui.engine.child import failure_fields

TICK_S = 1.0
INFERENCE_DIR = "inference"
INFERENCE_START_S = 900.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((serving.HOST, 0))
        return int(s.getsockname()[1])


class Inference:
    """The serving child for the base model and every succeeded job, restarted when the set grows.

    It listens on loopback and answers only requests carrying a key made anew for each start and
    held in memory here and in the child: a local process without it gets nothing, and every
    request this service forwards has had its tenant checked first. The child watches this
    process and stops when it ends; one left from a killed service is stopped on the next start.
    """

    def __init__(self, svc: Service):
        self.svc = svc
        self.dir = svc.root / INFERENCE_DIR
        self._lock = threading.Lock()
        self.key = secrets.token_urlsafe(32)

    def _running_names(self) -> set[str] | None:
        st = exports.job_state(self.dir)
        # One started by another service process has a key this one does not know: replace it.
        if st.state != "running" or st.config.get("parent_pid") != os.getpid():
            return None
        return {m["name"] for m in st.config.get("models") or []}

    def url(self, wanted: dict[str, tuple[Path, Path]]) -> str:
        """The child's base URL once it serves every name in `wanted` (name -> run folder, adapter folder)."""
        with self._lock:
            names = self._running_names()
            if names is None or not set(wanted) <= names:
                self.stop()
                # Every succeeded job joins, so one more fine-tune does not restart it for the others;
                # a checkpoint joins when asked for.
                finals = {name: (rd, rd / "adapter") for name, (_owner, rd) in self.svc.served_runs().items()}
                everything = finals | wanted
                self._start(everything)
            cfg = json.loads((self.dir / exports.CONFIG).read_text(encoding="utf-8"))
            url = str(cfg["base_url"])
            deadline = time.monotonic() + INFERENCE_START_S
            while True:
                listed = serving.served_models(url, api_key=self.key)
                if listed is not None and all(m["name"] in listed for m in cfg["models"]):
                    return url
                st = exports.job_state(self.dir)
                if st.state != "running":
                    raise ServiceError(503, f"the inference server {st.state}: {st.error or 'see its log'}")
                if time.monotonic() > deadline:
                    raise ServiceError(503, "the inference server did not start in time")
                time.sleep(0.5)

    def _start(self, models: dict[str, tuple[Path, Path]]) -> None:
        port = _free_port()
        ws = self.svc.ws
        names = list(models)
        run_dirs = [models[name][0] for name in names]
        cfg = serving.plan(ws, run_dirs, port=port, quant=serving.DEFAULT_QUANT, engine="auto")
        # The plan lists the base, then one entry per run folder given, in order.
        for entry, name in zip(cfg["models"][1:], names, strict=True):
            entry["name"], entry["adapter"] = name, str(models[name][1].resolve())
        cfg["parent_pid"] = os.getpid()
        self.dir.mkdir(parents=True, exist_ok=True)
        for stale in (exports.EVENTS, "stop"):
            (self.dir / stale).unlink(missing_ok=True)
        atomic_write_json(self.dir / exports.CONFIG, cfg)
        jobs.start_child(
            ["serve", str(self.dir.resolve())], self.dir, serving.LOG, extra_env={serving.API_KEY_ENV: self.key}
        )

    def stop(self) -> None:
        """Stop the serving child, this service's or one a killed service left behind."""
        if exports.job_state(self.dir).state != "running":
            return
        jobs.request_stop(self.dir)
        pid = jobs.read_pid(self.dir)
        deadline = time.monotonic() + 15
        while pid is not None and jobs.pid_alive(pid):
            if time.monotonic() > deadline:  # deaf to SIGTERM: it must not keep the memory and the port
                with contextlib.suppress(OSError):
                    os.killpg(os.getpgid(pid), signal.SIGKILL)
                return
            time.sleep(0.2)


def create_app(
    svc: Service,
    keys: frozenset[str],
    *,
    bind_host: str | None = None,
    throttle: AuthThrottle | None = None,
    inference: Inference | None = None,
) -> Any:
    """The HTTP app. `bind_host` a loopback address: only requests naming a loopback host are
    answered (a web page that rebinds its own name to 127.0.0.1 is not)."""
    app = FastAPI(title="ftui fine-tuning service", docs_url=None, redoc_url=None, openapi_url=None)
    inference = inference or Inference(svc)
    throttle = throttle or AuthThrottle()
    # Requests that wait long (a job's file check, a chat on a model still loading) take worker
    # threads of their own, so however many are in flight the other requests keep theirs.
    creating, chatting = anyio.CapacityLimiter(CREATING_AT_ONCE), anyio.CapacityLimiter(CHATS_AT_ONCE)

    @app.exception_handler(ServiceError)
    async def _service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        param = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
        return JSONResponse(ServiceError(400, str(first.get("msg", "invalid request")), param).body(), 400)

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(error_body(exc.status_code, str(exc.detail)), exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, _exc: Exception) -> JSONResponse:
        rid = request.scope.get(REQUEST_ID, "")
        msg = f"The server had an error while processing your request (request id {rid}); its log names it"
        return JSONResponse(error_body(500, msg), 500)

    def owner(request: Request) -> str:
        client = request.client.host if request.client else "unknown"
        wait = throttle.blocked(client)
        if wait:
            raise ServiceError(
                429,
                f"Too many failed authentications from {client}; try again in {math.ceil(wait)} s",
                code="rate_limit_exceeded",
            )
        header = request.headers.get("authorization") or ""
        if not header.lower().startswith("bearer ") or not header[7:].strip():
            throttle.failed(client)
            raise ServiceError(
                401, "You didn't provide an API key (Authorization: Bearer KEY).", code="invalid_api_key"
            )
        who = owner_of(header[7:].strip())
        if who not in keys:
            throttle.failed(client)
            raise ServiceError(401, "Incorrect API key provided.", code="invalid_api_key")
        return who

    def _limit(request: Request) -> int:
        try:
            return int(request.query_params.get("limit") or 20)
        except ValueError:
            raise ServiceError(400, "limit must be an integer", "limit") from None

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/files")
    async def upload(request: Request) -> dict[str, Any]:
        who = owner(request)
        limit = svc.limits.upload_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit + FORM_OVERHEAD:
            raise _too_large(limit, "file", "file_too_large")
        counted = Request(request.scope, _counting(request.receive, limit + FORM_OVERHEAD, "file", "file_too_large"))
        try:
            # Starlette spools each part to a temporary file past 1 MB: the upload is never whole in memory.
            form = await counted.form(max_files=1, max_fields=8)
        except ServiceError:
            raise
        except Exception:  # not multipart at all: say what is expected
            raise ServiceError(400, "expected a multipart form with `file` and `purpose`", "file") from None
        try:
            file, purpose = form.get("file"), form.get("purpose")
            if not isinstance(file, UploadFile):
                raise ServiceError(400, "expected a `file` part", "file")
            if not isinstance(purpose, str):
                raise ServiceError(400, "expected a `purpose` part", "purpose")
            await file.seek(0)
            return await run_in_threadpool(svc.add_file, who, file.filename or "upload.jsonl", file.file, purpose)
        finally:
            await form.close()

    @app.get("/v1/files")
    def list_files(request: Request) -> dict[str, Any]:
        return {"object": "list", "data": svc.list_files(owner(request)), "has_more": False}

    @app.get("/v1/files/{file_id}")
    def get_file(request: Request, file_id: str) -> dict[str, Any]:
        return public_file(svc.get_file(owner(request), file_id))

    @app.delete("/v1/files/{file_id}")
    def delete_file(request: Request, file_id: str) -> dict[str, Any]:
        return svc.delete_file(owner(request), file_id)

    @app.get("/v1/files/{file_id}/content")
    def file_content(request: Request, file_id: str) -> Response:
        try:  # opened now: a delete after this still lets the answer finish
            fh = svc.file_path(owner(request), file_id).open("rb")
        except FileNotFoundError:
            raise ServiceError(404, f"No such File object: {file_id}", "file_id") from None

        def chunks() -> Iterator[bytes]:
            with fh:
                while chunk := fh.read(1 << 20):
                    yield chunk

        return StreamingResponse(chunks(), media_type="application/octet-stream")

    @app.post("/v1/fine_tuning/jobs")
    async def create_job(request: Request) -> dict[str, Any]:
        who = owner(request)
        body = await _json_object(request)
        # The file check reads and tokenizes the whole upload: a worker thread's work, never the loop's.
        job: dict[str, Any] = await anyio.to_thread.run_sync(svc.create_job, who, body, limiter=creating)
        await run_in_threadpool(svc.tick)
        return job

    @app.get("/v1/fine_tuning/jobs")
    def list_jobs(request: Request) -> dict[str, Any]:
        return page(svc.list_jobs(owner(request)), request.query_params.get("after"), _limit(request))

    @app.get("/v1/fine_tuning/jobs/{job_id}")
    def retrieve(request: Request, job_id: str) -> dict[str, Any]:
        return svc.public_job(svc.job(owner(request), job_id).record)

    @app.post("/v1/fine_tuning/jobs/{job_id}/cancel")
    def cancel(request: Request, job_id: str) -> dict[str, Any]:
        return svc.cancel(owner(request), job_id)

    @app.get("/v1/fine_tuning/jobs/{job_id}/events")
    def events(request: Request, job_id: str) -> dict[str, Any]:
        newest_first = svc.events(owner(request), job_id)[::-1]
        return page(newest_first, request.query_params.get("after"), _limit(request))

    @app.get("/v1/fine_tuning/jobs/{job_id}/checkpoints")
    def checkpoints(request: Request, job_id: str) -> dict[str, Any]:
        newest_first = svc.checkpoints(owner(request), job_id)[::-1]
        return page(newest_first, request.query_params.get("after"), _limit(request))

    @app.get("/v1/models")
    def models(request: Request) -> dict[str, Any]:
        return {"object": "list", "data": svc.models(owner(request))}

    def _chat_target(who: str, model: Any) -> tuple[str, dict[str, tuple[Path, Path]]]:
        if not isinstance(model, str):
            raise ServiceError(400, "model must be a string", "model")
        if model == svc.base_name:
            return serving.BASE_NAME, {}
        return model, {model: svc.chat_model(who, model)}  # the tenant's own models only

    def _forward(path: str, request_body: dict[str, Any], who: str) -> Any:
        asked = request_body.get("model")
        who_model, wanted = _chat_target(who, asked)
        url = inference.url(wanted)
        request_body["model"] = who_model
        req = urllib.request.Request(
            f"{url}/{path}",
            data=json.dumps(request_body).encode("utf-8"),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {inference.key}"},
        )
        try:
            resp = urllib.request.urlopen(req, timeout=INFERENCE_START_S)
        except urllib.error.HTTPError as exc:
            return JSONResponse(_error_body(exc), exc.code)
        except (urllib.error.URLError, OSError) as exc:
            raise ServiceError(503, f"the inference server did not answer: {exc}") from None
        if request_body.get("stream"):

            def chunks() -> Iterator[bytes]:
                with resp:
                    while chunk := resp.read1(65536):
                        yield chunk

            return StreamingResponse(chunks(), media_type=resp.headers.get("Content-Type") or "text/event-stream")
        with resp:
            data = json.loads(resp.read().decode("utf-8"))
        if isinstance(data, dict) and "model" in data:
            data["model"] = asked
        return JSONResponse(data)

    for path in ("chat/completions", "completions"):

        def make(path: str = path) -> Any:
            async def endpoint(request: Request) -> Any:
                who = owner(request)
                body = await _json_object(request, CHAT_BODY_LIMIT)
                return await anyio.to_thread.run_sync(_forward, path, body, who, limiter=chatting)

            return endpoint

        app.add_api_route(f"/v1/{path}", make(), methods=["POST"])

    return Guard(app, loopback_hosts(bind_host))


# Job requests whose files are being checked, and chat requests being answered, at once; more wait
# their turn without holding the threads every other request is served from.
CREATING_AT_ONCE = 4
CHATS_AT_ONCE = 8
# Bytes of a job request's JSON body, and of a chat request's (whose messages can be long).
JOB_BODY_LIMIT = 1 << 20
CHAT_BODY_LIMIT = 16 << 20
# A multipart form's bytes beyond its file: boundaries, part headers and the `purpose` field.
FORM_OVERHEAD = 64 << 10
REQUEST_ID = "ftui.request_id"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
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
                return await _send_json(tagged, 421, error_body(421, msg, None, "invalid_host"))
        try:
            await self.app(scope, receive, tagged)
        except Exception:
            log.exception("request %s: %s %s failed", rid, scope.get("method"), scope.get("path"))
            if not started:
                msg = f"The server had an error while processing your request (request id {rid})"
                await _send_json(tagged, 500, error_body(500, msg))


async def _send_json(send: Any, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def _too_large(limit: int, param: str | None = None, code: str = "too_large") -> ServiceError:
    return ServiceError(413, f"the request is larger than this service's limit of {limit} bytes", param, code)


def _counting(receive: Any, limit: int, param: str | None = None, code: str = "too_large") -> Any:
    """An ASGI receive that refuses a body past `limit` bytes as it arrives, whatever it declared."""
    seen = 0

    async def counted() -> Any:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise _too_large(limit, param, code)
        return message

    return counted


async def _json_object(request: Any, limit: int = JOB_BODY_LIMIT) -> dict[str, Any]:
    """A request's JSON object body, at most `limit` bytes; anything else is OpenAI's 4xx error, not a traceback."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(limit)
    try:
        value = json.loads(bytes(body))
    except (ValueError, RecursionError):
        raise ServiceError(400, "the request body is not JSON") from None
    if not isinstance(value, dict):
        raise ServiceError(400, "the request body must be a JSON object")
    return value


def _error_body(exc: urllib.error.HTTPError) -> dict[str, Any]:
    try:
        body = json.loads(exc.read().decode("utf-8"))
    except (ValueError, OSError):
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body
    return ServiceError(exc.code, f"the inference server refused the request: {body or exc.reason}").body()


def _ticker(svc: Service, stop: threading.Event, writer: EventWriter) -> None:
    while not stop.wait(TICK_S):
        try:
            for run_id in svc.tick():
                writer.emit("status", message=f"started run {run_id}")
        except Exception as exc:  # one bad tick must not stop the queue; the log has the traceback
            import traceback

            traceback.print_exc()
            writer.emit("status", message=f"queue: {type(exc).__name__}: {exc}")


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


def main(service_dir: str | Path) -> int:
    from ftui.engine.child import Heartbeat

    sd = Path(service_dir)
    cfg = json.loads((sd / exports.CONFIG).read_text(encoding="utf-8"))
    writer = EventWriter(sd / exports.EVENTS)
    beat = Heartbeat(writer).start()
    stop = threading.Event()
    svc: Service | None = None
    try:
        # Out of the environment before any child starts: training and serving never see the keys.
        keys = take_keys()
        ws = Workspace.load(cfg["workspace"])
        limits = Limits(**{k: int(v) for k, v in (cfg.get("limits") or {}).items()})
        svc = Service(ws, max_running=int(cfg.get("max_running") or 1), limits=limits)
        # One checker process: jobs' file checks take turns (bounded memory) beside the requests.
        svc.new_checker = lambda: ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        Inference(svc).stop()  # a model server a killed service left running: found and stopped
        writer.emit("started", pid=os.getpid(), port=cfg["port"], model=svc.base_name)
        threading.Thread(target=_ticker, args=(svc, stop, writer), name="ftui-service-queue", daemon=True).start()
        import uvicorn

        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)
        app = create_app(svc, keys, bind_host=cfg["host"])
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        writer.emit("status", message=f"serving the fine-tuning API at {cfg['base_url']}")
        uvicorn.run(
            app,
            host=cfg["host"],
            port=int(cfg["port"]),
            log_level="info",
            http=header_limited_protocol(),
            h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        )
        writer.emit("finished", stopped=True)
        return 0
    except SystemExit:
        writer.emit("cancelled", step=0)
        return 0
    except BaseException as exc:  # the event is the only report a detached child can give
        writer.emit("failed", **failure_fields(exc))
        print(f"ftui service: {exc}", file=sys.stderr)
        return 1
    finally:
        stop.set()
        if svc is not None:
            svc.close()
        if svc is not None:
            Inference(svc).stop()  # a model server left behind would hold the memory and a port
        beat.stop()
        writer.close()
