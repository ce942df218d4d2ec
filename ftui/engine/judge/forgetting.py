"""The forgetting check's child: `python -m ftui.engine forgetting RUN_DIR`.

Reads RUN_DIR/forgetting/config.json (written by ftui.core.judge.forgetting), loads the model once with
the run's adapter, and runs each general task through lm-evaluation-harness twice: adapter off
(base) and adapter on (tuned). Every finished task is cached at once (base by model and task in
the workspace's cache, tuned by adapter in the run), so an interrupted check keeps what it
measured and a second check of the same model only measures the fine-tune.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ftui.core.base.fsutil import atomic_write_json
from ftui.core.judge import forgetting as fg
from ftui.core.judge.texts import kept_text
from ftui.engine.child import Cancelled, ChildEnd, StopRequest, memory_hint
from ftui.engine.infer.cache import model_identity
from ftui.engine.judge import lm_eval_index


class TaskUnavailable(Exception):
    """A task that cannot run here; its message is the one line the report and the user see."""


# Exceptions that mean "the task's data is not on this machine" when loading a task offline.
_MISSING_DATA = (
    "OfflineModeIsEnabled",
    "DatasetNotFoundError",
    "FileNotFoundError",
    "ConnectionError",
    "LocalEntryNotFoundError",
)


@contextlib.contextmanager
def _cwd(path: Path | None) -> Iterator[None]:
    # A local task's `data_files` are relative to its YAML: datasets resolves them from the cwd.
    if path is None:
        yield
        return
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


class Check:
    def __init__(
        self,
        run_dir: Path | str,
        emit: Callable[..., object],
        lm_factory: Callable[..., Any] | None = None,
        stop: StopRequest | None = None,
    ):
        self.run_dir = Path(run_dir)
        self.dir = fg.job_dir(self.run_dir)
        self.stop = stop or StopRequest(self.dir)
        self.cfg = json.loads((self.dir / fg.CONFIG).read_text(encoding="utf-8"))
        self.emit = emit
        self._lm_factory = lm_factory
        self._gen: Any = None
        self._lm: Any = None
        self.loads = 0
        self.rows: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.measured = {"base": 0, "tuned": 0, "base_cached": 0, "tuned_cached": 0}

    # --- lm-eval's side ---------------------------------------------------------------------
    def task_manager(self) -> Any:
        # Indexing lm-eval's own thousands of YAMLs takes tens of seconds: only when a name needs it,
        # and once per lm-eval install (kept in the state folder).
        cache = self.cfg.get("index_cache_dir")
        return lm_eval_index.task_manager(
            self.cfg.get("include_path"), list(self.cfg["tasks"]), Path(cache) if cache else None
        )

    def lm(self) -> Any:
        if self._lm is None:
            self.emit("status", message=f"loading {self.cfg['model']} + adapter")
            if self._lm_factory is not None:
                self._gen, self._lm = self._lm_factory(self.cfg)
            else:
                from lm_eval.models.huggingface import HFLM

                from ftui.engine.infer.generate import load_for_generation

                self._gen = load_for_generation(
                    self.cfg["model"], self.cfg["adapter"], self.cfg.get("device") or "auto"
                )
                # One load: lm-eval scores the PEFT model itself; the adapter is switched per side.
                self._lm = HFLM(
                    pretrained=self._gen.model,
                    tokenizer=self._gen.tokenizer,
                    batch_size=int(self.cfg.get("batch_size") or 8),
                )
            self.loads += 1
        return self._lm

    def side(self, tuned: bool) -> Any:
        self.lm()
        return self._gen._adapter_ctx(tuned)

    def fingerprint(self, tm: Any, name: str) -> tuple[str, Path | None]:
        """What names a task's content (its YAML and, for a local task, the files beside it), and the
        folder to load it from."""
        import lm_eval

        entry = tm.task_index.get(name)
        yaml_path = Path(entry.yaml_path) if entry is not None and getattr(entry, "yaml_path", None) else None
        h = hashlib.sha256(f"lm_eval {lm_eval.__version__}\n{name}\n".encode())
        include = self.cfg.get("include_path")
        local = yaml_path is not None and include is not None and Path(include) in yaml_path.parents
        if yaml_path is not None:
            files = sorted(p for p in yaml_path.parent.iterdir() if p.is_file()) if local else [yaml_path]
            for p in files:
                h.update(p.name.encode())
                h.update(p.read_bytes())
        return h.hexdigest()[:16], (yaml_path.parent if local and yaml_path is not None else None)

    def check_known(self, tm: Any, name: str) -> None:
        if name in tm.all_tasks:
            return
        close = difflib.get_close_matches(name, tm.all_tasks, n=1, cutoff=0.6)
        where = " nor in eval.forgetting.include_path" if self.cfg.get("include_path") else ""
        raise TaskUnavailable(
            f"unknown task {name!r}: not an lm-eval task{where}" + (f" (did you mean {close[0]!r}?)" if close else "")
        )

    def run_task(self, tm: Any, name: str, folder: Path | None) -> dict[str, Any]:
        """Scores per leaf task and document: {leaf: {"metric", "scores": {doc_id: value}}}."""
        import lm_eval

        lm = self.lm()
        with _cwd(folder):
            res = lm_eval.simple_evaluate(
                model=lm,
                tasks=[name],
                task_manager=tm,
                limit=self.cfg.get("limit"),
                log_samples=True,
                bootstrap_iters=0,
            )
        out: dict[str, Any] = {}
        for leaf, samples in (res or {}).get("samples", {}).items():
            metric = None
            scores: dict[str, float] = {}
            for s in samples:
                metric = metric or (s.get("metrics") or [None])[0]
                key = str(s["doc_id"])
                if metric is None or key in scores or not isinstance(s.get(metric), (int, float, bool)):
                    continue
                scores[key] = float(s[metric])
            if metric is not None:
                out[leaf] = {"metric": metric, "scores": scores}
        return out

    def load_task(self, tm: Any, name: str, folder: Path | None) -> None:
        """Load the task once before any model time is spent, so a missing dataset is one line."""
        try:
            with _cwd(folder):
                tm.load([name])
        except Exception as exc:
            kind = type(exc).__name__
            text = str(exc).splitlines()[0] if str(exc) else kind
            if kind in _MISSING_DATA or "offline" in text.lower() or "couldn't reach" in text.lower():
                raise TaskUnavailable(
                    f"task {name!r}: its dataset is not on this machine (offline, nothing is downloaded): {text[:160]}"
                ) from None
            raise TaskUnavailable(f"task {name!r}: could not be loaded: {kind}: {text[:160]}") from None

    # --- caches -----------------------------------------------------------------------------
    def _base_path(self, name: str, fp: str) -> Path:
        key = json.dumps([model_identity(self.cfg["model"]), name, fp, self.cfg.get("limit")])
        return Path(self.cfg["base_cache_dir"]) / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"

    def _tuned_path(self, name: str, fp: str) -> Path:
        key = json.dumps([self.cfg["adapter_fingerprint"], name, fp, self.cfg.get("limit")])
        return self.dir / fg.TUNED_CACHE / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"

    def measured_side(self, tm: Any, name: str, fp: str, folder: Path | None, tuned: bool) -> dict[str, Any]:
        side = "tuned" if tuned else "base"
        path = self._tuned_path(name, fp) if tuned else self._base_path(name, fp)
        if path.is_file():
            with contextlib.suppress(ValueError, OSError):
                data = json.loads(path.read_text(encoding="utf-8"))
                self.measured[f"{side}_cached"] += 1
                return dict(data["leaves"])
        self.lm()
        self.emit("status", message=f"{name}: {side}")
        with self.side(tuned):
            leaves = self.run_task(tm, name, folder)
        atomic_write_json(path, {"task": name, "side": side, "limit": self.cfg.get("limit"), "leaves": leaves})
        self.measured[side] += 1
        return leaves

    # --- the check --------------------------------------------------------------------------
    def write_result(self, complete: bool) -> Path:
        path = self.dir / fg.RESULT
        atomic_write_json(
            path,
            {
                "schema": 1,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "run_id": self.cfg.get("run_id"),
                "model": self.cfg.get("model"),
                "adapter_fingerprint": self.cfg.get("adapter_fingerprint"),
                "limit": self.cfg.get("limit"),
                "max_drop": self.cfg.get("max_drop"),
                "requested": self.cfg["tasks"],
                "tasks": self.rows,
                "errors": self.errors,
                "complete": complete,
                "measured": self.measured,
                "engine": "lm-evaluation-harness",
            },
        )
        return path

    def run(self) -> Path:
        names = list(self.cfg["tasks"])
        total = len(names)
        self.emit("started", items=total, sides=["base", "tuned"], pid=os.getpid(), model=self.cfg["model"])
        self.emit("status", message="indexing tasks")
        tm = self.task_manager()
        done = 0
        for name in names:
            self.stop.check()
            try:
                self.check_known(tm, name)
                fp, folder = self.fingerprint(tm, name)
                self.load_task(tm, name, folder)
                base = self.measured_side(tm, name, fp, folder, tuned=False)
                self.emit("progress", side="base", done=done + 1, total=total, cached=self.measured["base_cached"])
                tuned = self.measured_side(tm, name, fp, folder, tuned=True)
            except TaskUnavailable as exc:
                self.errors.append(str(exc))
                self.emit("status", message=str(exc))
            else:
                for leaf, b in base.items():
                    t = tuned.get(leaf)
                    if t is None:
                        continue
                    self.rows.append(
                        fg.compare_task(leaf, b["metric"], b["scores"], t["scores"], float(self.cfg["max_drop"]))
                    )
            done += 1
            self.emit("progress", side="base", done=done, total=total, cached=self.measured["base_cached"])
            self.emit("progress", side="tuned", done=done, total=total, cached=self.measured["tuned_cached"])
            self.write_result(complete=False)
        path = self.write_result(complete=True)
        fg.attach(self.run_dir)
        return path


def main(run_dir: str | Path, argv: list[str] | None = None) -> int:
    # Nothing is downloaded: lm-eval's tasks run where their data is cached, local tasks always.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    d = fg.job_dir(run_dir)
    check: Check | None = None

    def cancelled() -> dict[str, Any]:
        kept = [r["task"] for r in check.rows] if check is not None else []
        if check is not None:
            check.write_result(complete=False)
        end.emit(
            "status",
            message=f"interrupted: {kept_text(kept)}; run the check again to measure the rest",
        )
        return {"step": len(kept), "checkpoint": None}

    end = ChildEnd(
        d / fg.EVENTS,
        cancel_on=(Cancelled, KeyboardInterrupt),
        cancelled=cancelled,
        hint=lambda exc: memory_hint(exc, "lower eval.forgetting.batch_size"),
    )
    # lm-eval has no stop hook: leave at once; every finished task is already on disk.
    stop = StopRequest(d, at_once=True).install()
    with end:
        check = Check(run_dir, end.emit, stop=stop)
        t0 = time.monotonic()
        path = check.run()
        end.emit(
            "finished",
            report=str(path),
            runtime_s=round(time.monotonic() - t0, 1),
            measured=check.measured,
            errors=len(check.errors),
        )
    return end.exit_code
