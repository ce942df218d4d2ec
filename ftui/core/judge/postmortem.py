"""The fine-tuning postmortem: the seed's five questions answered from the run's own files.

Every figure comes from the build manifest, the run's events and the evaluation report, so the
document can be regenerated and checked; the judgement calls are left to the reader, with the
evidence laid out next to them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftui.core.base.events import read_events
from ftui.core.base.formatting import clip, duration, num, pct, plural, pts
from ftui.core.base.fsutil import atomic_write_text
from ftui.core.judge.compare import shared_traits
from ftui.core.judge.evalrun import PASSING, RETRIEVAL_MISS, preserves, read_manifest, read_report
from ftui.core.judge.verdict import drop_text, settles
from ftui.core.logs.passrule import show_grade
from ftui.core.runs.runs import read_run_config

if TYPE_CHECKING:
    from ftui.core.workspace.workspace import Workspace

NAME = "postmortem.md"
TRAIN_KEYS = (
    "method",
    "model",
    "learning_rate",
    "max_steps",
    "epochs",
    "batch_size",
    "grad_accum",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "target_modules",
    "qlora",
    "beta",
    "rpo_alpha",
    "anchor_kl",
    "max_length",
    "seed",
    "device",
    "dtype",
)
# Settings only a GRPO run reads: listed for GRPO runs alone.
GRPO_KEYS = ("num_generations", "max_completion_length", "temperature", "kl_beta", "reward_terms")


def loss_summary(run_dir: Path | str) -> dict[str, Any]:
    evs, _ = read_events(Path(run_dir) / "events.jsonl")
    out: dict[str, Any] = {
        "steps": None,
        "first_loss": None,
        "last_loss": None,
        "best_eval_loss": None,
        "best_step": None,
        "evals": 0,
        "early_stopped": False,
        "runtime_s": None,
        "state": None,
        "rewards": [],
        "warnings": [],
    }
    for ev in evs:
        kind = ev["type"]
        if kind == "warning":
            out["warnings"].append(ev.get("message"))
        if kind == "log":
            if isinstance(ev.get("reward"), (int, float)):
                out["rewards"].append((ev.get("step"), ev["reward"], ev.get("frac_reward_zero_std")))
            if out["first_loss"] is None:
                out["first_loss"] = ev.get("loss")
            out["last_loss"], out["steps"] = ev.get("loss"), ev.get("step")
        elif kind == "eval":
            out["evals"] += 1
            loss = ev.get("eval_loss")
            if isinstance(loss, (int, float)) and (out["best_eval_loss"] is None or loss < out["best_eval_loss"]):
                out["best_eval_loss"], out["best_step"] = loss, ev.get("step")
        elif kind == "early_stop":
            out["early_stopped"] = True
        elif kind in ("finished", "failed", "cancelled"):
            out["state"] = kind
            if kind == "finished":
                if ev.get("best_eval_loss") is not None:
                    out["best_eval_loss"], out["best_step"] = ev["best_eval_loss"], ev.get("best_step")
                out["runtime_s"] = ev.get("total_runtime_s", ev.get("runtime_s"))
    return out


def _benchmark_counts(ws: Workspace | None, target: str | None) -> tuple[int | None, int | None, int | None]:
    """(failures of the cluster in the run log, of them in the benchmark, benchmark size)."""
    if ws is None:
        return None, None, None
    from ftui.core.curate.clusters import is_model_failure, label_of, load_overlay
    from ftui.core.logs.runlog import load_benchmark, load_run_log

    log = load_run_log(ws)
    bench = load_benchmark(ws) if ws.benchmark else log
    # The cluster is the model's failures only: a retrieval miss with the same label is not in it.
    overlay = load_overlay(ws)
    in_log = sum(
        1 for it in log.items if label_of(it, overlay) == target and is_model_failure(ws, it, log.has_retrieval)
    )
    in_bench = sum(
        1 for it in bench.items if label_of(it, overlay) == target and is_model_failure(ws, it, bench.has_retrieval)
    )
    return in_log, in_bench, len(bench.items)


@dataclass(frozen=True)
class Evidence:
    """Everything the postmortem reads: the run's config, its build manifest, its loss curve and
    its evaluation report, with the slices of the report each question looks at."""

    run_dir: Path
    config: dict[str, Any]
    report: dict[str, Any]
    manifest: dict[str, Any]
    loss: dict[str, Any]
    ws: Workspace | None
    # Size of the targeted cluster: failures in the run log, of them in the benchmark, benchmark size.
    in_log: int | None
    in_bench: int | None
    bench_size: int | None

    @classmethod
    def read(cls, run_dir: Path, ws: Workspace | None) -> Evidence:
        config = read_run_config(run_dir)
        report = read_report(run_dir)
        manifest = read_manifest(config["build_dir"]) if config.get("build_dir") else {}
        in_log, in_bench, bench_size = _benchmark_counts(ws, report.get("targeted_cluster"))
        if in_log is None:
            in_log = ((manifest.get("per_cluster") or {}).get(report.get("targeted_cluster")) or {}).get("items")
            bench_size = report.get("benchmark_size")
        return cls(run_dir, config, report, manifest, loss_summary(run_dir), ws, in_log, in_bench, bench_size)

    @property
    def target(self) -> str | None:
        return self.report.get("targeted_cluster")

    @property
    def targeted(self) -> dict[str, Any]:
        return dict(self.report["targeted"])

    @property
    def verdict(self) -> dict[str, Any]:
        return dict(self.report["verdict"])

    @property
    def items(self) -> list[dict[str, Any]]:
        return list(self.report["items"])

    @property
    def per_cluster(self) -> dict[str, Any]:
        """The build's figures for the targeted cluster."""
        return dict((self.manifest.get("per_cluster") or {}).get(self.target) or {})

    @property
    def counts(self) -> dict[str, Any]:
        return dict(self.manifest.get("counts") or {})


