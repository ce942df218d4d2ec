"""The learnability child: `python -m ftui.engine learnability JOB_DIR`.

Answers every failure of JOB_DIR/config.json k times with the base model, sampling at the
temperature and length a GRPO run would, grades each answer with the item's own grader, and
writes JOB_DIR/result.json (passes per item, the sampling time). Progress goes to the events file.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ftui.core.base.fsutil import atomic_write_json
from ftui.core.build.learnability import CONFIG, EVENTS, RESULT, summarize, verdict
from ftui.core.grade.grading import grade
from ftui.engine.child import Cancelled, ChildEnd, StopRequest

# Answers kept per item in the result: enough to see what the base says, not every sample.
ANSWERS_KEPT = 2


def sample(cfg: dict[str, Any], generator, emit, stop: StopRequest) -> dict[str, Any]:
    """The result for `cfg` with `generator` (an infer.generate.Generator)."""
    items, k = cfg["items"], int(cfg["k"])
    messages = [it["messages"] for it in items for _ in range(k)]
    tools = [it.get("tools") for it in items for _ in range(k)]

    def progress(done: int, total: int) -> None:
        emit("progress", side="all", done=done, total=total)
        stop.check()

    emit("status", message=f"sampling {k} answers for each of {len(items)} failures")
    t0 = time.monotonic()
    answers = generator.generate(
        messages,
        adapter=False,
        max_new_tokens=int(cfg["max_new_tokens"]),
        batch_size=int(cfg.get("batch_size") or 16),
        temperature=float(cfg["temperature"]),
        seed=int(cfg.get("seed") or 0),
        tools_list=tools,
        progress=progress,
    )
    sampling_s = time.monotonic() - t0
    out = []
    for n, it in enumerate(items):
        group = answers[n * k : (n + 1) * k]
        passed = [
            grade(a, it.get("expected"), it["grader"], question=it.get("question") or "", tools=it.get("tools")).passed
            for a in group
        ]
        out.append(
            {
                "id": it["id"],
                "cluster": it["cluster"],
                "passes": sum(passed),
                "k": k,
                "verdict": verdict(sum(passed), k),
                "answers": [
                    {"answer": a, "passed": p} for a, p in list(zip(group, passed, strict=True))[:ANSWERS_KEPT]
                ],
            }
        )
    return {
        "k": k,
        "model": cfg["model"],
        "temperature": cfg["temperature"],
        "max_new_tokens": cfg["max_new_tokens"],
        "sampling_s": round(sampling_s, 2),
        "steps": cfg.get("steps"),
        "items": out,
    }


def main(job_dir: str | Path, generator_factory=None) -> int:
    d = Path(job_dir)
    end = ChildEnd(d / EVENTS, cancel_on=(Cancelled,), cancelled=lambda: {"step": None, "checkpoint": None})
    stop = StopRequest(d).install()
    with end:
        cfg = json.loads((d / CONFIG).read_text(encoding="utf-8"))
        end.emit("started", items=len(cfg["items"]), model=cfg["model"])
        if generator_factory is not None:
            gen = generator_factory(cfg)
        else:
            from ftui.engine.infer.generate import load_for_generation

            end.emit("status", message=f"loading {cfg['model']}")
            gen = load_for_generation(
                cfg["model"], device=cfg.get("device") or "auto", dtype=cfg.get("dtype") or "auto"
            )
        result = sample(cfg, gen, end.emit, stop)
        atomic_write_json(d / RESULT, result)
        s = summarize(result)
        end.emit(
            "finished",
            message=f"learnable: {', '.join(s['learnable']) or 'none'}; no signal: {', '.join(s['no_signal']) or 'none'}",
            runtime_s=result["sampling_s"],
        )
    return end.exit_code
