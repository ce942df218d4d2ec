"""The parity child: `python -m ftui.engine parity PARITY_DIR`.

Answers the planned items (ftui.core.ship.parity) with the exported artifact through its real consumer
— transformers for a merged folder or an adapter folder, llama.cpp (llama-cpp-python) for a GGUF
file — greedy, with the evaluation's messages and token budget, grades the answers with the core
graders and writes PARITY_DIR/parity.json.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from ftui.core.base import jobs
from ftui.core.base.fsutil import atomic_write_json, read_jsonl
from ftui.core.grade.grading import grade
from ftui.core.ship.parity import ITEMS, RESULT, compare
from ftui.engine.child import Cancelled, ChildEnd, StopRequest, memory_hint
from ftui.engine.infer.cache import AnswerCache, answer_key

REFERENCE_CACHE = "reference_answers.jsonl"


class LlamaCppGenerator:
    """A GGUF file answered through llama.cpp's own chat path (the chat template in the file's metadata)."""

    def __init__(self, gguf_path: Path, n_ctx: int = 4096, threads: int | None = None):
        from llama_cpp import Llama

        self.llm = Llama(
            model_path=str(gguf_path),
            n_ctx=n_ctx,
            n_threads=threads or max(1, min(os.cpu_count() or 1, 4)),
            seed=0,
            verbose=False,
        )

    def generate(self, messages_list, *, max_new_tokens: int = 128, on_batch=None, tools_list=None, **_) -> list[str]:
        from ftui.core.base.toolcalls import fallback_messages, load_tools

        out = []
        tools_list = tools_list or [None] * len(messages_list)
        for i, messages in enumerate(messages_list):
            # llama.cpp is given the fallback's messages for a request with tools (see toolrender).
            tools = load_tools(tools_list[i])
            asked: Any = fallback_messages(messages, tools) if tools else messages
            resp: Any = self.llm.create_chat_completion(  # not streamed: one response object
                messages=asked,
                max_tokens=max_new_tokens,
                # Greedy, and none of llama.cpp's sampling defaults (repeat penalty 1.1, min_p) that
                # transformers' greedy decoding does not apply.
                temperature=0.0,
                top_k=1,
                top_p=1.0,
                min_p=0.0,
                repeat_penalty=1.0,
            )
            out.append((resp["choices"][0]["message"]["content"] or "").strip())
            if on_batch is not None:
                on_batch([i], [out[-1]])
        return out


def export_generator(cfg: dict, manifest: dict, progress):
    """(generator, generate kwargs) for the export's format."""
    export = Path(cfg["export"])
    fmt = manifest["format"]
    if fmt in ("gguf", "ollama"):
        return LlamaCppGenerator(export / "model.gguf", threads=cfg.get("threads")), {}
    from ftui.engine.infer.generate import load_for_generation

    kwargs = {"batch_size": int(cfg.get("batch_size") or 8)}
    if fmt == "merged":
        return load_for_generation(str(export), None, cfg.get("device") or "auto", progress=progress), {
            **kwargs,
            "adapter": False,
        }
    if fmt == "adapter":
        gen = load_for_generation(manifest["base_model_dir"], export, cfg.get("device") or "auto", progress=progress)
        return gen, {**kwargs, "adapter": True}
    raise ValueError(f"{export}: unknown export format {fmt!r}")


def run(pd: Path, emit, check_stop=lambda: None) -> dict:
    cfg = json.loads((pd / "config.json").read_text(encoding="utf-8"))
    manifest = json.loads((Path(cfg["export"]) / "ftui-export.json").read_text(encoding="utf-8"))
    items = read_jsonl(pd / ITEMS)
    max_new = int(cfg.get("max_new_tokens") or 128)
    say = lambda m: emit("status", message=m)  # noqa: E731

    # Items the evaluation never answered (anchors): the judged configuration answers them, once per
    # run (the answers are kept beside the run's parity checks for the next export's).
    cache = AnswerCache(pd.parent / REFERENCE_CACHE)
    identity = f"judged:{cfg['model']}+{cfg['adapter']}"
    keys = {i: answer_key(identity, it["messages"], max_new) for i, it in enumerate(items)}
    for i, it in enumerate(items):
        if it["reference_answer"] is None:
            it["reference_answer"] = cache.get(keys[i])
    missing = [i for i, it in enumerate(items) if it["reference_answer"] is None]
    if missing:
        from ftui.engine.infer.generate import load_for_generation

        say(f"answering {len(missing)} anchor items with the evaluated model (base + adapter)")
        ref = load_for_generation(cfg["model"], cfg["adapter"], cfg.get("device") or "auto", progress=say)
        answers = ref.generate(
            [items[i]["messages"] for i in missing],
            adapter=True,
            max_new_tokens=max_new,
            batch_size=int(cfg.get("batch_size") or 8),
            tools_list=[items[i].get("tools") for i in missing],
        )
        for i, a in zip(missing, answers, strict=False):
            items[i]["reference_answer"] = a
            cache.put(keys[i], a, identity)
        del ref
        check_stop()
    for it in items:
        if it["reference_grade"] is None:
            q = it.get("question") or ""
            it["reference_grade"] = grade(
                it["reference_answer"], it.get("expected"), it["grader"], question=q, tools=it.get("tools")
            ).to_dict()

    say(f"loading the export {manifest['name']}")
    gen, kwargs = export_generator(cfg, manifest, say)
    done = {"n": 0}
    emit("progress", done=0, total=len(items), unit="items", stage=manifest["name"])

    def on_batch(idx, outs):
        done["n"] += len(idx)
        emit("progress", done=done["n"], total=len(items), unit="items", stage=manifest["name"])
        check_stop()

    if any(it.get("tools") for it in items):
        kwargs = {**kwargs, "tools_list": [it.get("tools") for it in items]}
    answers = gen.generate([it["messages"] for it in items], max_new_tokens=max_new, on_batch=on_batch, **kwargs)
    judge = None
    if any((it["grader"] or {}).get("kind") == "judge" for it in items) and cfg.get("judge"):
        from ftui.core.grade.llm_judge import CACHE_NAME, Judge

        judge = Judge.from_config(cfg["judge"], Path(cfg["cache_dir"]) / CACHE_NAME)
    records = []
    for it, a in zip(items, answers, strict=False):
        g = grade(
            a, it.get("expected"), it["grader"], question=it.get("question") or "", judge=judge, tools=it.get("tools")
        )
        records.append({**it, "export_answer": a, "export_grade": g.to_dict()})
    result = {
        "schema": 1,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **{k: cfg.get(k) for k in ("run_id", "name", "format", "quant", "export", "max_new_tokens")},
        "consumer": "llama.cpp (llama-cpp-python)" if manifest["format"] in ("gguf", "ollama") else "transformers",
        "summary": compare(records),
    }
    atomic_write_json(pd / RESULT, result)
    return result


def main(pd: str | Path) -> int:
    pd = Path(pd)
    end = ChildEnd(
        pd / jobs.EVENTS,
        cancel_on=(Cancelled,),
        cancelled=lambda: {"step": 0},
        hint=lambda exc: memory_hint(exc, "close what else holds a model (a server, a run) and check again"),
    )
    writer = end.writer
    stop = StopRequest(pd).install()
    with end:
        writer.emit("started", pid=os.getpid())
        t0 = time.monotonic()
        result = run(pd, writer.emit, stop.check)
        s = result["summary"]
        writer.emit(
            "finished",
            result=str(pd / RESULT),
            runtime_s=round(time.monotonic() - t0, 1),
            **{k: s[k] for k in ("items", "identical", "same_grade", "flips")},
        )
    return end.exit_code
