"""The export child: `python -m ftui.engine export JOB_DIR`.

Reads JOB_DIR/config.json (written by ftui.core.ship.exports), writes the artifact into a temp folder
beside its destination, and renames it into place only when complete: a failed or cancelled export
leaves any earlier export of the same name as it was. Then, unless asked not to, checks the new
artifact's answers against the evaluated model's (ftui.engine.ship.parity).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from ftui.core.base import jobs
from ftui.core.base.fsutil import atomic_write_json, atomic_write_text, fsync_dir
from ftui.core.ship.exports import EVENTS, MANIFEST, read_config
from ftui.core.ship.serving import vllm_lora_rank
from ftui.engine.child import Cancelled, ChildEnd, StopRequest, memory_hint

GGUF_FILE = "model.gguf"

ADAPTER_README = """# {run_id}: LoRA adapter

A PEFT LoRA adapter for `{model}`, exported by ftui from run {run_id}, with the base model's
tokenizer and chat template beside it (the adapter was trained on prompts rendered with them).

Serve the base model with this adapter on vLLM:

    vllm serve {model_path} --enable-lora --lora-modules {lora_name}={path} --max-lora-rank {rank}

then ask for the model `{lora_name}` on its OpenAI-compatible endpoint.
Load it with transformers + PEFT:

    from peft import AutoPeftModelForCausalLM
    model = AutoPeftModelForCausalLM.from_pretrained("{path}")
"""


def base_model_dir(model: str, progress=None) -> Path:
    """The base model's folder on disk (the merge reads its safetensors shards directly)."""
    from ftui.engine.weights.models import resolve_model

    resolved = resolve_model(model, progress=progress)
    p = Path(resolved)
    if p.is_dir():
        return p
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(str(resolved), local_files_only=True))
    except Exception as exc:
        raise FileNotFoundError(f"{model}: the base model's files are not on disk ({exc})") from None


def _copy_tokenizer(model_dir: Path, dest: Path) -> None:
    from ftui.engine.ship.export_merge import copy_model_files

    copy_model_files(model_dir, dest)
    # The adapter folder gets tokenizer + template only: config.json there would read as a full model.
    for name in ("config.json", "generation_config.json"):
        (dest / name).unlink(missing_ok=True)


def export_adapter(cfg: dict, model_dir: Path, tmp: Path, say) -> dict:
    src = Path(cfg["adapter"])
    _copy_tokenizer(model_dir, tmp)
    for f in src.iterdir():
        if f.is_file() and (f.name.startswith("adapter_") or f.name.endswith(".safetensors")):
            shutil.copy2(f, tmp / f.name)
    acfg = json.loads((tmp / "adapter_config.json").read_text(encoding="utf-8"))
    # The recorded base may be a temp path of the training child; point at the model that was trained.
    acfg["base_model_name_or_path"] = str(model_dir)
    atomic_write_json(tmp / "adapter_config.json", acfg)
    final = Path(cfg["out"])
    lora_name = f"ftui-{cfg['run_id']}"
    text = ADAPTER_README.format(
        run_id=cfg["run_id"],
        model=cfg["model"],
        model_path=model_dir,
        lora_name=lora_name,
        path=final,
        rank=vllm_lora_rank([int(acfg.get("r", 8))]),
    )
    atomic_write_text(tmp / "README.md", text)
    say("adapter folder written")
    return {"lora_name": lora_name}


def export_merged(cfg: dict, model_dir: Path, tmp: Path, progress) -> dict:
    from ftui.engine.ship.export_merge import write_merged

    return write_merged(model_dir, Path(cfg["adapter"]), tmp, progress)


def export_gguf(cfg: dict, model_dir: Path, tmp: Path, progress) -> dict:
    from ftui.engine.ship.export_gguf import write_gguf

    adapter = Path(cfg["adapter"]) if cfg.get("adapter") else None
    info = write_gguf(
        model_dir, adapter, tmp / GGUF_FILE, cfg["quant"], name=f"ftui-{cfg['run_id']}", progress=progress
    )
    if cfg["format"] == "ollama":
        from ftui.core.ship.modelfile import modelfile

        atomic_write_text(tmp / "Modelfile", modelfile(model_dir, GGUF_FILE, cfg.get("system_prompt")))
        info["modelfile"] = "Modelfile"
    return info