def build_postmortem(run_dir: Path | str, ws: Workspace | None = None) -> str:
    evidence = Evidence.read(Path(run_dir), ws)
    sections = (
        _header,
        _targeted_cluster,
        _training_data,
        _improvement,
        _regressions,
        _right_rung,
        _run_details,
    )
    lines: list[str] = []
    for section in sections:
        lines.extend(section(evidence))
    return "\n".join(lines) + "\n"


def _header(e: Evidence) -> list[str]:
    cfg, verdict = e.config, e.verdict
    return [
        f"# Fine-tuning postmortem: {cfg.get('run_id', e.run_dir.name)}",
        "",
        f"Model `{cfg.get('model')}` · method {str(cfg.get('method', '?')).upper()} · build `{cfg.get('build_id')}` · "
        f"verdict **{verdict['verdict'].replace('_', ' ')}** "
        f"(ship gate {'open' if verdict['ship_gate']['open'] else 'blocked'})",
        "",
    ]


def _targeted_cluster(e: Evidence) -> list[str]:
    """1. What failure cluster did we target?"""
    lines = ["## 1. What failure cluster did we target?", ""]
    size = f"{e.in_log} failures" if e.in_log is not None else "size unknown"
    if e.in_bench is not None and e.bench_size:
        size += f", {e.in_bench} of {e.bench_size} benchmark questions"
    elif e.bench_size:
        size += f", benchmark of {e.bench_size} questions"
    lines.append(f"`{e.target}`: {size}.")
    lines.append(
        f"After excluding the {len(e.report.get('excluded_ids') or [])} items used for training, "
        f"{e.targeted['total']} items of the cluster were evaluated ({e.report['overall']['total']} items in all)."
    )
    others = [c for c in (e.manifest.get("target_clusters") or []) if c != e.target]
    if others:
        lines.append(f"The build also held corrections for: {', '.join(f'`{c}`' for c in others)}.")
    lines.append("")
    return lines


