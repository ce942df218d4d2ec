"""`ftui serve`, core side: one OpenAI-compatible server per workspace, serving the base model and
fine-tunes by name, launched and followed like a training run.

The server folder is STATE/serve/ (config.json, events.jsonl, serve.log, pid). The child
(`python -m ftui.engine serve DIR`) writes the GGUF files it needs (a run's `gguf-QUANT` export,
the base model's in STATE/cache/gguf/) and then runs llama-cpp-python's server in its own process;
on a CUDA machine with vLLM installed it runs `vllm serve` with the runs' adapters as LoRA modules.
Health is what the endpoint itself says: GET /v1/models lists every name it should serve.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftui.core.base import jobs
from ftui.core.base.errors import FtuiError
from ftui.core.base.fsutil import atomic_write_json
from ftui.core.runs import runs
from ftui.core.ship import exports

if TYPE_CHECKING:
    from ftui.core.workspace.workspace import Workspace

SERVE_DIR = "serve"
LOG = "serve.log"
DEFAULT_PORT = 8765
DEFAULT_QUANT = "f16"
HOST = "127.0.0.1"
ENGINES = ("auto", "llama.cpp", "vllm")
BASE_NAME = "base"
# Seconds one request to the local server may take: llama-cpp-python's server holds one model at a
# time and loads the asked-for one on the first request after a switch, which on a busy CPU has
# taken more than the two minutes a hosted endpoint is given.
SERVED_TIMEOUT_S = 900.0
# What makes llama-cpp-python's server decode as the judged model did: asked only for temperature 0
# it still applies its defaults (repeat penalty 1.1, top-k 40, min-p 0.05), and on the sample that
# changed 27 of 64 answers and 7 grades. vLLM's defaults apply no penalty.
LLAMA_CPP_GREEDY = {"repeat_penalty": 1.0, "top_k": 1, "min_p": 0.0}
# OpenAI's API has no repeat penalty; llama-cpp-python's server applies 1.1 to a request that does
# not name one, so an application asking ftui's server for temperature 0 would not get the judged
# model's greedy answers. ftui's server fills these in where a request leaves them out.
LLAMA_CPP_REQUEST_DEFAULTS = {"repeat_penalty": 1.0}
GENERATION_PATHS = ("/v1/chat/completions", "/v1/completions")
# The key a serving child requires on every request, when its parent gives it one (the fine-tuning
# service does, a new one each start): in the child's environment only, never in its config file.
API_KEY_ENV = "FTUI_SERVE_API_KEY"


class ServeError(FtuiError):
    pass


# vLLM takes `--max-lora-rank` only from this set (vllm/config/lora.py, MaxLoRARanks).
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


def vllm_lora_rank(ranks: list[int]) -> int:
    """The smallest rank vLLM accepts that holds every adapter's."""
    need = max(ranks, default=1)
    for r in VLLM_LORA_RANKS:
        if need <= r:
            return r
    raise ValueError(f"LoRA rank {need} is above vLLM's largest, {VLLM_LORA_RANKS[-1]}")


def serve_dir(ws: Workspace) -> Path:
    return Path(ws.state.root) / SERVE_DIR


def model_name(run_dir: Path) -> str:
    """The name a fine-tune is asked for by: its run id."""
    return Path(run_dir).name


def base_url(port: int) -> str:
    return f"http://{HOST}:{port}/v1"


def port_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        # As the servers bind: a port whose last connections linger in TIME_WAIT is free, a listener is not.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def plan(
    ws: Workspace, run_dirs: list[Path], *, port: int, quant: str, engine: str, threads: int | None = None
) -> dict[str, Any]:
    if engine not in ENGINES:
        raise ServeError(f"unknown serving engine {engine!r} (one of: {', '.join(ENGINES)})")
    if quant not in exports.QUANTS:
        raise ServeError(f"unknown GGUF type {quant!r} (one of: {', '.join(exports.QUANTS)})")
    models = [{"name": BASE_NAME, "run_id": None, "adapter": None, "model": ws.model}]
    for rd in run_dirs:
        rd = Path(rd)
        cfg = runs.read_run_config(rd)
        adapter = exports.adapter_dir(rd)  # a run without an adapter is one clear line here
        model = cfg.get("model") or ws.model
        if model != ws.model:
            raise ServeError(f"{rd}: run {rd.name} fine-tunes {model}, not the workspace's model {ws.model}")
        models.append(
            {
                "name": model_name(rd),
                "run_id": rd.name,
                "run_dir": str(rd),
                "adapter": str(adapter.resolve()),
                "model": model,
            }
        )
    if engine != "vllm":
        exports.check_architecture(ws.model, "gguf")
    return {
        "schema": 1,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "workspace": str(ws.root),
        "host": HOST,
        "port": int(port),
        "base_url": base_url(port),
        "quant": quant,
        # llama.cpp's threads per request; None: one per core, up to 4. On a CPU shared with other
        # jobs fewer threads answer faster (llama.cpp's threads wait on each other at every layer).
        "threads": threads,
        "engine": engine,
        "model": ws.model,
        "system_prompt": ws.prompt.default_system,
        "gguf_cache": str(Path(ws.state.cache) / "gguf"),
        "models": models,
    }


