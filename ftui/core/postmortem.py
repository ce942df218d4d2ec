"""The fine-tuning postmortem: the seed's five questions answered from the run's own files.

Every figure comes from the build manifest, the run's events and the evaluation report, so the
document can be regenerated and checked; the judgement calls are left to the reader, with the
evidence laid out next to them.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftui.core.compare import shared_traits
from ftui.core.evalrun import PASSING, RETRIEVAL_MISS, preserves, read_manifest, read_report
from ftui.core.events import read_events
from ftui.core.forgetting import drop_text
from ftui.core.formatting import clip, duration, num, pct, plural, pts
from ftui.core.fsutil import atomic_write_text
from ftui.core.passrule import show_grade
from ftui.core.runs import read_run_config

if TYPE_CHECKING:
    from ftui.core.workspace import Workspace

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
)


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
    }
    for ev in evs:
        kind = ev["type"]
        if kind == "log":
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
    from ftui.core.clusters import is_model_failure, label_of, load_overlay
    from ftui.core.runlog import load_benchmark, load_run_log

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


def build_postmortem(run_dir: Path | str, ws: Workspace | None = None) -> str:
    run_dir = Path(run_dir)
    cfg = read_run_config(run_dir)
    report = read_report(run_dir)
    manifest = read_manifest(cfg["build_dir"]) if cfg.get("build_dir") else {}
    loss = loss_summary(run_dir)
    target = report.get("targeted_cluster")
    t, rest, overall, v = report["targeted"], report["rest"], report["overall"], report["verdict"]
    items = report["items"]
    per = (manifest.get("per_cluster") or {}).get(target) or {}
    counts = manifest.get("counts") or {}
    in_log, in_bench, bench_size = _benchmark_counts(ws, target)
    if in_log is None:
        in_log = per.get("items")
        bench_size = report.get("benchmark_size")

    L: list[str] = []
    L.append(f"# Fine-tuning postmortem: {cfg.get('run_id', run_dir.name)}")
    L.append("")
    L.append(
        f"Model `{cfg.get('model')}` · method {str(cfg.get('method', '?')).upper()} · build `{cfg.get('build_id')}` · "
        f"verdict **{v['verdict'].replace('_', ' ')}** (ship gate {'open' if v['ship_gate']['open'] else 'blocked'})"
    )
    L.append("")

    # 1 -----------------------------------------------------------------------------------
    L.append("## 1. What failure cluster did we target?")
    L.append("")
    size = f"{in_log} failures" if in_log is not None else "size unknown"
    if in_bench is not None and bench_size:
        size += f", {in_bench} of {bench_size} benchmark questions"
    elif bench_size:
        size += f", benchmark of {bench_size} questions"
    L.append(f"`{target}`: {size}.")
    L.append(
        f"After excluding the {len(report.get('excluded_ids') or [])} items used for training, "
        f"{t['total']} items of the cluster were evaluated ({overall['total']} items in all)."
    )
    others = [c for c in (manifest.get("target_clusters") or []) if c != target]
    if others:
        L.append(f"The build also held corrections for: {', '.join(f'`{c}`' for c in others)}.")
    L.append("")

    # 2 -----------------------------------------------------------------------------------
    L.append("## 2. How many training examples did we use, and how many did we discard?")
    L.append("")
    if counts:
        n_pres = counts.get("preserve", 0) if preserves(cfg) else 0
        n_train = counts.get("train", 0) + n_pres
        kept = f", {n_pres} other clusters' failures kept as the base answers them (KL only)" if n_pres else ""
        L.append(
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
            L.append(
                f"From `{target}`: {per.get('corrected', 0)} of {per.get('items', 0)} failures became examples "
                f"({per.get('train', 0)} train, {valid}{per.get('eval', 0)} held out)."
            )
        L.extend(_roles_lines(report.get("roles")))
        if ws is not None:
            from ftui.core.drafts import provenance

            p = provenance(
                ws, [*manifest.get("train_ids", []), *manifest.get("validation_ids", []), *manifest.get("eval_ids", [])]
            )
            if p["drafted"]:
                who = ", ".join(f"`{name}` ({n})" for name, n in sorted(p["teachers"].items()))
                L.append(
                    f"{plural(p['drafted'], 'correction')} drafted by a teacher ({who}): "
                    f"{p['accepted_as_drafted']} accepted as drafted, {p['edited']} edited by a person."
                )
        n_disc = counts.get("discarded", len(manifest.get("discarded") or []))
        reasons = counts.get("discarded_by_reason") or dict(
            Counter(d["reason"] for d in manifest.get("discarded") or [])
        )
        why = ", ".join(f"{n} {r.replace('_', ' ')}" for r, n in sorted(reasons.items(), key=lambda kv: -kv[1]))
        L.append(f"Discarded {n_disc}" + (f": {why}." if why else "."))
        if counts.get("dpo_train"):
            L.append(f"Preference pairs: {counts.get('dpo_train')} train, {counts.get('dpo_eval', 0)} eval.")
    else:
        L.append("The build manifest is not available; training data counts are unknown.")
    L.append("")

    # 3 -----------------------------------------------------------------------------------
    L.append("## 3. Did the cluster improve? By how much?")
    L.append("")
    if t["total"]:
        verb = "Yes" if v["improved"] else "No"
        L.append(
            f"{verb}: `{target}` passed {t['base_passed']}/{t['total']} ({pct(t['base_rate'])}) with the base model and "
            f"{t['tuned_passed']}/{t['total']} ({pct(t['tuned_rate'])}) fine-tuned, {pts(t['change'])} "
            f"({t['buckets']['fixed']} fixed, {t['buckets']['still_failing']} still failing; "
            f"exact McNemar p = {t['mcnemar_p']:.3g})."
        )
    else:
        L.append(f"Unknown: no item of `{target}` was left in the benchmark after excluding the training items.")
    L.append("")

    # 4 -----------------------------------------------------------------------------------
    L.append("## 4. Did anything regress? What do the regressions share?")
    L.append("")
    regs = [it for it in items if it["bucket"] == "regressed"]
    if not regs:
        L.append(f"No: none of the {overall['base_passed']} items the base model passed failed after fine-tuning.")
    else:
        L.append(
            f"Yes: {len(regs)} of the {overall['base_passed']} items the base model passed now fail: "
            f"{', '.join(it['id'] + (' (flaky)' if it.get('flaky') else '') for it in regs)}."
        )
        n_flaky = sum(bool(it.get("flaky")) for it in regs)
        if n_flaky:
            fl = report.get("flaky") or {}
            L.append(
                f"{n_flaky} of them {'is' if n_flaky == 1 else 'are'} flaky: the base's pass did not hold every time "
                f"it was re-asked with sampling ({(report.get('flaky_check') or {}).get('k', '?')} times). "
                + ("The ship gate ignores them." if fl.get("ignored_by_gate") else "They still count against the gate.")
            )
        tr = shared_traits(regs)
        bench_words = sum(len((it["question"] or "").split()) for it in items) / max(1, len(items))
        L.append("")
        L.append(f"- Clusters: {', '.join(f'{c} ({n})' for c, n in tr['clusters'])}")
        L.append(f"- Graders: {', '.join(f'{g} ({n})' for g, n in tr['graders'])}")
        L.append(f"- Task types: {', '.join(f'{k} ({n})' for k, n in tr['tasks'])}")
        L.append(f"- Question length: {tr['mean_question_words']:.0f} words on average (benchmark: {bench_words:.0f})")
        L.append(
            f"- Answer length: {tr['mean_base_answer_words']:.0f} words before, {tr['mean_tuned_answer_words']:.0f} after"
        )
        L.append("")
        logged = any(it.get("logged_grade") is not None for it in regs)
        L.append("| id | cluster |" + (" logged grade |" if logged else "") + " base grade | fine-tuned grade |")
        L.append("|---|---|" + ("---|" if logged else "") + "---|---|")
        for it in regs[:20]:
            lg = f" {show_grade(it.get('logged_grade'))} |" if logged else ""
            L.append(
                f"| {it['id']} | {it['cluster']} |{lg} {_cell(it['base_grade']['reason'])} | {_cell(it['tuned_grade']['reason'])} |"
            )
    L.append("")
    L += _forgetting_lines(report.get("forgetting"))

    # 5 -----------------------------------------------------------------------------------
    L.append("## 5. Was fine-tuning the right rung?")
    L.append("")
    L.append("Evidence:")
    L.append("")
    if t["total"]:
        L.append(
            f"- Under evaluation conditions the base model already passed {t['base_passed']} of {t['total']} "
            f"`{target}` items"
            + (
                " — those failures may depend on the logged context (prompt, retrieval) rather than the weights."
                if t["base_passed"]
                else "."
            )
        )
    n_corr = per.get("corrected", counts.get("corrections"))
    if n_corr is not None:
        L.append(
            f"- The fix was learned from {n_corr} corrected examples of the cluster"
            + (" (a small set: gains may not generalise)." if n_corr < 20 else ".")
        )
    if t["total"]:
        sig = "significant" if t["mcnemar_p"] < 0.05 else "not significant"
        L.append(
            f"- Cluster change: {t['buckets']['fixed']} fixed vs {t['buckets']['regressed']} broken, "
            f"exact McNemar p = {t['mcnemar_p']:.3g} ({sig} at 0.05 on {t['total']} items)."
        )
    L.append(
        f"- Whole benchmark: {report['buckets']['fixed']} fixed vs {report['buckets']['regressed']} regressed, "
        f"p = {report['mcnemar']['p_value']:.3g}."
    )
    misses = sum(1 for it in items if it["cluster"] == RETRIEVAL_MISS)
    if misses:
        L.append(
            f"- {plural(misses, 'evaluated item')} {'was a retrieval miss' if misses == 1 else 'were retrieval misses'} "
            "in the run log: weights cannot fix missing evidence."
        )
    still = t["buckets"]["still_failing"] if t["total"] else 0
    if still:
        L.append(
            f"- {still} `{target}` {'item still fails' if still == 1 else 'items still fail'} after fine-tuning; "
            "read their answers before adding more data."
        )
    fs = report.get("fewshot")
    if fs and fs["targeted"]["total"]:
        ft = fs["targeted"]
        L.append(
            f"- The prompt rung, tried: the base model given {fs.get('k')} of the cluster's corrections as examples "
            f"passed {ft['tuned_passed']}/{ft['total']} `{target}` items (fine-tuned: {t['tuned_passed']}/{t['total']}) "
            f"and broke {len(fs['regressions'])} item{'s' if len(fs['regressions']) != 1 else ''} the base passed"
            + (f" ({', '.join(fs['regressions'][:8])})" if fs["regressions"] else "")
            + (
                ": fine-tuning was not needed."
                if v["verdict"] == "not_needed"
                else ": the fine-tune does better."
                if ft["tuned_passed"] < t["tuned_passed"] or fs["regressions"]
                else "."
            )
        )
    else:
        L.append(
            "- The prompt rung was not tried (set `eval.fewshot_k` to evaluate few-shot examples beside the fine-tune)."
        )
    if t["total"] and "ci" in t:
        lo, hi = t["ci"]
        L.append(
            f"- Cluster change {pts(t['change'])}, 95% CI {pts(lo)} to {pts(hi)} (Newcombe, paired), mid-p McNemar "
            f"p = {t['mid_p']:.3g}; with {t['total']} items the smallest change that could show is "
            + (f"{100 * t['detectable_change']:.0f} points." if t.get("detectable_change") else "none (too few items).")
        )
    L.append(f"- Verdict from the decision table: {v['headline']}")
    for a in v.get("advice") or []:
        L.append(f"  - {a}")
    L.append("")

    # Appendix ----------------------------------------------------------------------------
    L.append("## Run details")
    L.append("")
    L.append(f"- Dataset hash: `{manifest.get('hash') or report.get('dataset_hash') or 'unknown'}`")
    L.append("- Training config: " + ", ".join(f"{k}={cfg[k]}" for k in TRAIN_KEYS if cfg.get(k) is not None))
    L.append(
        f"- Loss: best eval loss {num(loss['best_eval_loss'])} at step {num(loss['best_step'], '')}; "
        f"train loss {num(loss['first_loss'])} → {num(loss['last_loss'])} over {num(loss['steps'], '')} steps"
        + (" (early stopped)" if loss["early_stopped"] else "")
        + (f"; trained in {duration(loss['runtime_s'])}" if loss.get("runtime_s") else "")
    )
    L.append("")
    L.append("| slice | items | base | fine-tuned | change |")
    L.append("|---|---|---|---|---|")
    for name, x in ((f"targeted ({target})", t), ("rest of benchmark", rest), ("all", overall)):
        L.append(
            f"| {name} | {x['total']} | {x['base_passed']} ({pct(x['base_rate'])}) | "
            f"{x['tuned_passed']} ({pct(x['tuned_rate'])}) | {pts(x['change'])} |"
        )
    passing = sum(1 for it in items if it["cluster"] == PASSING)
    L.append("")
    L.append(
        f"Buckets: {report['buckets']['fixed']} fixed, {report['buckets']['regressed']} regressed, "
        f"{report['buckets']['still_failing']} still failing, {report['buckets']['still_passing']} still passing "
        f"({passing} items were passing in the run log)."
    )
    return "\n".join(L) + "\n"


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