def _training_data(e: Evidence) -> list[str]:
    """2. How many training examples did we use, and how many did we discard?"""
    lines = ["## 2. How many training examples did we use, and how many did we discard?", ""]
    counts, per = e.counts, e.per_cluster
    if not counts:
        return [*lines, "The build manifest is not available; training data counts are unknown.", ""]
    n_preserved = counts.get("preserve", 0) if preserves(e.config) else 0
    n_train = counts.get("train", 0) + n_preserved
    kept = f", {n_preserved} other clusters' failures kept as the base answers them (KL only)" if n_preserved else ""
    lines.append(
        f"Used {plural(n_train, 'training example')} ({plural(counts.get('train_corrections', 0), 'correction')}, "
        f"{plural(counts.get('train_anchors', 0), 'anchor')}{kept}) and "
        + (
            f"kept {counts['validation']} apart to choose the checkpoint "
            f"({plural(counts.get('validation_corrections', 0), 'correction')}, "
            f"{plural(counts.get('validation_anchors', 0), 'anchor')}) and held out {counts.get('eval', 0)} to judge it "
            if "validation" in counts
            else f"held out {counts.get('eval', 0)} for the eval loss "
        )
        + f"({plural(counts.get('eval_corrections', 0), 'correction')}, {plural(counts.get('eval_anchors', 0), 'anchor')})."
    )
    if per:
        valid = f"{per['validation']} validation, " if "validation" in per else ""
        lines.append(
            f"From `{e.target}`: {per.get('corrected', 0)} of {per.get('items', 0)} failures became examples "
            f"({per.get('train', 0)} train, {valid}{per.get('eval', 0)} held out)."
        )
    lines.extend(_roles_lines(e.report.get("roles")))
    lines.extend(_drafted_lines(e))
    n_discarded = counts.get("discarded", len(e.manifest.get("discarded") or []))
    reasons = counts.get("discarded_by_reason") or dict(Counter(d["reason"] for d in e.manifest.get("discarded") or []))
    why = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1]))
    lines.append(f"Discarded {n_discarded}" + (f": {why}." if why else "."))
    if counts.get("dpo_train"):
        lines.append(f"Preference pairs: {counts.get('dpo_train')} train, {counts.get('dpo_eval', 0)} eval.")
    if e.config.get("method") == "grpo":
        lines.append(
            f"GRPO: {plural(counts.get('grpo_train', 0), 'prompt')} of the targeted clusters' failures, no corrections "
            "needed: each answer sampled during training was rewarded by its item's own grader, the one this "
            "comparison grades with."
        )
    lines.append("")
    return lines


def _reward_line(loss: dict[str, Any]) -> list[str]:
    """GRPO: the mean reward at the start and the end of the run (5 logged steps each), and warnings."""
    rewards = loss.get("rewards") or []
    if not rewards:
        return []
    head, tail = rewards[:5], rewards[-5:]

    def mean(part: list[tuple[Any, ...]], i: int) -> float | None:
        vals = [p[i] for p in part if isinstance(p[i], (int, float))]
        return sum(vals) / len(vals) if vals else None

    out = [
        f"- Reward (mean of the first and last {len(tail)} logged steps): {num(mean(head, 1), '.3f')} → "
        f"{num(mean(tail, 1), '.3f')}; groups without signal {pct(mean(head, 2))} → {pct(mean(tail, 2))}"
    ]
    out += [f"- Warning during training: {w}" for w in loss.get("warnings") or []]
    return out


def _drafted_lines(e: Evidence) -> list[str]:
    """How many of the build's corrections a teacher drafted (only the workspace knows)."""
    if e.ws is None:
        return []
    from ftui.core.curate.drafts.decisions import provenance

    manifest = e.manifest
    ids = [*manifest.get("train_ids", []), *manifest.get("validation_ids", []), *manifest.get("eval_ids", [])]
    origin = provenance(e.ws, ids)
    if not origin["drafted"]:
        return []
    who = ", ".join(f"`{name}` ({n})" for name, n in sorted(origin["teachers"].items()))
    return [
        f"{plural(origin['drafted'], 'correction')} drafted by a teacher ({who}): "
        f"{origin['accepted_as_drafted']} accepted as drafted, {origin['edited']} edited by a person."
    ]


