"""The GRPO demo: a copy of the sample with no corrections at all → a rewards build of the clusters
whose failures the base sometimes passes → GRPO in the training child, each sampled answer
rewarded by its item's own grader → the same evaluation and postmortem as every run.

It prints the figure the method is for: the held-out pass rate of the trained clusters, base vs
fine-tuned, with counts, and the regressions among the items the base passed.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ftui.core.base.events import read_events
from ftui.core.base.formatting import duration, pct
from ftui.core.build import builder
from ftui.core.judge import evalrun
from ftui.core.judge.postmortem import write_postmortem
from ftui.core.runs import runs
from ftui.core.runs.fold import fold_run
from ftui.core.workspace.workspace import Workspace
from ftui.sample.demo import DemoError, DemoResult, _follow_eval, _follow_training, cluster_table

# The sample's clusters with a signal: measured with 8 answers per item at temperature 1, the
# base passes most wrong_fact, vague_summary and ignores_test_evidence items sometimes, and no
# prose_instead_of_json item ever (its answers are prose, its grader wants JSON fields).
# `ftui learnability` measures it again on any workspace.
GRPO_CLUSTERS = ("wrong_fact", "vague_summary", "ignores_test_evidence")

# Settings the GRPO demo changes from the workspace's (SFT-tuned) train section: 12 steps (under a
# minute each on 2 free CPU threads, measured 24-47 s), one prompt's group of 8 answers per step, as long as the evaluation lets an answer be (eval.max_new_tokens 48); a
# learning rate at the high end of TRL's LoRA guidance, since a demo has few steps; the anchor KL of
# the SFT settings does not apply (GRPO's own KL weight holds the model to the base). The probes
# run at the start and the end (eval_steps = max_steps).
GRPO_OVERRIDES: dict = {
    "method": "grpo",
    "max_steps": 12,
    "num_generations": 8,
    "max_completion_length": 48,
    "temperature": 1.0,
    "kl_beta": 0.02,
    "learning_rate": 3e-4,
    "grad_accum": 1,
    "eval_steps": 12,
    "save_steps": 4,
    "anchor_kl": 0.0,
}


def copy_without_state(workspace: Path | str, dest: Path | str | None = None) -> Path:
    """The workspace's files without its state folder (so no corrections, builds or runs)."""
    src = Path(workspace).resolve()
    out = Path(dest) if dest is not None else Path(tempfile.mkdtemp(prefix="ftui-demo-grpo-")) / src.name
    shutil.copytree(src, out, ignore=shutil.ignore_patterns(".ftui", "reviewed_corrections.jsonl"))
    return out


def held_out_rates(report: dict, clusters: list[str]) -> dict:
    """Base and fine-tuned passes over the evaluated items of `clusters` (none of them trained on)."""
    items = [it for it in report["items"] if it["cluster"] in clusters]
    n = len(items)
    base = sum(it["base_grade"]["passed"] for it in items)
    tuned = sum(it["tuned_grade"]["passed"] for it in items)
    return {
        "total": n,
        "base_passed": base,
        "tuned_passed": tuned,
        "change_points": round(100 * (tuned - base) / n, 1) if n else None,
    }


def run_grpo_demo(
    workspace: Path | str,
    *,
    clusters: tuple[str, ...] = GRPO_CLUSTERS,
    max_steps: int | None = None,
    eval_limit: int | None = None,
    dest: Path | str | None = None,
    log: Callable[[str], None] = print,
    poll: float = 0.5,
) -> DemoResult:
    t0 = time.monotonic()
    timings: dict[str, float] = {}
    root = copy_without_state(workspace, dest)
    ws = Workspace.load(root)
    log(f"copy of {workspace} without corrections: {root}")

    build = builder.build(ws, list(clusters), rewards=True)
    c = build.manifest["counts"]
    log(
        f"build {build.id}: {c['grpo_train']} GRPO prompts from {', '.join(clusters)} (no corrections), "
        f"{c['validation']} validation, {c['eval']} held out"
    )
    overrides = dict(GRPO_OVERRIDES)
    if max_steps is not None:
        overrides["max_steps"] = max_steps
    run_dir = runs.create_run(ws, build, overrides)
    runs.start_training(run_dir)
    log(f"training run {run_dir.name} (GRPO, {overrides['max_steps']} steps); log: {run_dir / 'train.log'}")
    t1 = time.monotonic()
    _follow_training(run_dir, log, poll)
    timings["train_s"] = time.monotonic() - t1
    rewards = fold_run(read_events(run_dir / "events.jsonl")[0]).rewards
    if rewards:
        log(f"reward {rewards[0][1]:.3f} at step {rewards[0][0]} → {rewards[-1][1]:.3f} at step {rewards[-1][0]}")

    t2 = time.monotonic()
    # The flaky check and the few-shot arm answer every item again: left out to keep the demo short.
    eval_ws = dataclasses.replace(ws, eval=dataclasses.replace(ws.eval, flaky_k=0, fewshot_k=0))
    # The held-out items only (the trained clusters' and the anchors): a sampled answer costs
    # seconds on a CPU, and the rest of the benchmark was never trained on nor near.
    evalrun.start_eval(eval_ws, run_dir, limit=eval_limit, only_ids=set(build.manifest["eval_ids"]))
    _follow_eval(run_dir, log, poll)
    timings["eval_s"] = time.monotonic() - t2
    rep = evalrun.read_report(run_dir)
    pm = write_postmortem(run_dir, ws)
    timings["total_s"] = time.monotonic() - t0

    log("")
    for line in cluster_table(rep):
        log(line)
    h = held_out_rates(rep, list(clusters))
    if not h["total"]:
        raise DemoError("no held-out items of the trained clusters were evaluated")
    log(
        f"trained clusters, held out: {h['base_passed']}/{h['total']} → {h['tuned_passed']}/{h['total']} "
        f"({pct(h['base_passed'] / h['total'], 0)} → {pct(h['tuned_passed'] / h['total'], 0)}, "
        f"{h['change_points']:+.1f} points)"
    )
    regs = rep["regressions"]
    log(f"regressions: {len(regs)}" + (f" ({', '.join(regs)})" if regs else ""))
    log(f"verdict: {rep['verdict']['verdict']} — {rep['verdict']['headline']}")
    log(f"postmortem: {pm}")
    log(
        f"wall time {duration(timings['total_s'])} (train {duration(timings['train_s'])}, "
        f"eval {duration(timings['eval_s'])})"
    )
    return DemoResult(run_dir=run_dir, report=rep, postmortem=pm, cluster=clusters[0], timings=timings)
