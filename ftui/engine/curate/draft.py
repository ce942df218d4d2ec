"""The drafting child: `python -m ftui.engine draft JOB_DIR`.

Reads JOB_DIR/config.json + items.jsonl (written by ftui.core.curate.drafts), asks the teacher for each
item's corrected answer, grades it with the item's own grader and appends it to the draft store the
moment it is done, so a killed job loses nothing it finished. Teacher answers are cached by prompt:
a resumed or repeated job answers what it already has without asking again. Progress goes to
JOB_DIR/events.jsonl only.

The local teacher is the workspace's model with the continuous-batching decoder; an endpoint is
asked `concurrency` requests at a time.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from ftui.core.base.fsutil import read_jsonl
from ftui.core.curate.drafts.job import ANSWER_CACHE, CONFIG, EVENTS, ITEMS
from ftui.core.curate.drafts.store import Draft, DraftStore
from ftui.core.curate.drafts.teacher import LOCAL, Teacher
from ftui.core.curate.drafts.trust import suspect
from ftui.core.grade.grading import grade
from ftui.core.grade.llm_judge import CACHE_NAME as JUDGE_CACHE
from ftui.core.grade.llm_judge import Judge
from ftui.engine.child import Cancelled, ChildEnd, StopRequest, memory_hint
from ftui.engine.infer.cache import AnswerCache, answer_key, model_identity

# Called with each item and its teacher answer as soon as the answer exists.
Answered = Callable[[dict[str, Any], str], None]


class Drafting:
    """One drafting job; `generator_factory()` is swappable so tests can drive a tiny model."""

    def __init__(
        self, job_dir: Path | str, emit: Callable[..., object], generator_factory=None, stop: StopRequest | None = None
    ):
        self.dir = Path(job_dir)
        self.cfg = json.loads((self.dir / CONFIG).read_text(encoding="utf-8"))
        self.items = read_jsonl(self.dir / ITEMS)
        self.emit = emit
        self.teacher = Teacher.from_dict(self.cfg["teacher"])
        self.store = DraftStore(self.cfg["drafts_dir"])
        self._factory = generator_factory
        self.stop = stop or StopRequest(self.dir)
        self.done = 0
        self.passed = 0
        self.cached = 0
        self.generated = 0
        self._lock = threading.Lock()
        self._judge = None
        if any(it["grader"].get("kind") == "judge" for it in self.items) and self.cfg.get("judge"):
            self._judge = Judge.from_config(self.cfg["judge"], Path(self.cfg["cache_dir"]) / JUDGE_CACHE)

    def identity(self) -> str:
        t = self.teacher
        return f"draft:{model_identity(t.model)}" if t.kind == LOCAL else f"draft:{t.name}"

    def record(self, item: dict[str, Any], answer: str) -> Draft:
        """Grade one answer and put it in the store (one fsynced line) before anything else happens."""
        g = grade(answer, item.get("expected"), item["grader"], question=item.get("question") or "", judge=self._judge)
        d = Draft(
            id=item["id"],
            cluster=item["cluster"],
            output=answer,
            passed=g.passed,
            reason=g.reason,
            grader=g.grader,
            teacher=self.teacher.name,
            prompt_hash=item["prompt_hash"],
            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            job=self.dir.name,
            original_hash=item.get("original_hash", ""),
            flag=suspect(answer, item) if g.passed else "",
        )
        with self._lock:
            self.store.append([d])
            self.done += 1
            self.passed += d.passes
        return d

    def _status(self, message: str) -> None:
        self.emit("status", message=message)

    def _progress(self) -> None:
        self.emit("progress", side="all", done=self.done, total=len(self.items), cached=self.cached, passed=self.passed)

    def run(self) -> None:
        self.emit(
            "started",
            items=len(self.items),
            pid=os.getpid(),
            teacher=self.teacher.name,
            cluster=self.cfg.get("cluster"),
            examples=len(self.cfg.get("examples") or []),
        )
        cache = AnswerCache(Path(self.cfg["cache_dir"]) / ANSWER_CACHE)
        identity = self.identity()
        max_new = int(self.cfg["max_new_tokens"])
        keys = [answer_key(identity, it["messages"], max_new) for it in self.items]
        existing = self.store.all()
        todo = []
        for it, key in zip(self.items, keys, strict=True):
            answer = cache.get(key)
            if answer is None:
                todo.append(it)
                continue
            self.cached += 1
            d = existing.get(it["id"])
            if d is not None and d.prompt_hash == it["prompt_hash"] and d.teacher == self.teacher.name:
                # Drafted before this job was interrupted: already in the store, maybe already decided.
                with self._lock:
                    self.done += 1
                    self.passed += d.passes
            else:
                self.record(it, answer)
        self._progress()
        if not todo:
            return

        def answered(it: dict[str, Any], answer: str) -> None:
            cache.put(answer_key(identity, it["messages"], max_new), answer, identity)
            self.generated += 1
            self.record(it, answer)

        if self.teacher.kind == LOCAL:
            self._local(todo, max_new, answered)
        else:
            self._endpoint(todo, max_new, answered)

    def _local(self, todo: list[dict[str, Any]], max_new: int, answered: Answered) -> None:
        if self._factory is not None:
            gen = self._factory()
        else:
            from ftui.engine.infer.generate import load_for_generation

            self.emit("status", message=f"loading {self.teacher.model}")
            gen = load_for_generation(
                self.teacher.model,
                None,
                self.cfg.get("device") or "auto",
                progress=self._status,
            )
        self.emit("status", message=f"drafting {len(todo)} answers with {self.teacher.name}")

        def on_batch(idx: list[int], outs: list[str]) -> None:
            for j, a in zip(idx, outs, strict=True):
                answered(todo[j], a)
            self._progress()
            self.stop.check()

        gen.generate(
            [it["messages"] for it in todo],
            adapter=False,
            max_new_tokens=max_new,
            batch_size=int(self.cfg.get("batch_size") or 8),
            on_batch=on_batch,
        )

    def _endpoint(self, todo: list[dict[str, Any]], max_new: int, answered: Answered) -> None:
        from ftui.engine.infer.generate import EndpointGenerator

        t = self.teacher
        gen = EndpointGenerator(t.base_url, t.model, t.api_key_env or "OPENAI_API_KEY")
        limit = max(1, int(self.cfg.get("concurrency") or 1))
        self.emit("status", message=f"drafting {len(todo)} answers with {t.name}, {limit} at a time")
        pending = iter(todo)
        with ThreadPoolExecutor(max_workers=limit) as pool:
            running = {}
            for it in pending:
                running[pool.submit(gen._one, it["messages"], max_new)] = it
                if len(running) >= limit:
                    break
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    it = running.pop(fut)
                    answered(it, fut.result())
                self._progress()
                try:
                    self.stop.check()
                except Cancelled:
                    for fut in running:
                        fut.cancel()
                    raise
                for it in pending:
                    running[pool.submit(gen._one, it["messages"], max_new)] = it
                    if len(running) >= limit:
                        break


def main(job_dir: str | Path, generator_factory=None) -> int:
    d = Path(job_dir)
    job = None

    def hint(exc: BaseException) -> str | None:
        oom = memory_hint(exc, "lower --batch-size or --max-new-tokens, or draft with an endpoint teacher")
        if oom or "connect" not in str(exc).lower():
            return oom
        return "check the teacher's base_url and its api_key_env variable"

    end = ChildEnd(
        d / EVENTS,
        cancel_on=(Cancelled,),
        cancelled=lambda: {"step": job.done if job is not None else 0, "checkpoint": None},
        hint=hint,
    )

    stop = StopRequest(d).install()
    with end:
        job = Drafting(d, end.emit, generator_factory, stop)
        t0 = time.monotonic()
        job.run()
        end.emit(
            "finished",
            drafted=job.done,
            passed=job.passed,
            cached=job.cached,
            generated=job.generated,
            runtime_s=round(time.monotonic() - t0, 1),
        )
    return end.exit_code