def _improvement(e: Evidence) -> list[str]:
    """3. Did the cluster improve? By how much?"""
    lines = ["## 3. Did the cluster improve? By how much?", ""]
    targeted = e.targeted
    if targeted["total"]:
        # "Not settled" when the items are too few for either answer (the verdict's own rule).
        answer = {"better": "Yes", "unsettled": "Not settled"}.get(settles(targeted), "No")
        lines.append(
            f"{answer}: `{e.target}` passed {targeted['base_passed']}/{targeted['total']} "
            f"({pct(targeted['base_rate'])}) with the base model and "
            f"{targeted['tuned_passed']}/{targeted['total']} ({pct(targeted['tuned_rate'])}) fine-tuned, "
            f"{pts(targeted['change'])} "
            f"({targeted['buckets']['fixed']} fixed, {targeted['buckets']['still_failing']} still failing; "
            f"exact McNemar p = {targeted['mcnemar_p']:.3g})."
        )
    else:
        lines.append(f"Unknown: no item of `{e.target}` was left in the benchmark after excluding the training items.")
    lines.append("")
    return lines


def _regressions(e: Evidence) -> list[str]:
    """4. Did anything regress? What do the regressions share?"""
    lines = ["## 4. Did anything regress? What do the regressions share?", ""]
    items, report = e.items, e.report
    base_passed = report["overall"]["base_passed"]
    regressed = [it for it in items if it["bucket"] == "regressed"]
    if not regressed:
        return [
            *lines,
            f"No: none of the {base_passed} items the base model passed failed after fine-tuning.",
            "",
            *_forgetting_lines(report.get("forgetting")),
        ]
    lines.append(
        f"Yes: {len(regressed)} of the {base_passed} items the base model passed now fail: "
        f"{', '.join(it['id'] + (' (flaky)' if it.get('flaky') else '') for it in regressed)}."
    )
    n_flaky = sum(bool(it.get("flaky")) for it in regressed)
    if n_flaky:
        ignored = (report.get("flaky") or {}).get("ignored_by_gate")
        lines.append(
            f"{n_flaky} of them {'is' if n_flaky == 1 else 'are'} flaky: the base's pass did not hold every time "
            f"it was re-asked with sampling ({(report.get('flaky_check') or {}).get('k', '?')} times). "
            + ("The ship gate ignores them." if ignored else "They still count against the gate.")
        )
    traits = shared_traits(regressed)
    bench_words = sum(len((it["question"] or "").split()) for it in items) / max(1, len(items))
    lines += [
        "",
        f"- Clusters: {', '.join(f'{c} ({n})' for c, n in traits['clusters'])}",
        f"- Graders: {', '.join(f'{g} ({n})' for g, n in traits['graders'])}",
        f"- Task types: {', '.join(f'{k} ({n})' for k, n in traits['tasks'])}",
        f"- Question length: {traits['mean_question_words']:.0f} words on average (benchmark: {bench_words:.0f})",
        f"- Answer length: {traits['mean_base_answer_words']:.0f} words before, "
        f"{traits['mean_tuned_answer_words']:.0f} after",
        "",
    ]
    logged = any(it.get("logged_grade") is not None for it in regressed)
    lines.append("| id | cluster |" + (" logged grade |" if logged else "") + " base grade | fine-tuned grade |")
    lines.append("|---|---|" + ("---|" if logged else "") + "---|---|")
    for it in regressed[:20]:
        logged_cell = f" {show_grade(it.get('logged_grade'))} |" if logged else ""
        lines.append(
            f"| {it['id']} | {it['cluster']} |{logged_cell} {_cell(it['base_grade']['reason'])} | "
            f"{_cell(it['tuned_grade']['reason'])} |"
        )
    lines.append("")
    return lines + _forgetting_lines(report.get("forgetting"))


