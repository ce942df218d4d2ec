"""General capabilities before and after a fine-tune: the forgetting check, core side.

A benchmark only measures what it asks. The check runs general tasks through lm-evaluation-harness
(its own tasks whose data is on the machine, and local JSON/JSONL tasks in its YAML format) on the
base model and on the fine-tune, in a child (`python -m ftui.engine forgetting RUN_DIR`), and sets
each task's change beside the benchmark's in the run's report. Here: the plan, the child's state,
the per-task comparison and how it joins the report.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from ftui.core.base import jobs
from ftui.core.base.errors import FtuiError
from ftui.core.base.fsutil import atomic_write_json, read_json_file
from ftui.core.base.jobs import JobState, job_state
from ftui.core.judge.evalrun import CONFIG as CONFIG
from ftui.core.judge.evalrun import EVENTS as EVENTS
from ftui.core.judge.evalrun import REPORT as EVAL_REPORT
from ftui.core.judge.evalrun import eval_dir
from ftui.core.judge.paired_stats import paired_summary
from ftui.core.runs import runs
from ftui.core.workspace.workspace import Workspace

# The check's folder is laid out like an evaluation's (CONFIG, EVENTS) and its state read by the same rule.
DIR = "forgetting"
RESULT = "result.json"
LOG = "forgetting.log"
# Base-side results by model and task, shared by every run of a workspace (under the state's cache/).
BASE_CACHE = "forgetting"
# lm-eval's built-in task index, one pickle per lm-eval install (ftui/engine/lm_eval_index.py).
INDEX_CACHE = "lm-eval-index"
# The tuned side's finished tasks, kept per adapter so a re-run only measures what is missing.
TUNED_CACHE = "tuned"
# Without an eval.forgetting section (tasks given on the command line): a 5-point drop is flagged.
DEFAULT_MAX_DROP = 0.05


class ForgettingError(FtuiError):
    pass


def job_dir(run_dir: Path | str) -> Path:
    return Path(run_dir) / DIR


def adapter_fingerprint(adapter_dir: Path | str) -> str:
    """What names an adapter's weights: a hash of its files, so a resumed run's new adapter is a new one."""
    h = hashlib.sha256()
    for p in sorted(Path(adapter_dir).iterdir()):
        if p.is_file() and p.suffix in (".safetensors", ".bin", ".json"):
            h.update(p.name.encode())
            with open(p, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()[:16]


def plan(
    ws: Workspace, run_dir: Path | str, *, limit: int | None = None, tasks: list[str] | None = None
) -> dict[str, Any]:
    """The child's config: what to measure on which model and adapter, and where the caches are."""
    run_dir = Path(run_dir)
    fc = ws.eval.forgetting
    chosen = list(tasks or (fc.tasks if fc else []))
    if not chosen:
        raise ForgettingError(
            f"{ws.config_path}: no general tasks to check: set `eval.forgetting.tasks` (lm-eval task names or "
            "local tasks in eval.forgetting.include_path), or pass --tasks"
        )
    adapter = run_dir / "adapter"
    if not (adapter / "adapter_config.json").exists():
        raise ForgettingError(
            f"{run_dir}: run {run_dir.name} has no adapter yet (state: {runs.read_state(run_dir).state}); "
            "check a finished run"
        )
    run_cfg = runs.read_run_config(run_dir)
    include = fc.include_path if fc else None
    return {
        "schema": 1,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "run_id": run_dir.name,
        "run_dir": str(run_dir.resolve()),
        "model": run_cfg.get("model") or ws.model,
        "adapter": str(adapter.resolve()),
        "adapter_fingerprint": adapter_fingerprint(adapter),
        "tasks": chosen,
        "include_path": str((ws.root / include).resolve()) if include else None,
        "limit": limit if limit is not None else (fc.limit if fc else None),
        "max_drop": fc.max_drop if fc else DEFAULT_MAX_DROP,
        "batch_size": fc.batch_size if fc else 8,
        "device": run_cfg.get("device") or ws.train.device,
        "base_cache_dir": str(ws.state.cache / BASE_CACHE),
        "index_cache_dir": str(ws.state.cache / INDEX_CACHE),
    }


