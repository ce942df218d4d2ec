"""Embeddings of failures from the workspace's own model, for discovery (optional).

The UI and CLI never load a model: the vectors come from an engine child
(`python -m ftui.engine embed JOB_DIR`), and are cached in the state folder by model and item
content, so a second discovery (or one after a few new failures) embeds only what is new.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ftui.core.base.errors import FtuiError
from ftui.core.base.fsutil import atomic_write_jsonl

MAX_TOKENS = 256


class EmbeddingError(FtuiError):
    pass


def embedding_text(item: Any) -> str:
    return f"Question: {item.question}\nExpected: {item.expected or ''}\nAnswer: {item.answer}"


def _key(model: str, item: Any) -> str:
    from ftui.core.curate.discovery import content_hash

    return hashlib.sha256(f"{model}\0{content_hash(item)}".encode()).hexdigest()[:32]


def _cache_dir(ws: Any, model: str) -> Path:
    slug = hashlib.sha256(model.encode()).hexdigest()[:12]
    return Path(ws.state.cache) / "embeddings" / slug


def _load_cache(folder: Path) -> dict[str, Any]:
    import numpy as np

    out: dict[str, Any] = {}
    for keys_path in sorted(folder.glob("*.keys.json")):
        vec_path = keys_path.with_name(keys_path.name.replace(".keys.json", ".npy"))
        try:
            keys = json.loads(keys_path.read_text(encoding="utf-8"))
            vecs = np.load(vec_path)
        except (OSError, ValueError):
            continue  # a shard cut short by a crash: its items are embedded again
        if len(keys) == len(vecs):
            out.update(zip(keys, vecs, strict=True))
    return out


def embed_items(
    ws: Any, items: Sequence[Any], *, model: str | None = None, say: Callable[[str], None] = lambda s: None
) -> dict[str, Any]:
    """{item id: unit vector} for `items`, embedding in a child only what the cache lacks."""
    import numpy as np

    model = model or ws.model
    folder = _cache_dir(ws, model)
    cache = _load_cache(folder) if folder.exists() else {}
    keys = {it.id: _key(model, it) for it in items}
    todo = [it for it in items if keys[it.id] not in cache]
    if todo:
        folder.mkdir(parents=True, exist_ok=True)
        shard = hashlib.sha256("".join(sorted(keys[it.id] for it in todo)).encode()).hexdigest()[:16]
        job = folder / f"job-{shard}"
        job.mkdir(exist_ok=True)
        (job / "job.json").write_text(json.dumps({"model": model, "max_tokens": MAX_TOKENS}), encoding="utf-8")
        atomic_write_jsonl(job / "texts.jsonl", [{"key": keys[it.id], "text": embedding_text(it)} for it in todo])
        say(f"embedding {len(todo)} failures with {model} in an engine child…")
        proc = subprocess.run(
            [sys.executable, "-m", "ftui.engine", "embed", str(job)],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        if proc.returncode != 0 or not (job / "done.json").exists():
            tail = (proc.stderr or "").strip().splitlines()[-1:] or ["no output"]
            raise EmbeddingError(f"embedding with {model} failed: {tail[0]} (job: {job})")
        vecs = np.load(job / "vectors.npy")
        np.save(folder / f"{shard}.npy", vecs)
        (folder / f"{shard}.keys.json").write_text(json.dumps([keys[it.id] for it in todo]), encoding="utf-8")
        cache.update(zip([keys[it.id] for it in todo], vecs, strict=True))
        shutil.rmtree(job, ignore_errors=True)
    return {it.id: cache[keys[it.id]] for it in items}
