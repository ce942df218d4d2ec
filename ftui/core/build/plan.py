"""Build planning: which corrections of the target clusters become examples (and why the others
are discarded), which passing items join them as anchors, which other failures are preserved."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ftui.core.build.anchors import anchor_stratum, select_anchors
from ftui.core.build.store import BuildError
from ftui.core.logs.items import Item
from ftui.core.logs.runlog import load_run_log, read_items
from ftui.core.logs.seeded_order import round_half_up
from ftui.core.workspace.prompts import user_text
from ftui.core.workspace.settings import BuildConfig
from ftui.core.workspace.workspace import Workspace

# Discard reasons, as written to the manifest.
UNCORRECTED = "uncorrected"
SKIPPED = "skipped"
NEEDS_REVIEW = "needs_review"
STALE = "stale"
IN_BENCHMARK = "in_benchmark"
EMPTY_CORRECTION = "empty_correction"
NOT_IN_RUN_LOG = "not_in_run_log"
NOT_A_MODEL_FAILURE = "not_a_model_failure"
# A rewards build: a training child cannot call out to an LLM judge, so a judge-graded item gives no reward.
JUDGE_GRADER = "judge_grader"


@dataclass
class Example:
    item: Item
    kind: str  # "correction" | "failure" (a rewards build's item without a usable correction) | "anchor" | "preserve"
    cluster: str  # failure label for corrections; the stratum for anchors
    target: str
    stratum: str  # the split's stratification key
    rejected: str | None = None  # the original answer, for DPO


@dataclass
class Plan:
    examples: list[Example] = field(default_factory=list)
    discarded: list[dict[str, Any]] = field(default_factory=list)
    benchmark_excluded: list[str] = field(default_factory=list)
    per_cluster: dict[str, Any] = field(default_factory=dict)
    run_log: dict[str, Any] = field(default_factory=dict)  # what the reader kept and skipped
    preserve: list[Example] = field(default_factory=list)  # candidates, before the split filters them


def normalise_ws(text: str) -> str:
    return " ".join(text.split())


def _benchmark_items(ws: Workspace) -> list[Item]:
    if ws.benchmark is None or ws.benchmark == ws.run_log:
        return []
    return read_items(ws.benchmark, ws.fields, ws.rule).items


def plan_build(
    ws: Workspace, clusters: list[str] | None, opts: BuildConfig, exclude_ids: set[str], rewards: bool = False
) -> tuple[Plan, list[str]]:
    """With `rewards` every failure of the targets becomes an example (its grader is the reward);
    only benchmark items and judge-graded ones are discarded."""
    from ftui.core.curate import clusters as clusters_mod
    from ftui.core.curate.corrections import CorrectionStore
    from ftui.core.grade.grading import spec_for

    log = load_run_log(ws)
    report = clusters_mod.cluster_failures(ws, log)
    all_labels = [c.label for c in report.clusters]
    if clusters:
        unknown = [c for c in clusters if report.by_label(c) is None]
        if unknown:
            raise BuildError(
                f"unknown cluster {', '.join(map(repr, unknown))}; clusters: {', '.join(all_labels) or '(none)'}"
            )
        targets = list(dict.fromkeys(clusters))
    else:
        targets = all_labels
    store = CorrectionStore(ws).all()

    bench = _benchmark_items(ws)
    bench_ids = {it.id for it in bench} | set(exclude_ids)
    bench_prompts = {normalise_ws(user_text(it, ws.prompt)) for it in bench}

    def in_benchmark(item: Item) -> bool:
        return item.id in bench_ids or normalise_ws(user_text(item, ws.prompt)) in bench_prompts

    plan = Plan(run_log=log.summary)
    seen: set[str] = set()
    for label in targets:
        cluster = report.by_label(label)
        if cluster is None:  # every target was checked against the report above
            continue
        stats = {"items": 0, "corrected": 0, "train": 0, "validation": 0, "eval": 0, "discarded": 0}
        plan.per_cluster[label] = stats
        for item in sorted(cluster.items, key=lambda it: it.id):
            if item.id in seen:
                continue
            seen.add(item.id)
            stats["items"] += 1
            corr = store.get(item.id)
            reason = None
            if corr is None:
                reason = UNCORRECTED
            elif corr.status == "skipped":
                reason = SKIPPED
            elif corr.status == "needs_review":
                reason = NEEDS_REVIEW
            elif corr.status != "corrected":
                reason = f"status:{corr.status}"
            elif corr.is_stale(item):
                reason = STALE
            elif not (corr.output or "").strip():
                reason = EMPTY_CORRECTION
            elif in_benchmark(item):
                reason = IN_BENCHMARK
                plan.benchmark_excluded.append(item.id)
            if rewards and reason != IN_BENCHMARK and in_benchmark(item):
                reason = IN_BENCHMARK
                plan.benchmark_excluded.append(item.id)
            if rewards and reason != IN_BENCHMARK and spec_for(ws, item).get("kind") == "judge":
                reason = JUDGE_GRADER
            if rewards and reason not in (IN_BENCHMARK, JUDGE_GRADER):
                if reason is None:
                    stats["corrected"] += 1
                    assert corr is not None
                    plan.examples.append(
                        Example(item, "correction", label, corr.output, f"cluster:{label}", rejected=item.answer)
                    )
                else:
                    plan.examples.append(Example(item, "failure", label, "", f"cluster:{label}", rejected=item.answer))
                continue
            if reason:
                plan.discarded.append({"id": item.id, "cluster": label, "reason": reason})
                stats["discarded"] += 1
                continue
            stats["corrected"] += 1
            assert corr is not None  # every path without a correction set a reason above
            plan.examples.append(
                Example(item, "correction", label, corr.output, f"cluster:{label}", rejected=item.answer)
            )

    # Corrections that cannot become examples whatever the target: say so rather than drop them.
    if not clusters:
        in_clusters = {it.id for c in report.clusters for it in c.items}
        for cid, corr in sorted(store.items()):
            if corr.status != "corrected" or cid in in_clusters:
                continue
            if cid not in log.by_id:
                plan.discarded.append({"id": cid, "cluster": None, "reason": NOT_IN_RUN_LOG})
            else:
                # Now passing, or a retrieval miss: fine-tuning is not what fixes it.
                plan.discarded.append({"id": cid, "cluster": None, "reason": NOT_A_MODEL_FAILURE})

    n_corr = len(plan.examples)
    passing = [
        it
        for it in clusters_mod.passing_items(ws, log)
        if it.id not in seen and not in_benchmark(it) and it.answer.strip()
    ]
    for it in clusters_mod.passing_items(ws, log):
        if it.id not in seen and in_benchmark(it):
            plan.benchmark_excluded.append(it.id)
    anchors = select_anchors(passing, round_half_up(opts.anchor_ratio * n_corr), opts.seed)
    for it in anchors:
        stratum = anchor_stratum(it)
        plan.examples.append(Example(it, "anchor", stratum, it.answer, f"anchor:{stratum}"))
    if opts.preserve:
        for c in report.clusters:
            if c.label in targets:
                continue
            for it in sorted(c.items, key=lambda it: it.id):
                if it.id not in seen and not in_benchmark(it) and it.answer.strip():
                    seen.add(it.id)
                    plan.preserve.append(Example(it, "preserve", c.label, it.answer, f"preserve:{c.label}"))
    return plan, targets