def _right_rung(e: Evidence) -> list[str]:
    """5. Was fine-tuning the right rung? The evidence, laid out for the reader's judgement."""
    lines = ["## 5. Was fine-tuning the right rung?", "", "Evidence:", ""]
    targeted, report, target, verdict = e.targeted, e.report, e.target, e.verdict
    if targeted["total"]:
        lines.append(
            f"- Under evaluation conditions the base model already passed {targeted['base_passed']} of "
            f"{targeted['total']} `{target}` items"
            + (
                " — those failures may depend on the logged context (prompt, retrieval) rather than the weights."
                if targeted["base_passed"]
                else "."
            )
        )
    n_corrected = e.per_cluster.get("corrected", e.counts.get("corrections"))
    if n_corrected is not None:
        lines.append(
            f"- The fix was learned from {n_corrected} corrected examples of the cluster"
            + (" (a small set: gains may not generalise)." if n_corrected < 20 else ".")
        )
    if targeted["total"]:
        significance = "significant" if targeted["mcnemar_p"] < 0.05 else "not significant"
        lines.append(
            f"- Cluster change: {targeted['buckets']['fixed']} fixed vs {targeted['buckets']['regressed']} broken, "
            f"exact McNemar p = {targeted['mcnemar_p']:.3g} ({significance} at 0.05 on {targeted['total']} items)."
        )
    lines.append(
        f"- Whole benchmark: {report['buckets']['fixed']} fixed vs {report['buckets']['regressed']} regressed, "
        f"p = {report['mcnemar']['p_value']:.3g}."
    )
    misses = sum(1 for it in e.items if it["cluster"] == RETRIEVAL_MISS)
    if misses:
        lines.append(
            f"- {plural(misses, 'evaluated item')} {'was a retrieval miss' if misses == 1 else 'were retrieval misses'} "
            "in the run log: weights cannot fix missing evidence."
        )
    still = targeted["buckets"]["still_failing"] if targeted["total"] else 0
    if still:
        lines.append(
            f"- {still} `{target}` {'item still fails' if still == 1 else 'items still fail'} after fine-tuning; "
            "read their answers before adding more data."
        )
    lines.append(_prompt_rung_line(e))
    if targeted["total"] and "ci" in targeted:
        low, high = targeted["ci"]
        detectable = targeted.get("detectable_change")
        lines.append(
            f"- Cluster change {pts(targeted['change'])}, 95% CI {pts(low)} to {pts(high)} (Newcombe, paired), "
            f"mid-p McNemar p = {targeted['mid_p']:.3g}; with {targeted['total']} items the smallest change that "
            "could show is " + (f"{100 * detectable:.0f} points." if detectable else "none (too few items).")
        )
    lines.append(f"- Verdict from the decision table: {verdict['headline']}")
    lines.extend(f"  - {advice}" for advice in verdict.get("advice") or [])
    lines.append("")
    return lines


def _prompt_rung_line(e: Evidence) -> str:
    """The few-shot arm against the fine-tune, when the evaluation tried it."""
    fewshot = e.report.get("fewshot")
    if not (fewshot and fewshot["targeted"]["total"]):
        return (
            "- The prompt rung was not tried (set `eval.fewshot_k` to evaluate few-shot examples beside the fine-tune)."
        )
    shots, targeted, broken = fewshot["targeted"], e.targeted, fewshot["regressions"]
    if e.verdict["verdict"] == "not_needed":
        conclusion = ": fine-tuning was not needed."
    elif shots["tuned_passed"] < targeted["tuned_passed"] or broken:
        conclusion = ": the fine-tune does better."
    else:
        conclusion = "."
    return (
        f"- The prompt rung, tried: the base model given {fewshot.get('k')} of the cluster's corrections as examples "
        f"passed {shots['tuned_passed']}/{shots['total']} `{e.target}` items "
        f"(fine-tuned: {targeted['tuned_passed']}/{targeted['total']}) "
        f"and broke {len(broken)} item{'s' if len(broken) != 1 else ''} the base passed"
        + (f" ({', '.join(broken[:8])})" if broken else "")
        + conclusion
    )


def _run_details(e: Evidence) -> list[str]:
    """The appendix: dataset hash, training settings, loss curve and the three slices."""
    cfg, loss, report, target = e.config, e.loss, e.report, e.target
    lines = [
        "## Run details",
        "",
        f"- Dataset hash: `{e.manifest.get('hash') or report.get('dataset_hash') or 'unknown'}`",
        "- Training config: "
        + ", ".join(
            f"{k}={cfg[k]}"
            for k in TRAIN_KEYS + (GRPO_KEYS if cfg.get("method") == "grpo" else ())
            if cfg.get(k) is not None
        ),
        f"- Loss: best eval loss {num(loss['best_eval_loss'])} at step {num(loss['best_step'], '')}; "
        f"train loss {num(loss['first_loss'])} → {num(loss['last_loss'])} over {num(loss['steps'], '')} steps"
        + (" (early stopped)" if loss["early_stopped"] else "")
        + (f"; trained in {duration(loss['runtime_s'])}" if loss.get("runtime_s") else ""),
        *_reward_line(loss),
        "",
        "| slice | items | base | fine-tuned | change |",
        "|---|---|---|---|---|",
    ]
    slices = ((f"targeted ({target})", e.targeted), ("rest of benchmark", report["rest"]), ("all", report["overall"]))
    for name, part in slices:
        lines.append(
            f"| {name} | {part['total']} | {part['base_passed']} ({pct(part['base_rate'])}) | "
            f"{part['tuned_passed']} ({pct(part['tuned_rate'])}) | {pts(part['change'])} |"
        )
    passing = sum(1 for it in e.items if it["cluster"] == PASSING)
    buckets = report["buckets"]
    lines += [
        "",
        f"Buckets: {buckets['fixed']} fixed, {buckets['regressed']} regressed, "
        f"{buckets['still_failing']} still failing, {buckets['still_passing']} still passing "
        f"({passing} items were passing in the run log).",
    ]
    return lines


