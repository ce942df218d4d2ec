"""Benchmark evaluation of a training run, core side: choose the items, write the plan, start the
child, read its progress and report. The child (`python -m ftui.engine eval RUN_DIR`) does the rest.

The benchmark excludes every item the build trained on (corrections, anchors, DPO pairs): grading
a model on its own training examples measures memory, not the fix. Held-out eval items stay in.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ftui.core.base import jobs
from ftui.core.base.errors import FtuiError
from ftui.core.base.fsutil import atomic_write_json, atomic_write_jsonl, read_json_file
from ftui.core.base.stack import require_train_stack
from ftui.core.build import files as build_files
from ftui.core.build.store import targeted_cluster
from ftui.core.curate import clusters as clusters_mod
from ftui.core.curate.overlay import Overlay
from ftui.core.grade.grading import spec_for
from ftui.core.hosted import hosted
from ftui.core.judge import fewshot
from ftui.core.judge.compare import load_report
from ftui.core.logs.items import Item
from ftui.core.logs.runlog import load_benchmark
from ftui.core.runs import runs
from ftui.core.workspace.prompts import messages_for, tools_of
from ftui.core.workspace.settings import EvalConfig
from ftui.core.workspace.workspace import Workspace

EVAL_DIR = "eval"
CONFIG = "config.json"
ITEMS = "items.jsonl"
EVENTS = "events.jsonl"
REPORT = "report.json"
ANSWERS = "answers.jsonl"
LOG = "eval.log"
BASE_CACHE = "base_answers.jsonl"
PASSING = "passing"
RETRIEVAL_MISS = "retrieval_miss"
# Files of a previous evaluation that a new one replaces (the base-answer cache lives elsewhere).
_RESET = (REPORT, ANSWERS)


class EvalError(FtuiError):
    pass


# An evaluation whose tuned side is the run's fine-tune as `ftui serve` serves it; its own folder, so
# the in-process evaluation's report stays.
SERVED_DIR = "eval-served"


def eval_dir(run_dir: Path | str, name: str = EVAL_DIR) -> Path:
    return Path(run_dir) / name


def read_manifest(build_dir: Path | str) -> dict[str, Any]:
    return read_json_file(Path(build_dir) / "manifest.json", "the run's build folder is gone (no manifest.json)")


def preserves(run_cfg: dict[str, Any] | None) -> bool:
    """Whether a run trains on the build's preserved items (a run holding anchors to the base, SFT or DPO)."""
    return float((run_cfg or {}).get("anchor_kl") or 0) > 0


def training_ids(manifest: dict[str, Any], run_cfg: dict[str, Any] | None = None) -> set[str]:
    """Every id the run trained on or chose its checkpoint by (validation); held-out `eval_ids`
    are not in it (they are fair to grade)."""
    out: set[str] = set(str(i) for i in manifest.get("preserve_ids") or []) if preserves(run_cfg) else set()
    for key in ("train_ids", "anchor_ids", "dpo_ids"):
        out.update(str(i) for i in manifest.get(key) or [])
    held = {str(i) for i in manifest.get("eval_ids") or []}
    # An anchor or DPO pair that landed in the held-out split was never trained on either.
    train = {str(i) for i in manifest.get("train_ids") or []}
    return (out - held) | train | validation_ids(manifest)


def validation_ids(manifest: dict[str, Any]) -> set[str]:
    """The ids that chose the checkpoint: eval loss, early stopping, probes. Never graded."""
    return {str(i) for i in manifest.get("validation_ids") or []}


def roles(manifest: dict[str, Any], run_cfg: dict[str, Any] | None, graded_ids: list[str]) -> dict[str, Any]:
    """Which items each role saw, for the report and the postmortem."""
    has_validation = "validation_ids" in manifest
    held = [str(i) for i in manifest.get("eval_ids") or []]
    valid = sorted(validation_ids(manifest)) if has_validation else sorted(held)
    graded = set(graded_ids)
    return {
        "train": len(training_ids(manifest, run_cfg) - validation_ids(manifest)),
        # Builds from before the validation split chose the checkpoint on their held-out items.
        "selection": "validation" if has_validation else "held-out (build without a validation split)",
        "validation_ids": valid,
        "test_ids": sorted(i for i in held if i in graded),
        "graded": len(graded),
        "graded_and_selected": sorted(graded & set(valid)),
    }


