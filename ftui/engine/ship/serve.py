"""The serving child: `python -m ftui.engine serve SERVE_DIR`.

CPU (or no vLLM): every model becomes a GGUF file — a run's `gguf-QUANT` export (written now if it
is missing or stale), the base model's in the workspace cache — and llama-cpp-python's server
serves them all from one config, each by its name (`base`, run ids), with the chat template in
the file. CUDA + vLLM: `vllm serve BASE --enable-lora --lora-modules RUN=ADAPTER ...` in this
process's place, the base under the name `base`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ftui.core.base import jobs
from ftui.core.base.fsutil import atomic_write_json
from ftui.core.ship import exports
from ftui.core.ship.serving import API_KEY_ENV, BASE_NAME, GENERATION_PATHS, LLAMA_CPP_REQUEST_DEFAULTS, vllm_lora_rank
from ftui.engine.child import ChildEnd


def pick_engine(requested: str) -> str:
    if requested != "auto":
        return requested
    if importlib.util.find_spec("vllm") is not None:
        import torch

        if torch.cuda.is_available():
            return "vllm"
    return "llama.cpp"


def _fresh(folder: Path, adapter: str | None, quant: str) -> bool:
    if not exports.is_export(folder):
        return False
    m = json.loads((folder / exports.MANIFEST).read_text(encoding="utf-8"))
    if m.get("quant") != quant or m.get("adapter") != adapter:
        return False
    # An adapter saved after the export (a resumed run) makes it stale.
    return adapter is None or (folder / "model.gguf").stat().st_mtime >= max(
        f.stat().st_mtime for f in Path(adapter).iterdir()
    )


def gguf_for(entry: dict, cfg: dict, emit) -> Path:
    """The GGUF file serving one entry, exported first when there is no fresh one."""
    from ftui.engine.ship.export import run_export

    quant = cfg["quant"]
    if entry["run_id"] is None:
        out = Path(cfg["gguf_cache"]) / f"{exports.slug(entry['model'])}-{quant}"
        job = {"name": f"{BASE_NAME}-{quant}", "run_id": BASE_NAME, "adapter": None}
    else:
        name = exports.export_name("gguf", quant)
        if Path(entry["adapter"]).name != "adapter":  # a checkpoint's adapter: its own file beside the final one
            name = f"{name}-{Path(entry['adapter']).name}"
        out = Path(entry["run_dir"]) / exports.EXPORTS_DIR / name
        job = {"name": name, "run_id": entry["run_id"], "adapter": entry["adapter"]}
    if not _fresh(out, job["adapter"], quant):
        emit("status", message=f"writing {out / 'model.gguf'} for {entry['name']}")
        run_export(
            {
                **job,
                "format": "gguf",
                "quant": quant,
                "model": entry["model"],
                "out": str(out),
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
            emit,
        )
    return out / "model.gguf"


def serve_llama_cpp(cfg: dict, sd: Path, emit, api_key: str | None = None) -> None:
    import uvicorn
    from llama_cpp.server.app import create_app
    from llama_cpp.server.settings import ConfigFileSettings, ServerSettings

    models = []
    for entry in cfg["models"]:
        path = gguf_for(entry, cfg, emit)
        models.append(
            {
                "model": str(path),
                "model_alias": entry["name"],
                "n_ctx": 4096,
                "n_threads": int(cfg.get("threads") or max(1, min(os.cpu_count() or 1, 4))),
                "seed": 0,
                "verbose": False,
            }
        )
    server_cfg = {"host": cfg["host"], "port": cfg["port"], "models": models}
    # The same file `python -m llama_cpp.server --config_file` takes, kept for the user to reuse.
    atomic_write_json(sd / "llama_cpp_server.json", server_cfg)
    # The key stays out of the file above: it lives in this process's memory only.
    settings = ConfigFileSettings.model_validate(server_cfg | ({"api_key": api_key} if api_key else {}))
    app = create_app(server_settings=ServerSettings.model_validate(settings), model_settings=settings.models)
    app = with_request_defaults(app, LLAMA_CPP_REQUEST_DEFAULTS)
    emit("status", message=f"serving {', '.join(m['model_alias'] for m in models)} at {cfg['base_url']}")
    uvicorn.run(app, host=cfg["host"], port=cfg["port"], log_level="info")


def with_request_defaults(app, defaults: dict[str, Any]):
    """An ASGI app that adds `defaults` to a generation request's JSON body where it leaves them out."""

    async def wrapped(scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in GENERATION_PATHS:
            return await app(scope, receive, send)
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        try:
            request = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            request = None  # the server answers a malformed body with its own error
        if isinstance(request, dict):
            body = json.dumps({**defaults, **request}).encode()
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()  # then the client's disconnect, if it comes
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await app({**scope, "headers": headers}, replay, send)

    return wrapped


def vllm_command(cfg: dict, base: Path | None = None) -> list[str]:
    """`vllm serve BASE --enable-lora --lora-modules ...`, run with this interpreter (the `vllm` script's module)."""
    if base is None:
        from ftui.engine.ship.export import base_model_dir

        base = base_model_dir(cfg["model"])
    cmd = [sys.executable, "-m", "vllm.entrypoints.cli.main", "serve", str(base)]
    cmd += ["--served-model-name", BASE_NAME, "--host", cfg["host"], "--port", str(cfg["port"])]
    tuned = [e for e in cfg["models"] if e["adapter"]]
    if tuned:
        ranks = [int(json.loads((Path(e["adapter"]) / "adapter_config.json").read_text())["r"]) for e in tuned]
        # The JSON form, not name=path: vLLM splits name=path at every "=" and reads any "," as JSON,
        # and only the JSON form names the base, which /v1/models then gives as each adapter's parent.
        modules = [json.dumps({"name": e["name"], "path": e["adapter"], "base_model_name": BASE_NAME}) for e in tuned]
        cmd += ["--enable-lora", "--max-lora-rank", str(vllm_lora_rank(ranks)), "--max-loras", str(len(tuned))]
        cmd += ["--lora-modules", *modules]
    return cmd


PARENT_POLL_S = 2.0


def watch_parent(pid: int, on_gone, poll: float = PARENT_POLL_S) -> threading.Thread:
    """Call `on_gone` once process `pid` has ended (or this process was handed to another parent):
    a server started for another process does not outlive it."""

    parent = os.getppid()

    def loop() -> None:
        while jobs.pid_alive(pid) and os.getppid() == parent:
            time.sleep(poll)
        on_gone()

    t = threading.Thread(target=loop, name="ftui-serve-parent", daemon=True)
    t.start()
    return t


def _stop_self() -> None:
    os.kill(os.getpid(), signal.SIGTERM)  # the server's own graceful shutdown
    time.sleep(20)
    os._exit(1)  # a shutdown that hangs still ends


def main(serve_dir: str | Path) -> int:
    sd = Path(serve_dir)
    cfg = json.loads((sd / exports.CONFIG).read_text(encoding="utf-8"))
    # Taken out of the environment, so nothing this process starts (an export) inherits it.
    api_key = os.environ.pop(API_KEY_ENV, None) or None
    if cfg.get("parent_pid"):
        watch_parent(int(cfg["parent_pid"]), _stop_self)
    # A SystemExit is the SIGTERM below: stopped while still preparing the models.
    end = ChildEnd(sd / exports.EVENTS, cancel_on=(SystemExit,), cancelled=lambda: {"step": 0})
    with end:
        engine = pick_engine(cfg.get("engine") or "auto")
        end.emit("started", pid=os.getpid(), engine=engine, port=cfg["port"])
        if engine == "vllm":
            cmd = vllm_command(cfg)
            end.emit("status", message="starting vLLM: " + " ".join(cmd))
            if api_key:  # vLLM's own variable for --api-key, kept off the command line `ps` shows
                os.environ["VLLM_API_KEY"] = api_key
            end.beat.stop()
            end.writer.close()
            os.execv(cmd[0], cmd)  # the server takes this process's pid; health is read from the endpoint
        # uvicorn's own handler turns SIGTERM into a graceful shutdown; before it runs, stop at once.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
        serve_llama_cpp(cfg, sd, end.emit, api_key)
        end.emit("finished", engine=engine, stopped=True)
    return end.exit_code
