"""The dataset builder: corrections + anchors -> a content-addressed build folder.

A build is the exact set of examples one training run sees. Its id is the hash of its content, so
rebuilding unchanged inputs lands in the same folder and a run can always name what it trained on.
Planning (build_plan), the split (heldout_split), the rows (build_rows) and the store (build_store)
each live in their own module; this one puts them together and writes the manifest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Iterable
from typing import Any

from ftui.core.build import files as build_files
from ftui.core.build.files import stem
from ftui.core.build.heldout_split import keep_prompts_on_one_side, preserve_rows, split_roles
from ftui.core.build.plan import normalise_ws, plan_build
from ftui.core.build.rows import dpo_row, grpo_row, jsonl, pc_row, sft_row
from ftui.core.build.store import SCHEMA, Build, BuildError, write_build
from ftui.core.workspace.workspace import BuildConfig, SettingError, Workspace

# Formats a build can emit beside the chat files; "chat" is always written.
FORMATS = ("chat", "prompt-completion")


def build(
    ws: Workspace,
    clusters: Iterable[str] | None = None,
    *,
    formats: Iterable[str] = ("chat",),
    exclude_ids: Iterable[str] = (),
    **overrides: Any,
) -> Build:
    """Build the dataset for `clusters` (all failure clusters when None).

    `overrides` replace BuildConfig fields (anchor_ratio, heldout, seed, max_length, ...).
    `exclude_ids` are benchmark ids reserved for the final comparison: they never enter training.
    """
    known = {f for f in BuildConfig.__dataclass_fields__}
    bad = [k for k in overrides if k not in known]
    if bad:
        raise BuildError(f"unknown build option {', '.join(bad)}; options: {', '.join(sorted(known))}")
    try:
        opts = dataclasses.replace(ws.build, **{k: v for k, v in overrides.items() if v is not None})
    except SettingError as exc:
        raise BuildError(str(exc)) from None
    formats = sorted(set(formats) | {"chat"})
    for f in formats:
        if f not in FORMATS:
            raise BuildError(f"unknown build format {f!r}; one of {', '.join(FORMATS)}")
    clusters = list(clusters) if clusters else None

    rewards = opts.rewards or ws.train.method == "grpo"
    plan, targets = plan_build(ws, clusters, opts, set(map(str, exclude_ids)), rewards=rewards)
    train, valid, held = split_roles(
        plan.examples, opts.heldout, opts.validation, opts.seed, by_evidence=opts.split_by_evidence
    )
    train, held, moved = keep_prompts_on_one_side(train, held, ws)
    train, valid, moved_valid = keep_prompts_on_one_side(train, valid, ws)
    moved += moved_valid
    preserve, preserve_dropped = preserve_rows(plan.preserve, held)
    for part in (train, valid, held):
        part.sort(key=lambda ex: (ex.kind != "correction", ex.cluster, ex.item.id))

    # eval.jsonl holds the held-out (test) rows, validation.jsonl the rows training evaluates on.
    # A rewards build's failures without a correction have no answer to learn: GRPO files only.
    sft, dpo = build_files.method_files(build_files.SFT), build_files.method_files(build_files.DPO)
    files: dict[str, list[dict[str, Any]]] = {
        stem(name): [sft_row(ex, ws) for ex in part if ex.kind != "failure"]
        for name, part in zip(sft.names, (train, valid, held), strict=True)
    }
    if rewards:
        # GRPO trains on the failures only: the base already passes the anchors, so their groups
        # would mostly share one reward and teach nothing; they stay in validation and test.
        g_train, g_valid, g_held = map(stem, build_files.method_files(build_files.GRPO).names)
        files[g_train] = [grpo_row(ex, ws) for ex in train if ex.kind in ("correction", "failure")]
        files[g_valid] = [grpo_row(ex, ws) for ex in valid]
        files[g_held] = [grpo_row(ex, ws) for ex in held]
    if preserve:
        # A file of its own: exports and hosted uploads read train.jsonl, and these answers are wrong.
        files["preserve"] = [sft_row(ex, ws) for ex in preserve]
    if "prompt-completion" in formats:
        files["train_pc"] = [pc_row(ex, ws) for ex in train if ex.kind != "failure"]
        files["validation_pc"] = [pc_row(ex, ws) for ex in valid if ex.kind != "failure"]
        files["eval_pc"] = [pc_row(ex, ws) for ex in held if ex.kind != "failure"]
    dpo_dropped: list[dict[str, Any]] = []
    for name, part in zip(map(stem, dpo.names), (train, valid, held), strict=True):
        rows = []
        for ex in part:
            if ex.kind != "correction":
                continue  # anchors, preserved items and uncorrected failures have no preferred/rejected pair
            if normalise_ws(ex.target) == normalise_ws(ex.rejected or ""):
                dpo_dropped.append({"id": ex.item.id, "reason": "chosen_equals_rejected"})
                continue
            rows.append(dpo_row(ex, ws))
        files[name] = rows

    targeted = ("correction", "failure")
    for ex in train:
        if ex.kind in targeted:
            plan.per_cluster[ex.cluster]["train"] += 1
    for ex in held:
        if ex.kind in targeted:
            plan.per_cluster[ex.cluster]["eval"] += 1
    for ex in valid:
        if ex.kind in targeted:
            plan.per_cluster[ex.cluster]["validation"] += 1

    options = {
        "clusters": targets,
        "anchor_ratio": opts.anchor_ratio,
        "heldout": opts.heldout,
        "validation": opts.validation,
        "split_by_evidence": opts.split_by_evidence,
        "preserve": opts.preserve,
        "seed": opts.seed,
        "max_length": opts.max_length,
        "near_duplicate_threshold": opts.near_duplicate_threshold,
        "formats": formats,
        "exclude_ids": sorted(set(map(str, exclude_ids))),
        **({"rewards": True} if rewards else {}),
    }
    texts = {name: jsonl(rows) for name, rows in files.items()}
    digest = hashlib.sha256()
    digest.update(json.dumps(options, sort_keys=True).encode())
    digest.update(json.dumps(plan.discarded, sort_keys=True).encode())
    for name in sorted(texts):
        digest.update(f"\x00{name}\x00".encode())
        digest.update(texts[name].encode())
    content_hash = digest.hexdigest()
    build_id = content_hash[:12]

    n_train_corr = sum(ex.kind in targeted for ex in train)
    n_eval_corr = sum(ex.kind in targeted for ex in held)
    n_valid_corr = sum(ex.kind in targeted for ex in valid)
    counts = {
        "corrections": n_train_corr + n_valid_corr + n_eval_corr,
        "anchors": sum(ex.kind == "anchor" for ex in plan.examples),
        "train": len(train),
        "eval": len(held),
        "train_corrections": n_train_corr,
        "train_anchors": len(train) - n_train_corr,
        "preserve": len(preserve),
        "preserve_dropped_shared_evidence": len(preserve_dropped),
        "eval_corrections": n_eval_corr,
        "eval_anchors": len(held) - n_eval_corr,
        "validation": len(valid),
        "validation_corrections": n_valid_corr,
        "validation_anchors": len(valid) - n_valid_corr,
        "dpo_train": len(files["dpo_train"]),
        "dpo_validation": len(files["dpo_validation"]),
        "dpo_eval": len(files["dpo_eval"]),
        "dpo_dropped_identical": len(dpo_dropped),
        **({f"{name}": len(files[name]) for name in ("grpo_train", "grpo_validation", "grpo_eval")} if rewards else {}),
        "discarded": len(plan.discarded),
        "discarded_by_reason": _count_by(plan.discarded, "reason"),
        "benchmark_excluded": len(set(plan.benchmark_excluded)),
        "heldout_moved_same_prompt": len(moved),
    }
    manifest = {
        "schema": SCHEMA,
        "build_id": build_id,
        "hash": content_hash,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "workspace": str(ws.root),
        "target_clusters": targets,
        "options": options,
        "counts": counts,
        "per_cluster": plan.per_cluster,
        "train_ids": [ex.item.id for ex in train],
        # preserve.jsonl: trained on only by a run with train.anchor_kl > 0 (SFT or DPO).
        "preserve_ids": sorted(ex.item.id for ex in preserve),
        "preserve_dropped_ids": preserve_dropped,
        # Roles: eval_ids are held out to judge the run (the comparison grades them); validation_ids
        # choose its checkpoint (eval loss, early stopping, probes) and are never graded.
        "eval_ids": [ex.item.id for ex in held],
        "validation_ids": [ex.item.id for ex in valid],
        "anchor_ids": sorted(ex.item.id for ex in plan.examples if ex.kind == "anchor"),
        "dpo_ids": [r["id"] for r in files["dpo_train"]]
        + [r["id"] for r in files["dpo_validation"]]
        + [r["id"] for r in files["dpo_eval"]],
        "dpo_dropped": dpo_dropped,
        "discarded": plan.discarded,
        "benchmark_excluded_ids": sorted(set(plan.benchmark_excluded)),
        "run_log": plan.run_log,
        "files": {name: f"{name}.jsonl" for name in sorted(texts)},
    }
    return write_build(ws, build_id, texts, manifest)


def _count_by(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    out: dict[str, int] = {}
    for r in rows:
        out[r[key]] = out.get(r[key], 0) + 1
    return dict(sorted(out.items()))