def cluster_of(ws: Workspace, item: Item, has_retrieval: bool, overlay: Overlay | None = None) -> str:
    if clusters_mod.is_passing(ws, item):
        return PASSING
    if item.grade is not None and not clusters_mod.is_model_failure(ws, item, has_retrieval):
        return RETRIEVAL_MISS
    return clusters_mod.label_of(item, overlay)


# The eval section's settings a plan carries to the engine, which reads them back with `eval_settings`.
EVAL_SETTINGS = ("max_new_tokens", "flaky_k", "flaky_temperature", "gate_ignores_flaky", "fewshot_k", "batch_size")


def eval_settings(config: dict[str, Any]) -> EvalConfig:
    """A plan's eval settings as the EvalConfig they were written from (its defaults and rules hold)."""
    return EvalConfig.from_dict({key: config[key] for key in EVAL_SETTINGS if config.get(key) is not None})


@dataclass
class EvalPlan:
    run_dir: Path
    config: dict[str, Any]
    items: list[dict[str, Any]]
    excluded_ids: list[str] = field(default_factory=list)
    dir_name: str = EVAL_DIR


def endpoint(e: Any) -> dict[str, Any] | None:
    return asdict(e) if e is not None else None


def plan_eval(
    ws: Workspace,
    run_dir: Path | str,
    *,
    limit: int | None = None,
    adapter: str | None = None,
    tuned_endpoint: dict[str, Any] | None = None,
    dir_name: str = EVAL_DIR,
    only_ids: set[str] | None = None,
) -> EvalPlan:
    """`only_ids` keeps just those benchmark items (a demo's short evaluation); None keeps all."""
    run_dir = Path(run_dir)
    run_cfg = runs.read_run_config(run_dir)
    build_dir = run_cfg.get("build_dir")
    manifest = read_manifest(build_dir) if build_dir else {}
    target = targeted_cluster(manifest)
    ev = ws.eval
    base_ep, tuned_ep = endpoint(ev.base_endpoint), tuned_endpoint or endpoint(ev.tuned_endpoint)
    if hosted.is_hosted(run_dir):
        # A hosted job's model lives at the service: both sides are its endpoints, base = the model it started from.
        tuned_ep = hosted.tuned_endpoint(run_dir)
        if tuned_ep is None:
            raise EvalError(
                f"{run_dir}: hosted run {run_dir.name} has no fine-tuned model yet "
                f"(state: {runs.read_state(run_dir).state}); `ftui hosted status {run_dir.name}` polls it"
            )
        base_ep = base_ep or hosted.base_endpoint(run_dir)
    if adapter is None and tuned_ep is None:
        adapter_dir = run_dir / "adapter"
        if not (adapter_dir / "adapter_config.json").exists():
            state = runs.read_state(run_dir).state
            raise EvalError(
                f"{run_dir}: run {run_dir.name} has no adapter yet (state: {state}); evaluate a finished run"
            )
        adapter = str(adapter_dir)

    bench = load_benchmark(ws)
    overlay = clusters_mod.load_overlay(ws)
    excluded = training_ids(manifest, run_cfg)
    shots = _fewshot_pool(ws, build_dir, target) if ws.eval.fewshot_k > 0 and build_dir else []
    items, dropped = [], []
    for it in bench.items:
        if only_ids is not None and it.id not in only_ids:
            continue
        if it.id in excluded:
            dropped.append(it.id)
            continue
        row = {
            "id": it.id,
            "cluster": cluster_of(ws, it, bench.has_retrieval, overlay),
            "label": it.label,
            "task": it.task,
            "question": it.question,
            "expected": it.expected,
            "logged_grade": it.grade,
            "messages": messages_for(it, ws.prompt),
            "grader": spec_for(ws, it),
        }
        if it.tools:
            row["tools"] = tools_of(it)
        if shots:
            chosen = fewshot.choose(it, row["messages"], shots, ws.eval.fewshot_k)
            row["fewshot_ids"] = [ex["id"] for ex in chosen]
            row["fewshot_messages"] = fewshot.with_examples(row["messages"], chosen)
        items.append(row)
    if limit is not None:
        items = stratified_sample(items, limit, seed=int(manifest.get("options", {}).get("seed", 0)))
    if not items:
        raise EvalError(f"{bench.path}: no benchmark items left after excluding {len(dropped)} training ids")

    config = {
        "schema": 1,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "run_id": run_dir.name,
        "run_dir": str(run_dir.resolve()),
        "workspace": str(ws.root),
        "model": run_cfg.get("model") or ws.model,
        "adapter": adapter,
        "method": run_cfg.get("method"),
        "build_id": run_cfg.get("build_id") or manifest.get("build_id"),
        "build_dir": build_dir,
        "dataset_hash": manifest.get("hash"),
        "targeted_cluster": target,
        "benchmark": str(bench.path),
        "benchmark_size": len(bench.items),
        "excluded_ids": dropped,
        "roles": roles(manifest, run_cfg, [it["id"] for it in items]),
        **{key: getattr(ev, key) for key in EVAL_SETTINGS},
        "fewshot_k": ev.fewshot_k if shots else 0,
        "device": run_cfg.get("device") or ws.train.device,
        "dtype": ws.eval.dtype,
        "base_endpoint": base_ep,
        "tuned_endpoint": tuned_ep,
        "judge": endpoint(ev.judge),
        "cache_dir": str(ws.state.cache),
        "reports_dir": str(ws.state.reports) if dir_name == EVAL_DIR else None,
    }
    return EvalPlan(run_dir=run_dir, config=config, items=items, excluded_ids=dropped, dir_name=dir_name)


