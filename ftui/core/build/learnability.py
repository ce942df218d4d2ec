"""Learnability before GRPO: how often the base model passes each failure when it answers k times.

GRPO learns from the difference between answers to one prompt: a group whose answers all fail
(or all pass) gets one reward, and teaches nothing. Sampling the base k times per failure at the
training temperature, graded by the item's own grader, says before any training which items can
give a signal (they pass sometimes), which never pass (no signal: corrections or drafts are the
way for them) and which already always pass. The sampling runs in a detached child
(`python -m ftui.engine learnability JOB_DIR`); its result is JOB_DIR/result.json.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftui.core.base import jobs
from ftui.core.base.fsutil import atomic_write_json, read_json_file

if TYPE_CHECKING:
    from ftui.core.workspace.workspace import Workspace

CONFIG = "config.json"
EVENTS = "events.jsonl"
RESULT = "result.json"
LOG = "learnability.log"
DEFAULT_K = 8

NEVER, SOMETIMES, ALWAYS = "never", "sometimes", "always"


def jobs_dir(ws: Workspace) -> Path:
    return ws.state.root / "learnability"


def plan(ws: Workspace, clusters: list[str] | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """The failures to sample: each target cluster's items (all clusters when None), with the
    prompt a run would train on and the grader that would reward it (at most `limit` per cluster)."""
    from ftui.core.build.store import BuildError
    from ftui.core.curate.clusters import cluster_failures
    from ftui.core.grade.grading import spec_for
    from ftui.core.logs.runlog import load_run_log
    from ftui.core.workspace.prompts import messages_for, tools_of

    log = load_run_log(ws)
    report = cluster_failures(ws, log)
    labels = [c.label for c in report.clusters]
    unknown = [c for c in clusters or [] if c not in labels]
    if unknown:
        raise BuildError(f"unknown cluster {', '.join(map(repr, unknown))}; clusters: {', '.join(labels) or '(none)'}")
    items = []
    for c in report.clusters:
        if clusters and c.label not in clusters:
            continue
        chosen = sorted(c.items, key=lambda it: it.id)[: limit or None]
        for it in chosen:
            spec = spec_for(ws, it)
            if spec.get("kind") == "judge":
                continue  # the child does not call out to a judge endpoint
            items.append(
                {
                    "id": it.id,
                    "cluster": c.label,
                    "messages": messages_for(it, ws.prompt),
                    "tools": tools_of(it) or None,
                    "expected": it.expected,
                    "question": it.question,
                    "grader": spec,
                }
            )
    return items


def start(
    ws: Workspace,
    clusters: list[str] | None = None,
    *,
    k: int = DEFAULT_K,
    limit: int | None = None,
    max_new_tokens: int | None = None,
    temperature: float | None = None,
) -> Path:
    """Write a job folder and start its child; returns the folder."""
    from ftui.core.build.store import BuildError

    if k < 2:
        raise BuildError("k must be at least 2: one answer cannot show whether answers differ")
    items = plan(ws, clusters, limit)
    if not items:
        raise BuildError("no failures to sample (no clusters, or only judge-graded ones)")
    job = jobs_dir(ws) / time.strftime("%Y%m%d-%H%M%S")
    while job.exists():
        job = job.with_name(job.name + "x")
    job.mkdir(parents=True)
    t = ws.train
    atomic_write_json(
        job / CONFIG,
        {
            "model": ws.model,
            "device": t.device,
            "dtype": t.dtype,
            "k": k,
            # The answers a GRPO run would sample: its length and temperature.
            "max_new_tokens": max_new_tokens or t.max_completion_length,
            "temperature": temperature if temperature is not None else t.temperature,
            "batch_size": ws.eval.batch_size,
            "seed": t.seed,
            "steps": t.max_steps * t.grad_accum,
            "items": items,
        },
    )
    jobs.start_child(["learnability", str(job.resolve())], job, LOG)
    return job


def latest(ws: Workspace) -> Path | None:
    root = jobs_dir(ws)
    found = sorted(p for p in root.iterdir() if (p / CONFIG).is_file()) if root.is_dir() else []
    return found[-1] if found else None


def read_result(job: Path | str) -> dict[str, Any]:
    return read_json_file(Path(job) / RESULT, "learnability job has no result yet")


def verdict(passes: int, k: int) -> str:
    return NEVER if passes == 0 else ALWAYS if passes >= k else SOMETIMES


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """Per cluster: items, how many never / sometimes / always pass, the learnable share (sometimes),
    the mean pass rate; and the estimated sampling time of a run (every step samples one group)."""
    k = int(result["k"])
    clusters: dict[str, dict[str, Any]] = {}
    for it in result["items"]:
        c = clusters.setdefault(
            it["cluster"], {"items": 0, NEVER: 0, SOMETIMES: 0, ALWAYS: 0, "passes": 0, "learnable_ids": []}
        )
        v = verdict(int(it["passes"]), k)
        c["items"] += 1
        c[v] += 1
        c["passes"] += int(it["passes"])
        if v == SOMETIMES:
            c["learnable_ids"].append(it["id"])
    for c in clusters.values():
        c["learnable_share"] = c[SOMETIMES] / c["items"]
        c["pass_rate"] = c["passes"] / (c["items"] * k)
        c["signal"] = c[SOMETIMES] > 0
    groups = len(result["items"])
    per_group = result["sampling_s"] / groups if groups else 0.0
    steps = int(result.get("steps") or 0)
    return {
        "k": k,
        "clusters": clusters,
        "no_signal": sorted(name for name, c in clusters.items() if not c["signal"]),
        "learnable": sorted(name for name, c in clusters.items() if c["signal"]),
        "seconds_per_group": round(per_group, 2),
        "steps": steps,
        # Sampling is most of a GRPO step; the update adds to it, so this is a floor.
        "estimated_sampling_s": round(per_group * steps, 1),
    }


def report_lines(summary: dict[str, Any]) -> list[str]:
    from ftui.core.base.formatting import duration

    k = summary["k"]
    lines = [
        f"Base model sampled {k} times per failure, graded by each item's own grader:",
        f"  {'cluster':<28} {'items':>5} {'never':>6} {'sometimes':>9} {'always':>6} {'pass rate':>9}",
    ]
    for name, c in summary["clusters"].items():
        lines.append(
            f"  {name[:28]:<28} {c['items']:>5} {c[NEVER]:>6} {c[SOMETIMES]:>9} {c[ALWAYS]:>6} {c['pass_rate']:>8.0%}"
        )
    for name in summary["no_signal"]:
        lines.append(
            f"  {name}: no signal — no answer of the base ever differs in reward, so GRPO cannot learn it; "
            f"write corrections (ftui correct) or draft them (ftui draft run {name}) and train with SFT"
        )
    if summary["learnable"]:
        share = sum(summary["clusters"][n][SOMETIMES] for n in summary["learnable"])
        total = sum(summary["clusters"][n]["items"] for n in summary["learnable"])
        lines.append(
            f"  learnable with GRPO: {', '.join(summary['learnable'])} ({share} of {total} items pass sometimes)"
        )
    lines.append(
        f"  cost: {summary['seconds_per_group']:.1f} s of sampling per group here; a run of {summary['steps']} "
        f"groups samples for at least {duration(summary['estimated_sampling_s'])}"
    )
    return lines
