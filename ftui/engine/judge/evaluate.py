"""The evaluation child: `python -m ftui.engine eval RUN_DIR`.

Reads RUN_DIR/eval/config.json + items.jsonl (written by ftui.core.judge.evalrun), answers every item
with the base side and the fine-tuned side, grades both with the core graders and writes
RUN_DIR/eval/report.json. Progress goes to RUN_DIR/eval/events.jsonl only.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ftui.core.base.fsutil import atomic_write_json, atomic_write_jsonl, read_jsonl
from ftui.core.grade.grading import grade
from ftui.core.grade.llm_judge import CACHE_NAME as JUDGE_CACHE
from ftui.core.grade.llm_judge import Judge
from ftui.core.judge.compare import build_report
from ftui.core.judge.evalrun import (
    ANSWERS,
    BASE_CACHE,
    CONFIG,
    EVAL_DIR,
    EVENTS,
    ITEMS,
    REPORT,
    copy_to_reports,
    eval_dir,
    eval_settings,
)
from ftui.core.workspace.workspace import EndpointConfig
from ftui.engine.child import Cancelled, ChildEnd, StopRequest, memory_hint
from ftui.engine.infer.cache import AnswerCache, answer_key, endpoint_identity, model_identity


class Evaluation:
    """One evaluation; `generator_factory(adapter)` is swappable so tests can count model loads."""

    def __init__(
        self,
        run_dir: Path | str,
        emit: Callable[..., object],
        generator_factory=None,
        dir_name: str = EVAL_DIR,
        stop: StopRequest | None = None,
    ):
        self.run_dir = Path(run_dir)
        self.dir = eval_dir(self.run_dir, dir_name)
        self.cfg = json.loads((self.dir / CONFIG).read_text(encoding="utf-8"))
        self.settings = eval_settings(self.cfg)
        self.items = read_jsonl(self.dir / ITEMS)
        self.emit = emit
        self._factory = generator_factory
        self._local: Any = None
        self.stop = stop or StopRequest(self.dir)
        self.generated = {"base": 0, "tuned": 0}
        self.cache_hits = 0

    # --- generators -----------------------------------------------------------------------
    def _local_generator(self):
        if self._local is None:
            adapter = self.cfg.get("adapter") if self.cfg.get("tuned_endpoint") is None else None
            self.emit("status", message=f"loading {self.cfg['model']}" + (" + adapter" if adapter else ""))
            if self._factory is not None:
                self._local = self._factory(adapter)
            else:
                from ftui.engine.infer.generate import load_for_generation

                def progress(message: str) -> None:
                    self.emit("status", message=message)

                from ftui.engine.infer.generate import pick_device
                from ftui.engine.weights.device import emulated_bf16_warning, weights_dtype

                device = pick_device(self.cfg.get("device") or "auto")
                if warning := emulated_bf16_warning(weights_dtype(self.cfg.get("dtype") or "auto", device), device):
                    progress(warning)
                self._local = load_for_generation(
                    self.cfg["model"],
                    adapter,
                    self.cfg.get("device") or "auto",
                    progress=progress,
                    dtype=self.cfg.get("dtype") or "auto",
                )
        return self._local

    def _side(self, side: str):
        # The few-shot arm is the base model (adapter off) with examples in the prompt.
        side = "base" if side == "fewshot" else side
        ep = self.cfg.get(f"{side}_endpoint")
        if ep:
            from ftui.engine.infer.generate import EndpointGenerator

            gen = EndpointGenerator(
                ep["base_url"],
                ep["model"],
                ep.get("api_key_env") or "OPENAI_API_KEY",
                timeout=float(ep.get("timeout_s") or EndpointConfig.timeout_s),
                extra_body=ep.get("extra_body"),
            )
            return gen, {}
        return self._local_generator(), {"adapter": side == "tuned", "batch_size": self.settings.batch_size}

    def _precision_tag(self) -> str:
        """bf16 answers are cached apart from fp32 ones: they may differ in the last bits."""
        from ftui.engine.infer.generate import pick_device
        from ftui.engine.weights.device import weights_dtype

        weights = weights_dtype(self.cfg.get("dtype") or "auto", pick_device(self.cfg.get("device") or "auto"))
        return ":bf16" if weights == "bf16" else ""

    # --- the two passes -------------------------------------------------------------------
    def answer_side(self, side: str, cache: AnswerCache | None = None, field: str = "messages") -> list[str]:
        n = len(self.items)
        self.generated.setdefault(side, 0)
        answers: list[str | None] = [None] * n
        identity = ""
        max_new = self.settings.max_new_tokens
        if cache is not None:
            ep = self.cfg.get("base_endpoint")
            identity = endpoint_identity(ep) if ep else model_identity(self.cfg["model"]) + self._precision_tag()
            keys = [answer_key(identity, it[field] + _tools_key(it), max_new) for it in self.items]
            for i, k in enumerate(keys):
                answers[i] = cache.get(k)
        todo = [i for i in range(n) if answers[i] is None]
        cached = n - len(todo)
        self.cache_hits += cached if side == "base" else 0
        self.emit("progress", side=side, done=cached, total=n, cached=cached)
        if not todo:
            return [a or "" for a in answers]
        gen, kwargs = self._side(side)

        def on_batch(idx: list[int], outs: list[str]) -> None:
            for j, a in zip(idx, outs, strict=False):
                i = todo[j]
                answers[i] = a
                if cache is not None:
                    cache.put(keys[i], a, identity)
            self.generated[side] += len(idx)
            self.emit("progress", side=side, done=cached + self.generated[side], total=n, cached=cached)
            self.stop.check()

        tools = [self.items[i].get("tools") for i in todo]
        if any(tools):
            kwargs["tools_list"] = tools
        gen.generate([self.items[i][field] for i in todo], max_new_tokens=max_new, on_batch=on_batch, **kwargs)
        return [a or "" for a in answers]

    def stability(self, passing: list[int]) -> dict[int, dict]:
        """Re-ask each base-passing item k times with sampling; how many of the k passes held."""
        k = self.settings.flaky_k
        if k <= 0 or not passing:
            return {}
        if self.cfg.get("base_endpoint"):
            self.emit("status", message="flaky check skipped: the base side is an endpoint")
            return {}
        gen, kwargs = self._side("base")
        prompts = [self.items[i]["messages"] for i in passing for _ in range(k)]
        tools = [self.items[i].get("tools") for i in passing for _ in range(k)]
        if any(tools):
            kwargs = {**kwargs, "tools_list": tools}
        total = len(prompts)
        done = 0

        def on_batch(idx: list[int], outs: list[str]) -> None:
            nonlocal done
            done += len(idx)
            self.emit("progress", side="flaky", done=done, total=total, cached=0)
            self.stop.check()

        self.emit("progress", side="flaky", done=0, total=total, cached=0)
        answers = gen.generate(
            prompts,
            max_new_tokens=self.settings.max_new_tokens,
            on_batch=on_batch,
            temperature=self.settings.flaky_temperature,
            seed=0,
            **kwargs,
        )
        out = {}
        for j, i in enumerate(passing):
            it = self.items[i]
            held = sum(
                grade(
                    a, it.get("expected"), it["grader"], question=it.get("question") or "", tools=it.get("tools")
                ).passed
                for a in answers[j * k : (j + 1) * k]
            )
            out[i] = {"asked": k, "held": int(held)}
        return out

    def run(self) -> Path:
        cache_dir = Path(self.cfg["cache_dir"])
        self.emit(
            "started",
            items=len(self.items),
            sides=["base", "tuned"],
            pid=os.getpid(),
            model=self.cfg["model"],
            adapter=self.cfg.get("adapter"),
            targeted_cluster=self.cfg.get("targeted_cluster"),
        )
        base_cache = AnswerCache(cache_dir / BASE_CACHE)
        base = self.answer_side("base", base_cache)
        self.stop.check()
        tuned = self.answer_side("tuned")
        self.stop.check()
        shots = None
        if any("fewshot_messages" in it for it in self.items):
            for it in self.items:
                it.setdefault("fewshot_messages", it["messages"])
            # Keyed by its own prompts, the few-shot arm shares the base cache: a re-evaluation is free.
            shots = self.answer_side("fewshot", base_cache, field="fewshot_messages")
        atomic_write_jsonl(
            self.dir / ANSWERS,
            [
                {"id": it["id"], "base_answer": b, "tuned_answer": t}
                for it, b, t in zip(self.items, base, tuned, strict=False)
            ],
        )
        self.emit("status", message="grading")
        judge = None
        if any(it["grader"].get("kind") == "judge" for it in self.items) and self.cfg.get("judge"):
            judge = Judge.from_config(self.cfg["judge"], cache_dir / JUDGE_CACHE)
        records = []
        for i, (it, b, t) in enumerate(zip(self.items, base, tuned, strict=True)):
            q = it.get("question") or ""
            rec = {
                **{k: it.get(k) for k in ("id", "cluster", "label", "task", "question", "expected", "logged_grade")},
                "base_answer": b,
                "tuned_answer": t,
                "base_grade": grade(
                    b, it.get("expected"), it["grader"], question=q, judge=judge, tools=it.get("tools")
                ),
                "tuned_grade": grade(
                    t, it.get("expected"), it["grader"], question=q, judge=judge, tools=it.get("tools")
                ),
            }
            if shots is not None:
                rec["fewshot_answer"] = shots[i]
                rec["fewshot_grade"] = grade(
                    shots[i], it.get("expected"), it["grader"], question=q, judge=judge, tools=it.get("tools")
                )
                rec["fewshot_ids"] = it.get("fewshot_ids")
            records.append(rec)
        stable = self.stability([i for i, r in enumerate(records) if r["base_grade"].passed])
        for i, st in stable.items():
            records[i]["base_stability"] = st
            records[i]["flaky"] = st["held"] < st["asked"]
        meta = {
            k: self.cfg.get(k)
            for k in (
                "run_id",
                "model",
                "adapter",
                "method",
                "build_id",
                "dataset_hash",
                "benchmark",
                "benchmark_size",
                "excluded_ids",
                "roles",
            )
        }
        meta["generation"] = {
            "decoding": "greedy",
            "max_new_tokens": self.cfg.get("max_new_tokens"),
            "batch_size": self.cfg.get("batch_size"),
        }
        meta["sides"] = {
            "base": endpoint_identity(self.cfg["base_endpoint"])
            if self.cfg.get("base_endpoint")
            else "model, adapter off",
            "tuned": endpoint_identity(self.cfg["tuned_endpoint"])
            if self.cfg.get("tuned_endpoint")
            else "model + adapter",
        }
        # The precision the local model answered in (bf16 answers may differ from fp32 in the last bits).
        meta["dtype"] = getattr(self._local, "dtype", None) if self._local is not None else None
        meta["base_cache_hits"] = self.cache_hits
        meta["flaky_check"] = {"k": self.settings.flaky_k, "temperature": self.cfg.get("flaky_temperature")}
        report = build_report(
            records,
            targeted_cluster=self.cfg.get("targeted_cluster"),
            meta=meta,
            ignore_flaky=self.settings.gate_ignores_flaky,
            fewshot_k=self.settings.fewshot_k if shots is not None else None,
        )
        path = self.dir / REPORT
        atomic_write_json(path, report)
        if self.dir.name == EVAL_DIR:
            # A forgetting check measured on this adapter stays part of the judgment.
            from ftui.core.judge.forgetting import attach

            attach(self.run_dir)
        if self.cfg.get("reports_dir"):
            copy_to_reports(self.cfg["reports_dir"], str(self.cfg.get("run_id")), path)
        return path


def _tools_key(item: dict) -> list[dict]:
    # The tools are part of what the model is asked: the same messages with other tools are another prompt.
    return [{"tools": item["tools"]}] if item.get("tools") else []


def _hint(exc: BaseException) -> str | None:
    oom = memory_hint(exc, "lower eval.batch_size or eval.max_new_tokens")
    if oom:
        return oom
    text = f"{type(exc).__name__}: {exc}".lower()
    if "adapter_config.json" in text:
        return "the run has no usable adapter; evaluate a finished run"
    if "unauthorized" in text or "connect" in text:
        return "check the endpoint's base_url and its api_key_env variable"
    return None


def main(run_dir: str | Path, argv: list[str] | None = None) -> int:
    dir_name = EVAL_DIR
    if argv and argv[:1] == ["--dir"] and len(argv) > 1:
        dir_name = argv[1]
    d = eval_dir(run_dir, dir_name)
    ev = None

    def cancelled() -> dict[str, Any]:
        return {"step": sum(ev.generated.values()) if ev is not None else 0, "checkpoint": None}

    end = ChildEnd(d / EVENTS, cancel_on=(Cancelled,), cancelled=cancelled, hint=_hint)

    stop = StopRequest(d).install()
    with end:
        ev = Evaluation(run_dir, end.emit, dir_name=dir_name, stop=stop)
        t0 = time.monotonic()
        path = ev.run()
        end.emit(
            "finished",
            report=str(path),
            runtime_s=round(time.monotonic() - t0, 1),
            generated=ev.generated,
            base_cache_hits=ev.cache_hits,
        )
    return end.exit_code