def stratified_sample(items: list[dict[str, Any]], limit: int, seed: int = 0) -> list[dict[str, Any]]:
    """`limit` items spread over strata (cluster × question-length bucket) in proportion to their
    size, every stratum first getting one while the limit allows; a seeded order inside each.

    The first N of a benchmark is whatever its file happens to list first (often one cluster or
    one question type), so a trimmed evaluation would judge a different population.
    """
    from ftui.core.build.anchors import length_bucket
    from ftui.core.logs.seeded_order import largest_remainder, rank

    limit = max(0, limit)
    if limit >= len(items):
        return list(items)
    strata: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(items):
        strata.setdefault((r["cluster"], length_bucket(r.get("question") or "")), []).append(i)
    for key in strata:
        strata[key].sort(key=lambda i: rank(seed, "eval-limit", items[i]["id"]))
    keys = sorted(strata, key=lambda k: (-len(strata[k]), k))
    if limit < len(keys):
        alloc = {k: int(n < limit) for n, k in enumerate(keys)}
    else:
        spare = {k: len(strata[k]) - 1 for k in keys}
        pool = sum(spare.values())
        rest = limit - len(keys)
        extra = largest_remainder({k: rest * spare[k] / pool if pool else 0.0 for k in keys}, rest, spare)
        alloc = {k: 1 + extra[k] for k in keys}
    chosen = sorted(i for k in keys for i in strata[k][: alloc[k]])
    return [items[i] for i in chosen]


def _fewshot_pool(ws: Workspace, build_dir: str, target: str | None) -> list[dict[str, Any]]:
    from ftui.core.base.fsutil import read_jsonl
    from ftui.core.logs.runlog import load_run_log

    path = build_files.train_file(build_dir, build_files.SFT)
    rows = read_jsonl(path) if path.exists() else []
    return fewshot.pool(rows, target, load_run_log(ws))


def write_plan(plan: EvalPlan) -> Path:
    d = eval_dir(plan.run_dir, plan.dir_name)
    jobs.fresh_folder(d, *_RESET)
    atomic_write_jsonl(d / ITEMS, plan.items)
    atomic_write_json(d / CONFIG, plan.config)
    return d


def check_stack(plan: EvalPlan) -> None:
    """Refuse, with the install command, an evaluation that answers locally without the training
    stack; one that asks endpoints for both sides needs none."""
    cfg = plan.config
    if not (cfg.get("base_endpoint") and cfg.get("tuned_endpoint")):
        require_train_stack("an evaluation")