def _forgetting_lines(fg: dict[str, Any] | None) -> list[str]:
    """Question 4 beyond the benchmark: the general tasks of the forgetting check."""
    if not fg:
        return [
            "Beyond the benchmark: not checked (set `eval.forgetting` and run `ftui forgetting RUN` to measure "
            "general tasks base vs fine-tuned).",
            "",
        ]
    rows = fg.get("tasks") or []
    flagged = [r for r in rows if r.get("flagged")]
    limit = f", at most {fg['limit']} documents each" if fg.get("limit") else ""
    head = f"Beyond the benchmark: {len(rows)} general task(s) through lm-evaluation-harness{limit}; "
    if flagged:
        head += f"{len(flagged)} dropped by more than {100 * float(fg.get('max_drop') or 0):.0f} points: " + ", ".join(
            drop_text(r) for r in flagged
        )
    else:
        head += f"none dropped by more than {100 * float(fg.get('max_drop') or 0):.0f} points"
    out = [
        head + ".",
        "",
        "| task | metric | n | base | fine-tuned | change | 95% CI |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lo, hi = r["ci"] if r.get("ci") else (None, None)
        out.append(
            f"| {r['task']}{' ✘' if r.get('flagged') else ''} | {r['metric']} | {r['n']} | {pct(r['base'])} | "
            f"{pct(r['tuned'])} | {pts(r['change'])} | {pts(lo)} to {pts(hi)} |"
        )
    out += [f"- {e}" for e in fg.get("errors") or []]
    if not fg.get("complete"):
        out.append("- The check did not finish; `ftui forgetting RUN` measures the rest.")
    return [*out, ""]


def _roles_lines(roles: dict[str, Any] | None) -> list[str]:
    """Which items chose the checkpoint and which judged it: the two sets must not meet."""
    if not roles:
        return []
    valid, test = roles.get("validation_ids") or [], roles.get("test_ids") or []
    out = [
        f"Roles: {roles.get('train', 0)} items trained on; the checkpoint was chosen on {roles.get('selection')} items"
        f" ({len(valid)}: {_ids(valid)}); {roles.get('graded', 0)} items were graded, {len(test)} of them the build's"
        f" held-out items ({_ids(test)})."
    ]
    both = roles.get("graded_and_selected") or []
    if both:
        out.append(
            f"Caution: {len(both)} graded items also chose the checkpoint ({_ids(both)}); rebuild to get a"
            " validation split."
        )
    return out


def _ids(ids: list[str], n: int = 8) -> str:
    if not ids:
        return "none"
    return ", ".join(f"`{i}`" for i in ids[:n]) + (f" and {len(ids) - n} more" if len(ids) > n else "")


def _cell(text: str) -> str:
    return clip(str(text).replace("|", "\\|"), 70)


def write_postmortem(run_dir: Path | str, ws: Workspace | None = None) -> Path:
    """Write RUN_DIR/postmortem.md (and a copy under the workspace's reports folder)."""
    run_dir = Path(run_dir)
    text = build_postmortem(run_dir, ws)
    path = run_dir / NAME
    atomic_write_text(path, text)
    if ws is not None:
        atomic_write_text(ws.state.reports / f"{run_dir.name}-{NAME}", text)
    return path