def start(
    ws: Workspace,
    run_dirs: list[Path],
    *,
    port: int = DEFAULT_PORT,
    quant: str = DEFAULT_QUANT,
    engine: str = "auto",
    threads: int | None = None,
) -> tuple[Path, int]:
    sd = serve_dir(ws)
    st = jobs.job_state(sd)
    if st.state == "running":
        cfg = st.config
        raise ServeError(
            f"{sd}: a server is already running for this workspace on port {cfg.get('port')} (pid {st.pid}); "
            "`ftui serve --stop` first"
        )
    if not port_free(port):
        raise ServeError(f"port {port} on {HOST} is busy; pick another with --port")
    if threads is not None and threads < 1:
        raise ServeError(f"--threads {threads}: give 1 or more")
    cfg = plan(ws, run_dirs, port=port, quant=quant, engine=engine, threads=threads)
    jobs.fresh_folder(sd)
    atomic_write_json(sd / exports.CONFIG, cfg)
    return sd, jobs.start_child(["serve", str(sd.resolve())], sd, LOG)


def served_models(url: str, timeout: float = 2.0, api_key: str | None = None) -> list[str] | None:
    """The model names the endpoint lists, or None when it does not answer (or refuses the key)."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(f"{url}/models", headers=headers), timeout=timeout) as resp:
            data = json.loads(resp.read().decode("utf-8"))
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return [m.get("id") for m in data.get("data") or []]


def status(ws: Workspace) -> dict[str, Any]:
    sd = serve_dir(ws)
    st = jobs.job_state(sd)
    cfg = st.config
    out: dict[str, Any] = {
        "state": st.state,
        "pid": st.pid,
        "dir": str(sd),
        "log": str(sd / LOG),
        "message": st.message,
    }
    if st.state == "none":
        return out | {"healthy": False}
    url = str(cfg.get("base_url") or "")
    wanted = [m["name"] for m in cfg.get("models") or []]
    listed = served_models(url) if st.state == "running" else None
    out.update(
        base_url=url,
        engine=st.started.get("engine") or cfg.get("engine"),
        models=wanted,
        listed=listed,
        healthy=listed is not None and all(n in listed for n in wanted),
        error=st.error,
    )
    return out


def wait_healthy(
    ws: Workspace, timeout: float = 900, on_status: Callable[[str], None] | None = None, poll: float = 1.0
) -> dict[str, Any]:
    """Block until the endpoint lists every model, or the child fails; a failure is a ServeError with the log's tail."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        st = status(ws)
        if st.get("healthy"):
            return st
        if st["state"] in ("failed", "dead", "cancelled", "finished"):
            tail = _tail(Path(st["log"]))
            raise ServeError(f"{st['log']}: the server {st['state']}: {st.get('error') or tail}")
        if on_status and st.get("message") and st["message"] != last:
            last = st["message"]
            on_status(last)
        if time.monotonic() > deadline:
            raise ServeError(f"{st['log']}: the server did not answer within {timeout:.0f} s")
        time.sleep(poll)


def _tail(path: Path, n: int = 3) -> str:
    try:
        lines = [ln for ln in path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    return " | ".join(lines[-n:]) or "empty log"


def stop(ws: Workspace, wait: float = 15.0) -> bool:
    sd = serve_dir(ws)
    if jobs.job_state(sd).state != "running":
        return False
    jobs.stop_and_wait(sd, wait)
    return True


def render_status(st: dict[str, Any]) -> str:
    if st["state"] == "none":
        return "No server for this workspace."
    head = f"Server {st['state']}" + (" and healthy" if st.get("healthy") else "") + f" at {st.get('base_url')}"
    lines = [head, f"  engine: {st.get('engine')}", f"  log: {st['log']}"]
    for name in st.get("models") or []:
        up = st.get("listed") is not None and name in st["listed"]
        lines.append(f"  model {name}: {'served' if up else 'not listed'}")
    if st.get("error"):
        lines.append(f"  error: {st['error']}")
    return "\n".join(lines)


def served_endpoint(ws: Workspace, run_dir: Path) -> dict[str, Any]:
    """The endpoint (as an evaluation side) that serves a run's fine-tune, checked live."""
    st = status(ws)
    name = model_name(run_dir)
    if not st.get("healthy"):
        raise ServeError(f"{serve_dir(ws)}: no healthy server for this workspace; `ftui serve {name}` first")
    if name not in (st.get("listed") or []):
        raise ServeError(f"{st['base_url']}: the server does not serve {name}; `ftui serve {name}` serves it")
    ep: dict[str, Any] = {
        "base_url": st["base_url"],
        "model": name,
        "api_key_env": "OPENAI_API_KEY",
        "timeout_s": SERVED_TIMEOUT_S,
    }
    if st.get("engine") != "vllm":
        ep["extra_body"] = LLAMA_CPP_GREEDY
    return ep