def start_eval(
    ws: Workspace,
    run_ref: str | Path,
    *,
    limit: int | None = None,
    tuned_endpoint: dict[str, Any] | None = None,
    dir_name: str = EVAL_DIR,
    only_ids: set[str] | None = None,
) -> tuple[Path, int]:
    """Plan and launch the evaluation child for a run; returns (run_dir, pid)."""
    run_dir = runs.find_run(ws, str(run_ref))
    state = eval_state(run_dir, name=dir_name)
    if state.state == "running":
        raise EvalError(
            f"{eval_dir(run_dir, dir_name)}: an evaluation of {run_dir.name} is already running (pid {state.pid})"
        )
    plan = plan_eval(ws, run_dir, limit=limit, tuned_endpoint=tuned_endpoint, dir_name=dir_name, only_ids=only_ids)
    check_stack(plan)
    write_plan(plan)
    extra = ["--dir", dir_name] if dir_name != EVAL_DIR else []
    pid = jobs.start_child(["eval", str(run_dir.resolve()), *extra], eval_dir(run_dir, dir_name), LOG)
    return run_dir, pid


def eval_state(run_dir: Path | str, now: float | None = None, name: str = EVAL_DIR) -> jobs.JobState:
    return jobs.job_state(eval_dir(run_dir, name), now)


def read_report(run_dir: Path | str, name: str = EVAL_DIR) -> dict[str, Any]:
    return load_report(eval_dir(run_dir, name) / REPORT)


def copy_to_reports(ws_reports: Path | str, run_id: str, path: Path) -> Path:
    dest = Path(ws_reports) / f"{run_id}-{path.name}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, dest)
    return dest


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The figures a caller prints after an evaluation (CLI --json, TUI notifications)."""
    t, r, v = report["targeted"], report["rest"], report["verdict"]
    return {
        "run_id": report.get("run_id"),
        "targeted_cluster": report.get("targeted_cluster"),
        "targeted": {k: t[k] for k in ("total", "base_passed", "tuned_passed", "base_rate", "tuned_rate", "change")},
        "rest": {k: r[k] for k in ("total", "base_passed", "tuned_passed", "base_rate", "tuned_rate", "change")},
        "buckets": report["buckets"],
        "regressions": report["regressions"],
        "mcnemar_p": report["mcnemar"]["p_value"],
        "verdict": v["verdict"],
        "ship": v["ship"],
    }


def report_stale_text(run_dir: Path | str, name: str = EVAL_DIR) -> str:
    """ "" when the run's report judged its current adapter; else one line saying it is older.

    A run resumed or trained again after its evaluation has a newer adapter than the one judged:
    the report still reads, but it no longer describes the run.
    """
    report = eval_dir(run_dir, name) / REPORT
    adapter = Path(run_dir) / "adapter"
    try:
        judged = report.stat().st_mtime
        files = [p.stat().st_mtime for p in adapter.iterdir() if p.is_file()]
    except OSError:
        return ""
    if files and max(files) > judged:
        return (
            f"⚠ {Path(run_dir).name}'s adapter is newer than this report (trained again after it): E evaluates it again"
        )
    return ""


def seconds_per_item(ws: Workspace) -> float | None:
    """The pace of the newest finished evaluation in the workspace (seconds per benchmark item,
    both sides), for an estimate before the next one starts; None when none has finished."""
    from ftui.core.base.events import read_events

    best: tuple[float, float] | None = None  # (finished at, pace)
    for info in runs.list_runs(ws):
        evs, _ = read_events(eval_dir(info.dir) / EVENTS)
        started = next((e for e in evs if e.get("type") == "started"), None)
        finished = next((e for e in reversed(evs) if e.get("type") == "finished"), None)
        if not started or not finished or not started.get("items"):
            continue
        pace = (float(finished["t"]) - float(started["t"])) / int(started["items"])
        if pace > 0 and (best is None or finished["t"] > best[0]):
            best = (float(finished["t"]), pace)
    return best[1] if best else None
