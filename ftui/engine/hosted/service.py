"""The service child: `python -m ftui.engine service SERVICE_DIR`, OpenAI's fine-tuning API over HTTP.

FastAPI routes over `ftui.core.hosted.service.Service` (which owns every rule); this file only speaks
HTTP. Training jobs are ordinary detached runs, so stopping this process stops no training.
Chat completions go to an inference child, `python -m ftui.engine serve` (the same server as `ftui
serve`: llama.cpp on GGUF exports, or vLLM with the adapters on CUDA), restarted when a new
fine-tune has to join it. That keeps torch and the models out of this process, serves exactly
what `ftui parity` checks, and lets llama.cpp hold one model in memory at a time (inference.py).
Around the routes, guard.py checks what HTTP brings before any route runs.
"""

from __future__ import annotations

import json
import logging
import math
import multiprocessing
import os
import signal
import sys
import threading
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

from ftui.core.base.events import EventWriter
from ftui.core.hosted.service import Service, ServiceError, owner_of, page, take_keys
from ftui.core.hosted.service_files import public_file
from ftui.core.hosted.service_request import AuthThrottle, Limits, error_body
from ftui.core.ship import exports, serving
from ftui.core.workspace.workspace import Workspace
from ftui.engine.child import failure_fields
from ftui.engine.hosted.guard import (
    CHAT_BODY_LIMIT,
    FORM_OVERHEAD,
    MAX_HEADER_BYTES,
    REQUEST_ID,
    Guard,
    counting,
    header_limited_protocol,
    json_object,
    log,
    loopback_hosts,
    too_large,
)
from ftui.engine.hosted.inference import INFERENCE_START_S, Inference

TICK_S = 1.0


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
            raise too_large(limit, "file", "file_too_large")
        counted = Request(request.scope, counting(request.receive, limit + FORM_OVERHEAD, "file", "file_too_large"))
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
        body = await json_object(request)
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
                body = await json_object(request, CHAT_BODY_LIMIT)
                return await anyio.to_thread.run_sync(_forward, path, body, who, limiter=chatting)

            return endpoint

        app.add_api_route(f"/v1/{path}", make(), methods=["POST"])

    return Guard(app, loopback_hosts(bind_host))


# Job requests whose files are being checked, and chat requests being answered, at once; more wait
# their turn without holding the threads every other request is served from.
CREATING_AT_ONCE = 4
CHATS_AT_ONCE = 8


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