def replace_dir(tmp: Path, final: Path) -> None:
    """Put `tmp` at `final`; an older export there is moved aside first and removed only after."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.rename(final, old)
    try:
        os.rename(tmp, final)
    except BaseException:
        if old is not None:
            os.rename(old, final)
        raise
    fsync_dir(final.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def run_export(cfg: dict, emit, check_stop=lambda: None) -> Path:
    final = Path(cfg["out"])
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    t0 = time.monotonic()
    try:
        emit("status", message=f"resolving {cfg['model']}")
        model_dir = base_model_dir(cfg["model"], progress=lambda m: emit("status", message=m))

        def progress(done: int, total: int, what: str) -> None:
            emit("progress", done=done, total=total, unit="shards", stage=what)
            check_stop()

        fmt = cfg["format"]
        start_rss = _start_memory_watch(fmt)
        emit("status", message=f"writing {cfg['name']} into {tmp}")
        if fmt == "adapter":
            info = export_adapter(cfg, model_dir, tmp, lambda m: emit("status", message=m))
        elif fmt == "merged":
            info = export_merged(cfg, model_dir, tmp, progress)
        elif fmt in ("gguf", "ollama"):
            info = export_gguf(cfg, model_dir, tmp, progress)
        else:
            raise ValueError(f"unknown export format {fmt!r}")
        check_stop()
        info["memory"] = _memory_report(model_dir, start_rss)
        manifest = {
            "schema": 1,
            **{k: cfg.get(k) for k in ("name", "format", "quant", "run_id", "model", "adapter", "created")},
            "base_model_dir": str(model_dir),
            "files": sorted(f.name for f in tmp.iterdir()),
            "bytes": sum(f.stat().st_size for f in tmp.iterdir() if f.is_file()),
            "seconds": round(time.monotonic() - t0, 1),
            **info,
        }
        atomic_write_json(tmp / MANIFEST, manifest)
        # mkstemp and safetensors write 0600; an export is for other users and tools to read.
        os.chmod(tmp, 0o755)
        for f in tmp.iterdir():
            os.chmod(f, 0o644)
        replace_dir(tmp, final)
        return final
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _start_memory_watch(fmt: str) -> int | None:
    """The writer's libraries loaded, the RSS high-water mark restarted: the peak is the export's."""
    from ftui.engine.weights import memory

    if fmt != "adapter":
        import ftui.engine.ship.export_gguf  # noqa: F401 - imports torch, safetensors, numpy
    memory.reset_peak()
    return memory.rss_bytes()


def _memory_report(model_dir: Path, start_rss: int | None) -> dict:
    """The export's peak resident memory beside the base weights' size on disk."""
    from ftui.engine.ship.export_merge import MergeError, weight_shards
    from ftui.engine.weights import memory

    try:
        shards = weight_shards(model_dir)
    except MergeError:
        shards = []
    return {
        "peak_rss_bytes": memory.peak_rss_bytes(),
        "start_rss_bytes": start_rss,
        "model_bytes": sum(s.stat().st_size for s in shards),
        "largest_shard_bytes": max((s.stat().st_size for s in shards), default=0),
        "shards": len(shards),
    }


def _hint(exc: BaseException) -> str | None:
    oom = memory_hint(exc, "close what else holds a model (a server, a run), or export --to adapter")
    if oom:
        return oom
    text = str(exc).lower()
    if "architecture" in text:
        return "export --to merged (any architecture) and convert it with llama.cpp's tools"
    if "no space left" in text:
        return "free disk space or choose another --out"
    return None


def main(job_dir: str | Path) -> int:
    jd = Path(job_dir)
    cfg = read_config(jd)
    end = ChildEnd(jd / EVENTS, cancel_on=(Cancelled,), cancelled=lambda: {"step": 0}, hint=_hint)
    writer = end.writer
    stop = StopRequest(jd).install()
    with end:
        writer.emit("started", pid=os.getpid(), format=cfg["format"], quant=cfg.get("quant"), out=cfg["out"])
        t0 = time.monotonic()
        out = run_export(cfg, writer.emit, stop.check)
        writer.emit("status", message=f"exported to {out}")
        parity = None
        if cfg.get("parity"):
            parity = _parity_after(cfg, out, writer.emit)
        memory = json.loads((out / MANIFEST).read_text(encoding="utf-8")).get("memory")
        writer.emit("finished", out=str(out), runtime_s=round(time.monotonic() - t0, 1), parity=parity, memory=memory)
    return end.exit_code


def _parity_after(cfg: dict, out: Path, emit) -> dict | None:
    """The parity check of a fresh export, run in this process; its own events go to its own folder."""
    from ftui.core.ship import parity as core_parity
    from ftui.core.workspace.workspace import Workspace

    try:
        ws = Workspace.load(cfg["workspace"])
        pd = core_parity.prepare(ws, Path(cfg["run_dir"]), out)
    except core_parity.ParityError as exc:
        emit("status", message=f"parity check skipped: {exc}")
        return {"skipped": str(exc)}
    emit("status", message="checking the export's answers against the evaluated model")
    from ftui.engine.ship.parity import main as parity_main

    rc = parity_main(pd)
    summary = core_parity.read_summary(pd)
    if rc != 0 or summary is None:
        return {"failed": jobs.job_state(pd).error}
    return summary
