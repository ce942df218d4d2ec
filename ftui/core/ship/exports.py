"""Exports of a run's fine-tune (merged weights, adapter folder, GGUF, Ollama), core side: check the
request, write the job's plan, start the child, read its progress.

An export is a job folder `RUN/export-jobs/NAME/` (config.json, events.jsonl, export.log, pid) and
an artifact folder (default `RUN/exports/NAME/`). The child writes the artifact into a temp folder
beside it and renames it into place only when it is complete, so a failed export never replaces a
good one.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftui.core.base import jobs
from ftui.core.base.errors import FtuiError
from ftui.core.base.formatting import plural, size
from ftui.core.base.fsutil import atomic_write_json
from ftui.core.base.models import local_model_dir
from ftui.core.base.paths import read_path, store_path, workspace_root
from ftui.core.base.stack import require_train_stack
from ftui.core.runs import runs

if TYPE_CHECKING:
    from ftui.core.workspace.workspace import Workspace

FORMATS = ("merged", "adapter", "gguf", "ollama")
QUANTS = ("f16", "q8_0")
DEFAULT_QUANT = "q8_0"
# Architectures the GGUF writer knows the tensor layout of (llama.cpp's `llama` graph).
GGUF_ARCHITECTURES = ("llama",)
JOBS_DIR = "export-jobs"
EXPORTS_DIR = "exports"
MANIFEST = "ftui-export.json"
CONFIG = jobs.CONFIG
EVENTS = jobs.EVENTS
LOG = "export.log"


class ExportError(FtuiError):
    pass


# The config keys that hold paths: stored relative to the job folder, resolved by `read_config`.
EXPORT_PATHS = ("out", "run_dir", "adapter")


def read_config(jd: Path | str) -> dict[str, Any]:
    """An export job's config.json with its paths absolute (relative ones, and absolute ones of a
    workspace since copied or moved, resolved against where the job folder is now)."""
    cfg: dict[str, Any] = json.loads((Path(jd) / CONFIG).read_text(encoding="utf-8"))
    old = cfg.get("workspace")
    for k in EXPORT_PATHS:
        if cfg.get(k):
            cfg[k] = str(read_path(cfg[k], jd, old))
    root = workspace_root(jd)
    if root is not None:
        cfg["workspace"] = str(root)
    return cfg


def export_name(fmt: str, quant: str | None = None) -> str:
    return f"{fmt}-{quant}" if fmt in ("gguf", "ollama") else fmt


def model_architecture(model: str) -> str | None:
    """The `model_type` of a model whose files are on disk (None when they are not)."""
    folder = local_model_dir(model)
    if folder is None or not (folder / "config.json").is_file():
        return None
    try:
        return str(json.loads((folder / "config.json").read_text(encoding="utf-8")).get("model_type") or "") or None
    except (OSError, ValueError):
        return None


def check_architecture(model: str, fmt: str) -> None:
    if fmt not in ("gguf", "ollama"):
        return
    arch = model_architecture(model)
    if arch is not None and arch not in GGUF_ARCHITECTURES:
        raise ExportError(
            f"{model}: architecture {arch!r} has no GGUF export here (supported: {', '.join(GGUF_ARCHITECTURES)}); "
            "export --to merged and convert it with llama.cpp's convert_hf_to_gguf.py"
        )


def adapter_dir(run_dir: Path) -> Path:
    d = Path(run_dir) / "adapter"
    if not (d / "adapter_config.json").is_file():
        state = runs.read_state(Path(run_dir)).state
        raise ExportError(f"{d}: run {Path(run_dir).name} has no adapter (state: {state}); export a finished run")
    return d


def job_dir(run_dir: Path, name: str) -> Path:
    return Path(run_dir) / JOBS_DIR / name


def is_export(folder: Path) -> bool:
    return (Path(folder) / MANIFEST).is_file()


def read_manifest(folder: Path) -> dict[str, Any]:
    from ftui.core.base.fsutil import read_json_file

    return read_json_file(Path(folder) / MANIFEST, "not an ftui export folder (no ftui-export.json)")


def plan_export(
    ws: Workspace, run_dir: Path, fmt: str, quant: str | None = None, out: Path | str | None = None, parity: bool = True
) -> dict[str, Any]:
    run_dir = Path(run_dir)
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r} (one of: {', '.join(FORMATS)})")
    if fmt in ("gguf", "ollama"):
        quant = quant or DEFAULT_QUANT
        if quant not in QUANTS:
            raise ExportError(f"unknown GGUF type {quant!r} (one of: {', '.join(QUANTS)})")
    else:
        quant = None
    run_cfg = runs.read_run_config(run_dir)
    if run_cfg.get("kind") == "hosted":
        raise ExportError(f"{run_dir}: run {run_dir.name} was trained by a hosted service; its weights are there")
    adapter = adapter_dir(run_dir)
    model = run_cfg.get("model") or ws.model
    check_architecture(model, fmt)
    name = export_name(fmt, quant)
    dest = Path(out).expanduser().resolve() if out else (run_dir / EXPORTS_DIR / name)
    if dest.exists() and not is_export(dest) and (not dest.is_dir() or any(dest.iterdir())):
        raise ExportError(f"{dest}: exists and is not an ftui export; choose another --out")
    return {
        "schema": 1,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "name": name,
        "format": fmt,
        "quant": quant,
        "run_id": run_dir.name,
        "run_dir": str(run_dir.resolve()),
        "workspace": str(ws.root),
        "model": model,
        "adapter": str(adapter.resolve()),
        "out": str(dest),
        "system_prompt": ws.prompt.default_system,
        "parity": bool(parity),
    }


def prepare_export(
    ws: Workspace,
    run_ref: str | Path,
    fmt: str,
    quant: str | None = None,
    out: Path | str | None = None,
    parity: bool = True,
) -> Path:
    """Check the request and write the job's plan; returns the job folder (the child's argument)."""
    run_dir = runs.find_run(ws, str(run_ref))
    cfg = plan_export(ws, run_dir, fmt, quant, out, parity)
    if fmt != "adapter":  # the adapter folder is copied; every other format loads the weights
        require_train_stack(f"a {fmt} export")
    jd = job_dir(run_dir, cfg["name"])
    st = jobs.job_state(jd)
    if st.state == "running":
        raise ExportError(f"{jd}: an export {cfg['name']} of {run_dir.name} is already running (pid {st.pid})")
    jobs.fresh_folder(jd)
    # Paths inside the workspace are stored relative to the job folder: a copied workspace keeps them.
    cfg = {**cfg, **{k: store_path(cfg[k], jd) for k in EXPORT_PATHS if cfg.get(k)}}
    atomic_write_json(jd / CONFIG, cfg)
    return jd


def start_export(
    ws: Workspace,
    run_ref: str | Path,
    fmt: str,
    quant: str | None = None,
    out: Path | str | None = None,
    parity: bool = True,
) -> tuple[Path, int]:
    """Plan and launch the export child; returns (job_dir, pid)."""
    jd = prepare_export(ws, run_ref, fmt, quant, out, parity)
    return jd, jobs.start_child(["export", str(jd.resolve())], jd, LOG)


def list_exports(run_dir: Path) -> list[jobs.JobState]:
    root = Path(run_dir) / JOBS_DIR
    if not root.is_dir():
        return []
    out = []
    for d in sorted(root.iterdir()):
        if (d / CONFIG).is_file():
            st = jobs.job_state(d)
            if st.config:  # a readable config: its paths as they are now
                st.config = read_config(d)
            out.append(st)
    return out


def find_export(run_dir: Path, ref: str) -> Path:
    """An export of a run by name (`merged`, `gguf-q8_0`, ...) or an export folder's path."""
    p = Path(ref).expanduser()
    if is_export(p):
        return p.resolve()
    jd = job_dir(run_dir, ref)
    if (jd / CONFIG).is_file():
        out = Path(read_config(jd)["out"])
        if is_export(out):
            return out
        raise ExportError(f"{out}: export {ref} of {Path(run_dir).name} is not complete ({jobs.job_state(jd).state})")
    names = [s.config.get("name") for s in list_exports(run_dir)]
    known = ", ".join(n for n in names if n) or "none yet"
    raise ExportError(f"{Path(run_dir) / JOBS_DIR}: no export {ref!r} of {Path(run_dir).name} (exports: {known})")


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text.strip()).strip("-").lower() or "model"


def memory_text(mem: dict[str, Any] | None, short: bool = False) -> str | None:
    """The export's peak memory beside the base weights it read, e.g. for `ftui export-model`."""
    if not mem or not mem.get("peak_rss_bytes"):
        return None
    peak, start, weights = mem["peak_rss_bytes"], mem.get("start_rss_bytes"), mem.get("model_bytes")
    if short:
        extra = [f"+{size(peak - start)} writing"] if start else []
        extra += [f"weights {size(weights)}"] if weights else []
        return f"peak memory {size(peak)}" + (f" ({', '.join(extra)})" if extra else "")
    text = f"peak memory {size(peak)}"
    if start:
        text += f" ({size(peak - start)} above the {size(start)} held before writing)"
    if weights:
        shards = mem.get("shards") or 1
        text += f"; base weights {size(weights)} in {plural(shards, 'shard')}"
        if shards > 1:
            text += f", largest {size(mem.get('largest_shard_bytes'))}"
    return text
