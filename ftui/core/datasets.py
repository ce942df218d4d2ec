"""The dataset builder: corrections + anchors -> a content-addressed build folder.

A build is the exact set of examples one training run sees. Its id is the hash of its content, so
rebuilding unchanged inputs lands in the same folder and a run can always name what it trained on.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ftui.core import fsutil
from ftui.core.errors import FtuiError
from ftui.core.prompts import messages_for, user_text, with_answer
from ftui.core.runlog import Item, load_run_log, read_items
from ftui.core.workspace import BuildConfig, Workspace

SCHEMA = 1
LATEST_FILE = "LATEST"

# Formats a build can emit beside the chat files; "chat" is always written.
FORMATS = ("chat", "prompt-completion")

# Discard reasons, as written to the manifest.
UNCORRECTED = "uncorrected"
SKIPPED = "skipped"
NEEDS_REVIEW = "needs_review"
STALE = "stale"
IN_BENCHMARK = "in_benchmark"
EMPTY_CORRECTION = "empty_correction"
NOT_IN_RUN_LOG = "not_in_run_log"
NOT_A_MODEL_FAILURE = "not_a_model_failure"


class BuildError(FtuiError):
    pass


@dataclass(frozen=True)
class Build:
    dir: Path
    manifest: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.manifest["build_id"])

    @property
    def train_path(self) -> Path:
        return self.dir / "train.jsonl"

    @property
    def eval_path(self) -> Path:
        return self.dir / "eval.jsonl"

    @property
    def validation_path(self) -> Path:
        return self.dir / "validation.jsonl"

    @property
    def dpo_train_path(self) -> Path:
        return self.dir / "dpo_train.jsonl"

    @property
    def dpo_eval_path(self) -> Path:
        return self.dir / "dpo_eval.jsonl"

    def rows(self, name: str) -> list[dict[str, Any]]:
        """Rows of one file of the build: "train", "eval", "dpo_train", "dpo_eval", "train_pc", ..."""
        path = self.dir / f"{name}.jsonl"
        return fsutil.read_jsonl(path) if path.exists() else []

    def summary_line(self) -> str:
        c = self.manifest["counts"]
        return (
            f"build {self.id}: {c['train']} train ({c['train_corrections']} corrections + "
            f"{c['train_anchors']} anchors), {c.get('validation', 0)} validation, {c['eval']} held out, "
            f"{c['dpo_train'] + c['dpo_eval'] + c.get('dpo_validation', 0)} DPO pairs, "
            f"{c['discarded']} discarded"
        )


@dataclass
class _Example:
    item: Item
    kind: str  # "correction" | "anchor"
    cluster: str  # failure label for corrections; the stratum for anchors
    target: str
    stratum: str  # the split's stratification key
    rejected: str | None = None  # the original answer, for DPO


@dataclass
class _Plan:
    examples: list[_Example] = field(default_factory=list)
    discarded: list[dict[str, Any]] = field(default_factory=list)
    benchmark_excluded: list[str] = field(default_factory=list)
    per_cluster: dict[str, Any] = field(default_factory=dict)
    run_log: dict[str, Any] = field(default_factory=dict)  # what the reader kept and skipped
    preserve: list[_Example] = field(default_factory=list)  # candidates, before the split filters them


# --- deterministic ordering -------------------------------------------------------------------


def _rank(seed: int, salt: str, item_id: str) -> str:
    # A seeded hash per id: the order depends only on (seed, id), never on the log's line order.
    return hashlib.sha256(f"{seed}\x00{salt}\x00{item_id}".encode()).hexdigest()


def _seeded(items: Iterable[Item], seed: int, salt: str) -> list[Item]:
    return sorted(items, key=lambda it: _rank(seed, salt, it.id))


# Quota keys: a cluster, or (cluster, length bucket) when an evaluation is trimmed by stratum.
_Key = TypeVar("_Key", str, tuple[str, str])


def _largest_remainder(quotas: dict[_Key, float], total: int, caps: dict[_Key, int]) -> dict[_Key, int]:
    """Integer shares summing to `total` (as far as caps allow), closest to the real quotas."""
    alloc = {k: min(caps[k], math.floor(q)) for k, q in quotas.items()}
    left = total - sum(alloc.values())
    order = sorted(quotas, key=lambda k: (-(quotas[k] - math.floor(quotas[k])), -caps[k], k))
    while left > 0:
        progressed = False
        for k in order:
            if left == 0:
                break
            if alloc[k] < caps[k]:
                alloc[k] += 1
                left -= 1
                progressed = True
        if not progressed:
            break
    return alloc


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


# --- anchors ----------------------------------------------------------------------------------


def length_bucket(question: str) -> str:
    n = len(question.split())
    if n < 12:
        return "short"
    if n < 40:
        return "medium"
    return "long"


def anchor_stratum(item: Item) -> str:
    """Labels first; then the question type; then question length, so every kind of item the
    model already handles keeps a few examples in training."""
    if item.label:
        return item.label
    if item.task:
        return f"task:{item.task}"
    return f"length:{length_bucket(item.question)}"


def select_anchors(passing: list[Item], n: int, seed: int) -> list[Item]:
    """`n` passing items spread across strata: one per stratum first, the rest in proportion."""
    if n <= 0 or not passing:
        return []
    n = min(n, len(passing))
    strata: dict[str, list[Item]] = defaultdict(list)
    for it in passing:
        strata[anchor_stratum(it)].append(it)
    for key in strata:
        strata[key] = _seeded(strata[key], seed, "anchor")
    keys = sorted(strata, key=lambda k: (-len(strata[k]), k))
    if n < len(keys):
        alloc = {k: (1 if i < n else 0) for i, k in enumerate(keys)}
    else:
        rest = n - len(keys)
        spare = {k: len(strata[k]) - 1 for k in keys}
        pool = sum(spare.values())
        quotas = {k: (rest * spare[k] / pool if pool else 0.0) for k in keys}
        extra = _largest_remainder(quotas, rest, spare)
        alloc = {k: 1 + extra[k] for k in keys}
    chosen: list[Item] = []
    for k in keys:
        chosen.extend(strata[k][: alloc[k]])
    return chosen


# --- held-out split ---------------------------------------------------------------------------

# A line this long (spaces not counted) is specific enough to say two snippets show the same code.
SHARED_LINE_MIN_CHARS = 24


def evidence_keys(item: Item) -> set[str]:
    """The evidence lines that tie an item to others: long, whitespace-normalised, no `# File:` headers."""
    keys = set()
    for line in (item.evidence_text or "").splitlines():
        norm = " ".join(line.split())
        if norm.startswith("# File:") or len(norm.replace(" ", "")) < SHARED_LINE_MIN_CHARS:
            continue
        keys.add(norm)
    return keys


def evidence_groups(examples: list[_Example]) -> list[list[_Example]]:
    """Examples joined (transitively) when their evidence shares a line: one group per connected set."""
    parent = list(range(len(examples)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_with: dict[str, int] = {}
    for i, ex in enumerate(examples):
        for key in evidence_keys(ex.item):
            j = first_with.setdefault(key, i)
            parent[find(i)] = find(j)
    groups: dict[int, list[_Example]] = defaultdict(list)
    for i, ex in enumerate(examples):
        groups[find(i)].append(ex)
    return list(groups.values())


def split_heldout(
    examples: list[_Example], heldout: float, seed: int, by_evidence: bool = False, salt: str = "split"
) -> tuple[list[_Example], list[_Example]]:
    """Stratified, seeded split; each stratum keeps at least one training example.

    With `by_evidence`, examples whose evidence shares code go to the same side, whole groups at a
    time, each group held out only while it fits every stratum's quota (so the held-out share can
    come out a little smaller): a held-out item then never has its snippet in training. Otherwise the comparison would measure recall of a seen snippet, and a correction
    trained on one question about a function would be measured against another question about it
    (a locate target `remove_stock` turning "which exception does `remove_stock` raise?" into an
    answer about `remove_stock`).
    """
    strata: dict[str, list[_Example]] = defaultdict(list)
    for ex in examples:
        strata[ex.stratum].append(ex)
    total = _round_half_up(heldout * len(examples)) if heldout > 0 else 0
    quotas = {k: heldout * len(v) for k, v in strata.items()}
    caps = {k: max(0, len(v) - 1) for k, v in strata.items()}
    alloc = _largest_remainder(quotas, total, caps)
    if not by_evidence:
        train, held = [], []
        for key in sorted(strata):
            ordered = sorted(strata[key], key=lambda ex: _rank(seed, salt, ex.item.id))
            k = alloc[key]
            held.extend(ordered[:k])
            train.extend(ordered[k:])
        return train, held
    groups = evidence_groups(examples)
    groups.sort(key=lambda g: min(_rank(seed, salt, ex.item.id) for ex in g))
    room = dict(alloc)
    train, held = [], []
    for group in groups:
        need: dict[str, int] = defaultdict(int)
        for ex in group:
            need[ex.stratum] += 1
        fits = all(need[k] <= room[k] for k in need)
        if fits:
            for stratum, count in need.items():
                room[stratum] -= count
        (held if fits else train).extend(group)
    return train, held


def split_roles(
    examples: list[_Example], heldout: float, validation: float, seed: int, by_evidence: bool = False
) -> tuple[list[_Example], list[_Example], list[_Example]]:
    """(train, validation, test): test items judge the run, validation items choose its checkpoint.

    The test split is taken first, exactly as a two-way split would take it; validation then comes
    out of the training side (`validation` is a share of all examples), with the same stratification
    and evidence grouping, so no validation item shares a snippet with training either. The rule for
    small strata follows from the order: every stratum keeps at least one training item and test is
    filled before validation, so a stratum needs 3 items to reach all three roles (with 2 it gives
    one to training and, when its quota rounds up, one to test). A build with no validation item
    trains to max_steps and keeps its final weights: nothing it will be judged on chooses for it.
    """
    train, test = split_heldout(examples, heldout, seed, by_evidence=by_evidence)
    if validation <= 0 or not train:
        return train, [], test
    share = min(0.99, validation / max(1e-9, 1.0 - heldout))
    train, valid = split_heldout(train, share, seed, by_evidence=by_evidence, salt="validation")
    return train, valid, test


def _keep_prompts_on_one_side(
    train: list[_Example], held: list[_Example], ws: Workspace
) -> tuple[list[_Example], list[_Example], list[str]]:
    """Two ids with the same prompt (a question logged twice) must not straddle the split, or the
    held-out loss measures memory: such held-out examples join their twin in training."""
    seen = {_normalise_ws(user_text(ex.item, ws.prompt)) for ex in train}
    keep: list[_Example] = []
    moved: list[_Example] = []
    for ex in held:
        (moved if _normalise_ws(user_text(ex.item, ws.prompt)) in seen else keep).append(ex)
    return train + moved, keep, [ex.item.id for ex in moved]


# --- planning ---------------------------------------------------------------------------------


def _normalise_ws(text: str) -> str:
    return " ".join(text.split())


def _benchmark_items(ws: Workspace) -> list[Item]:
    if ws.benchmark is None or ws.benchmark == ws.run_log:
        return []
    return read_items(ws.benchmark, ws.fields, ws.rule).items


def _plan(
    ws: Workspace, clusters: list[str] | None, opts: BuildConfig, exclude_ids: set[str]
) -> tuple[_Plan, list[str]]:
    from ftui.core import clusters as clusters_mod
    from ftui.core.corrections import CorrectionStore

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
    bench_prompts = {_normalise_ws(user_text(it, ws.prompt)) for it in bench}

    def in_benchmark(item: Item) -> bool:
        return item.id in bench_ids or _normalise_ws(user_text(item, ws.prompt)) in bench_prompts

    plan = _Plan(run_log=log.summary)
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
            if reason:
                plan.discarded.append({"id": item.id, "cluster": label, "reason": reason})
                stats["discarded"] += 1
                continue
            stats["corrected"] += 1
            assert corr is not None  # every path without a correction set a reason above
            plan.examples.append(
                _Example(item, "correction", label, corr.output, f"cluster:{label}", rejected=item.answer)
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
    anchors = select_anchors(passing, _round_half_up(opts.anchor_ratio * n_corr), opts.seed)
    for it in anchors:
        stratum = anchor_stratum(it)
        plan.examples.append(_Example(it, "anchor", stratum, it.answer, f"anchor:{stratum}"))
    if opts.preserve:
        for c in report.clusters:
            if c.label in targets:
                continue
            for it in sorted(c.items, key=lambda it: it.id):
                if it.id not in seen and not in_benchmark(it) and it.answer.strip():
                    seen.add(it.id)
                    plan.preserve.append(_Example(it, "preserve", c.label, it.answer, f"preserve:{c.label}"))
    return plan, targets


def _preserve_rows(plan: _Plan, held: list[_Example]) -> tuple[list[_Example], list[str]]:
    """The other clusters' failures, kept as they are: the trainer holds their answers to the base
    model's distribution (KL only, no cross-entropy: they are wrong answers, not targets). One whose
    evidence shares code with a held-out item is left out, so no held-out item has its snippet in
    training in any form."""
    held_keys = set().union(*(evidence_keys(ex.item) for ex in held)) if held else set()
    keep: list[_Example] = []
    dropped: list[_Example] = []
    for ex in plan.preserve:
        (dropped if evidence_keys(ex.item) & held_keys else keep).append(ex)
    return keep, [ex.item.id for ex in dropped]


# --- rows -------------------------------------------------------------------------------------


def _sft_row(ex: _Example, ws: Workspace) -> dict[str, Any]:
    return {
        "id": ex.item.id,
        "cluster": ex.cluster,
        "kind": ex.kind,
        "messages": with_answer(messages_for(ex.item, ws.prompt), ex.target),
    }


def _pc_row(ex: _Example, ws: Workspace) -> dict[str, Any]:
    # TRL's conversational prompt/completion: the loss covers only the completion.
    return {
        "id": ex.item.id,
        "cluster": ex.cluster,
        "kind": ex.kind,
        "prompt": messages_for(ex.item, ws.prompt),
        "completion": [{"role": "assistant", "content": ex.target}],
    }


def _dpo_row(ex: _Example, ws: Workspace) -> dict[str, Any]:
    return {
        "id": ex.item.id,
        "cluster": ex.cluster,
        "prompt": messages_for(ex.item, ws.prompt),
        "chosen": [{"role": "assistant", "content": ex.target}],
        "rejected": [{"role": "assistant", "content": ex.rejected or ""}],
    }


def _jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)


# --- public API -------------------------------------------------------------------------------


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
    values = {k: getattr(ws.build, k) for k in known}
    values.update({k: v for k, v in overrides.items() if v is not None})
    opts = BuildConfig(**values)
    if not 0 <= opts.heldout < 1:
        raise BuildError(f"heldout must be in [0, 1), not {opts.heldout}")
    if opts.anchor_ratio < 0:
        raise BuildError(f"anchor_ratio must be >= 0, not {opts.anchor_ratio}")
    formats = sorted(set(formats) | {"chat"})
    for f in formats:
        if f not in FORMATS:
            raise BuildError(f"unknown build format {f!r}; one of {', '.join(FORMATS)}")
    clusters = list(clusters) if clusters else None

    plan, targets = _plan(ws, clusters, opts, set(map(str, exclude_ids)))
    train, valid, held = split_roles(
        plan.examples, opts.heldout, opts.validation, opts.seed, by_evidence=opts.split_by_evidence
    )
    train, held, moved = _keep_prompts_on_one_side(train, held, ws)
    train, valid, moved_valid = _keep_prompts_on_one_side(train, valid, ws)
    moved += moved_valid
    preserve, preserve_dropped = _preserve_rows(plan, held)
    for part in (train, valid, held):
        part.sort(key=lambda ex: (ex.kind != "correction", ex.cluster, ex.item.id))

    # eval.jsonl holds the held-out (test) rows, validation.jsonl the rows training evaluates on.
    files: dict[str, list[dict[str, Any]]] = {
        "train": [_sft_row(ex, ws) for ex in train],
        "validation": [_sft_row(ex, ws) for ex in valid],
        "eval": [_sft_row(ex, ws) for ex in held],
    }
    if preserve:
        # A file of its own: exports and hosted uploads read train.jsonl, and these answers are wrong.
        files["preserve"] = [_sft_row(ex, ws) for ex in preserve]
    if "prompt-completion" in formats:
        files["train_pc"] = [_pc_row(ex, ws) for ex in train]
        files["validation_pc"] = [_pc_row(ex, ws) for ex in valid]
        files["eval_pc"] = [_pc_row(ex, ws) for ex in held]
    dpo_dropped: list[dict[str, Any]] = []
    for name, part in (("dpo_train", train), ("dpo_validation", valid), ("dpo_eval", held)):
        rows = []
        for ex in part:
            if ex.kind != "correction":
                continue  # anchors and preserved items have no preferred/rejected pair
            if _normalise_ws(ex.target) == _normalise_ws(ex.rejected or ""):
                dpo_dropped.append({"id": ex.item.id, "reason": "chosen_equals_rejected"})
                continue
            rows.append(_dpo_row(ex, ws))
        files[name] = rows

    for ex in train:
        if ex.kind == "correction":
            plan.per_cluster[ex.cluster]["train"] += 1
    for ex in held:
        if ex.kind == "correction":
            plan.per_cluster[ex.cluster]["eval"] += 1
    for ex in valid:
        if ex.kind == "correction":
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
    }
    texts = {name: _jsonl(rows) for name, rows in files.items()}
    digest = hashlib.sha256()
    digest.update(json.dumps(options, sort_keys=True).encode())
    digest.update(json.dumps(plan.discarded, sort_keys=True).encode())
    for name in sorted(texts):
        digest.update(f"\x00{name}\x00".encode())
        digest.update(texts[name].encode())
    content_hash = digest.hexdigest()
    build_id = content_hash[:12]

    n_train_corr = sum(ex.kind == "correction" for ex in train)
    n_eval_corr = sum(ex.kind == "correction" for ex in held)
    n_valid_corr = sum(ex.kind == "correction" for ex in valid)
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
    return _write(ws, build_id, texts, manifest)


def _count_by(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    out: dict[str, int] = {}
    for r in rows:
        out[r[key]] = out.get(r[key], 0) + 1
    return dict(sorted(out.items()))


def _write(ws: Workspace, build_id: str, texts: dict[str, str], manifest: dict[str, Any]) -> Build:
    root = ws.state.builds
    root.mkdir(parents=True, exist_ok=True)
    final = root / build_id
    if not (final / "manifest.json").exists():
        tmp = Path(tempfile.mkdtemp(prefix=f".{build_id}.", dir=root))
        try:
            for name, text in texts.items():
                fsutil.atomic_write_text(tmp / f"{name}.jsonl", text)
            fsutil.atomic_write_json(tmp / "manifest.json", manifest)
            try:
                os.rename(tmp, final)
            except OSError:
                # Another process finished the same build first; its content is identical.
                if not (final / "manifest.json").exists():
                    raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    fsutil.atomic_write_text(root / LATEST_FILE, build_id + "\n")
    return load_build(ws, build_id)


def list_builds(ws: Workspace) -> list[Build]:
    """Every complete build, newest first."""
    root = ws.state.builds
    if not root.is_dir():
        return []
    out = []
    for d in root.iterdir():
        if d.name.startswith(".") or not d.is_dir():
            continue
        try:
            out.append(Build(d, json.loads((d / "manifest.json").read_text(encoding="utf-8"))))
        except (OSError, ValueError):
            continue
    out.sort(key=lambda b: (b.manifest.get("created", ""), b.dir.stat().st_mtime), reverse=True)
    return out


def load_build(ws: Workspace, build_id: str | None = None) -> Build:
    """A build by id (a unique prefix is enough), or the latest one when `build_id` is None."""
    root = ws.state.builds
    if build_id is None:
        latest = root / LATEST_FILE
        if latest.exists():
            build_id = latest.read_text(encoding="utf-8").strip()
        else:
            builds = list_builds(ws)
            if not builds:
                raise BuildError(f"{root}: no builds yet (run `ftui build`)")
            return builds[0]
    d = root / build_id
    if not (d / "manifest.json").exists():
        matches = [b for b in list_builds(ws) if b.dir.name.startswith(build_id)] if build_id else []
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise BuildError(f"build id {build_id!r} is ambiguous: {', '.join(b.dir.name for b in matches)}")
        raise BuildError(f"{root}: no build {build_id!r}")
    try:
        manifest = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    except ValueError as exc:
        raise BuildError(f"{d / 'manifest.json'}:{getattr(exc, 'lineno', 1)}: unreadable manifest ({exc})") from None
    return Build(d, manifest)


def resolve_build_path(path: Path | str) -> Build | None:
    """A folder that holds a manifest.json is a build, wherever it lives."""
    p = Path(path)
    m = p / "manifest.json"
    if p.is_dir() and m.exists():
        try:
            return Build(p, json.loads(m.read_text(encoding="utf-8")))
        except ValueError:
            return None
    return None
