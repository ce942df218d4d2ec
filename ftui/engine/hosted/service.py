"""The service child: `python -m ftui.engine service SERVICE_DIR`, OpenAI's fine-tuning API over HTTP.

FastAPI routes over `ftui.core.hosted.service.Service` (which owns every rule); this file only speaks
HTTP. Training jobs are ordinary detached runs, so stopping this process stops no training.
Chat completions go to an inference child, `python -m ftui.engine serve` (the same server as `ftui
serve`: llama.cpp on GGUF exports, or vLLM with the adapters on CUDA), restarted when a new
fine-tune has to join it. That keeps torch and the models out of this process, serves exactly
what `ftui parity` checks, and lets llama.cpp hold one model in memory at a time.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from ftui.core.base import jobs
from ftui.core.base.events import EventWriter
from ftui.core.base.fsutil import atomic_write_json
from ftui.core.hosted.service import KEYS_ENV, Service, ServiceError, keys_from_env, owner_of, page
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
    """The serving child for the base model and every succeeded job, restarted when the set grows."""

    def __init__(self, svc: Service):
        self.svc = svc
        self.dir = svc.root / INFERENCE_DIR
        self._lock = threading.Lock()

    def _running_names(self) -> set[str] | None:
        st = jobs.job_state(self.dir)
        if st.state != "running":
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
                listed = serving.served_models(url)
                if listed is not None and all(m["name"] in listed for m in cfg["models"]):
                    return url
                st = jobs.job_state(self.dir)
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
        jobs.fresh_folder(self.dir)
        atomic_write_json(self.dir / exports.CONFIG, cfg)
        jobs.start_child(["serve", str(self.dir.resolve())], self.dir, serving.LOG)

    def stop(self) -> None:
        if jobs.job_state(self.dir).state != "running":
            return
        jobs.stop_and_wait(self.dir, 15)


def create_app(svc: Service, keys: frozenset[str]) -> Any:
    app = FastAPI(title="ftui fine-tuning service", docs_url=None, redoc_url=None, openapi_url=None)
    inference = Inference(svc)
    app.state.inference = inference

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
        return JSONResponse(ServiceError(exc.status_code, str(exc.detail)).body(), exc.status_code)

    def owner(request: Request) -> str:
        header = request.headers.get("authorization") or ""
        if not header.lower().startswith("bearer ") or not header[7:].strip():
            raise ServiceError(
                401, "You didn't provide an API key (Authorization: Bearer KEY).", code="invalid_api_key"
            )
        who = owner_of(header[7:].strip())
        if who not in keys:
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
        try:
            form = await request.form()
        except Exception:  # not multipart at all: say what is expected
            raise ServiceError(400, "expected a multipart form with `file` and `purpose`", "file") from None
        file, purpose = form.get("file"), form.get("purpose")
        if not isinstance(file, UploadFile):
            raise ServiceError(400, "expected a `file` part", "file")
        if not isinstance(purpose, str):
            raise ServiceError(400, "expected a `purpose` part", "purpose")
        content = await file.read()
        return await run_in_threadpool(svc.add_file, who, file.filename or "upload.jsonl", content, purpose)

    @app.get("/v1/files")
    def list_files(request: Request) -> dict[str, Any]:
        return {"object": "list", "data": svc.list_files(owner(request)), "has_more": False}

    @app.get("/v1/files/{file_id}")
    def get_file(request: Request, file_id: str) -> dict[str, Any]:
        rec = svc.get_file(owner(request), file_id)
        return {k: v for k, v in rec.items() if k != "owner"}

    @app.delete("/v1/files/{file_id}")
    def delete_file(request: Request, file_id: str) -> dict[str, Any]:
        return svc.delete_file(owner(request), file_id)

    @app.get("/v1/files/{file_id}/content")
    def file_content(request: Request, file_id: str) -> Response:
        return Response(svc.file_content(owner(request), file_id), media_type="application/octet-stream")

    @app.post("/v1/fine_tuning/jobs")
    async def create_job(request: Request) -> dict[str, Any]:
        who = owner(request)
        job = svc.create_job(who, await _json_object(request))
        svc.tick()
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
        if model == svc.base_name:
            return serving.BASE_NAME, {}
        return model, {model: svc.chat_model(who, model)}

    def _forward(path: str, request_body: dict[str, Any]) -> Any:
        asked = request_body.pop("_asked")
        who_model, wanted = _chat_target(request_body.pop("_owner"), asked)
        url = inference.url(wanted)
        request_body["model"] = who_model
        req = urllib.request.Request(
            f"{url}/{path}",
            data=json.dumps(request_body).encode("utf-8"),
            headers={"Content-Type": "application/json", "Authorization": "Bearer local"},
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
                body = await _json_object(request)
                body["_owner"], body["_asked"] = who, body.get("model")
                return await run_in_threadpool(_forward, path, body)

            return endpoint

        app.add_api_route(f"/v1/{path}", make(), methods=["POST"])

    return app


async def _json_object(request: Any) -> dict[str, Any]:
    """A request's JSON object body; anything else is OpenAI's 400 error, not a traceback."""
    try:
        body = await request.json()
    except ValueError:
        raise ServiceError(400, "the request body is not JSON") from None
    if not isinstance(body, dict):
        raise ServiceError(400, "the request body must be a JSON object")
    return body


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
        keys = keys_from_env(os.environ.get(KEYS_ENV))
        if not keys:
            raise ServiceError(401, f"no keys: set {KEYS_ENV} to one or more keys, comma-separated")
        ws = Workspace.load(cfg["workspace"])
        svc = Service(ws, max_running=int(cfg.get("max_running") or 1))
        writer.emit("started", pid=os.getpid(), port=cfg["port"], model=svc.base_name)
        threading.Thread(target=_ticker, args=(svc, stop, writer), name="ftui-service-queue", daemon=True).start()
        import uvicorn

        app = create_app(svc, keys)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        writer.emit("status", message=f"serving the fine-tuning API at {cfg['base_url']}")
        uvicorn.run(app, host=cfg["host"], port=int(cfg["port"]), log_level="info")
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
            Inference(svc).stop()  # a model server left behind would hold the memory and a port
        beat.stop()
        writer.close()