def start(
    ws: Workspace, run_ref: str | Path, *, limit: int | None = None, tasks: list[str] | None = None
) -> tuple[Path, int]:
    """Plan and launch the check for a run; returns (run_dir, pid)."""
    run_dir = runs.find_run(ws, str(run_ref))
    st = state(run_dir)
    if st.state == "running":
        raise ForgettingError(
            f"{job_dir(run_dir)}: a forgetting check of {run_dir.name} is already running (pid {st.pid})"
        )
    cfg = plan(ws, run_dir, limit=limit, tasks=tasks)
    d = job_dir(run_dir)
    jobs.fresh_folder(d)
    atomic_write_json(d / CONFIG, cfg)
    pid = jobs.start_child(["forgetting", str(run_dir.resolve())], d, LOG)
    return run_dir, pid


def state(run_dir: Path | str, now: float | None = None) -> JobState:
    """The check's state, folded from its events like an evaluation's (progress per side in tasks)."""
    return job_state(job_dir(run_dir), now)


def read_result(run_dir: Path | str) -> dict[str, Any] | None:
    p = job_dir(run_dir) / RESULT
    if not p.is_file():
        return None
    data = read_json_file(p, "no forgetting result")
    return data if isinstance(data, dict) else None


# --- the comparison ------------------------------------------------------------------------


def _binary(values: list[float]) -> bool:
    return all(v in (0, 1) for v in values)


def compare_task(
    name: str, metric: str, base: dict[str, float], tuned: dict[str, float], max_drop: float
) -> dict[str, Any]:
    """One task, base → tuned, on the documents both sides answered (by lm-eval's doc id).

    A 0/1 metric (accuracy, exact match) is a paired table, so it gets the benchmark's statistics:
    Newcombe's interval and mid-p McNemar. Any other metric gets a normal interval of the mean
    paired difference.
    """
    ids = sorted(set(base) & set(tuned), key=lambda k: (len(k), k))
    b = [float(base[i]) for i in ids]
    t = [float(tuned[i]) for i in ids]
    n = len(ids)
    out: dict[str, Any] = {"task": name, "metric": metric, "n": n}
    if not n:
        return {**out, "base": None, "tuned": None, "change": None, "ci": None, "flagged": False}
    out["base"], out["tuned"] = sum(b) / n, sum(t) / n
    out["change"] = out["tuned"] - out["base"]
    if _binary(b) and _binary(t):
        a = sum(1 for x, y in zip(b, t, strict=True) if x and y)
        fixed = sum(1 for x, y in zip(b, t, strict=True) if not x and y)
        broke = sum(1 for x, y in zip(b, t, strict=True) if x and not y)
        s = paired_summary(a, fixed, broke, n - a - fixed - broke)
        out.update(
            paired=True,
            ci=s["ci"],
            mid_p=s["mid_p"],
            detectable_change=s["detectable_change"],
            fixed=fixed,
            broke=broke,
        )
    else:
        diffs = [y - x for x, y in zip(b, t, strict=True)]
        mean = sum(diffs) / n
        sd = (sum((d - mean) ** 2 for d in diffs) / (n - 1)) ** 0.5 if n > 1 else 0.0
        half = 1.96 * sd / n**0.5
        out.update(paired=False, ci=[round(mean - half, 4), round(mean + half, 4)], mid_p=None)
    out["flagged"] = out["change"] < -max_drop
    return out


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """What the report carries: the task rows, the tasks that could not run, the flagged drops."""
    rows = [r for r in result.get("tasks", []) if r.get("n")]
    return {
        "tasks": rows,
        "errors": list(result.get("errors", [])),
        "flagged": [r["task"] for r in rows if r.get("flagged")],
        "max_drop": result.get("max_drop"),
        "limit": result.get("limit"),
        "adapter_fingerprint": result.get("adapter_fingerprint"),
        "complete": bool(result.get("complete")),
    }


def attach(run_dir: Path | str) -> dict[str, Any] | None:
    """Set the check's result in the run's evaluation report and decide its verdict again; returns
    the report, or None when there is no report or the result was measured on another adapter."""
    from ftui.core.judge.compare import load_report, with_forgetting

    result = read_result(run_dir)
    path = eval_dir(run_dir) / EVAL_REPORT
    if result is None or not path.is_file():
        return None
    report = load_report(path)
    adapter = report.get("adapter")
    if adapter and Path(adapter).is_dir() and adapter_fingerprint(adapter) != result.get("adapter_fingerprint"):
        return None
    report = with_forgetting(report, summary(result))
    atomic_write_json(path, report)
    return report
