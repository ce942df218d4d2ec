"""Parity of an exported model with the model that was judged: the same prompts, greedy, item by item.

The reference is the evaluation's own record (RUN/eval/report.json: the fine-tuned side's answer
and grade for every evaluated item) plus the build's anchor items, which the evaluation leaves
out because they were trained on; the child answers those with the judged configuration (base +
adapter, in-process) so an anchor that the export forgets shows up too. A parity job lives in
RUN/parity/EXPORT_NAME/ and is launched and read like an export job.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftui.core.base import jobs
from ftui.core.base.errors import FtuiError
from ftui.core.base.fsutil import atomic_write_json, atomic_write_jsonl, read_json_file, read_jsonl
from ftui.core.grade.grading import spec_for
from ftui.core.judge import evalrun
from ftui.core.logs.runlog import load_benchmark
from ftui.core.runs import runs
from ftui.core.ship.exports import read_manifest
from ftui.core.workspace.prompts import messages_for, tools_of

if TYPE_CHECKING:
    from ftui.core.workspace.workspace import Workspace

PARITY_DIR = "parity"
ITEMS = "items.jsonl"
RESULT = "parity.json"
LOG = "parity.log"
# Grade flips tolerated by `ftui parity` before it exits non-zero, as a share of the items checked.
DEFAULT_MAX_FLIP_RATE = 0.0
# The cluster name parity gives anchor items, which the evaluation never answered (counted apart).
ANCHOR_CLUSTER = "anchor"


class ParityError(FtuiError):
    pass


def parity_dir(run_dir: Path, export_dir: Path) -> Path:
    return Path(run_dir) / PARITY_DIR / str(read_manifest(export_dir)["name"])


def _anchor_items(
    ws: Workspace, run_dir: Path, evaluated: set[str], grader_of: Callable[[Any], Any]
) -> list[dict[str, Any]]:
    cfg = runs.read_run_config(run_dir)
    build_dir = cfg.get("build_dir")
    if not build_dir or not (Path(build_dir) / "manifest.json").is_file():
        return []
    manifest = evalrun.read_manifest(build_dir)
    held = {str(i) for i in manifest.get("eval_ids") or []}
    anchors = {str(i) for i in manifest.get("anchor_ids") or []} - held - evaluated
    if not anchors:
        return []
    out = []
    for it in load_benchmark(ws).items:
        if it.id in anchors:
            out.append(
                {
                    "id": it.id,
                    "cluster": ANCHOR_CLUSTER,
                    "task": it.task,
                    "question": it.question,
                    "expected": it.expected,
                    "messages": messages_for(it, ws.prompt),
                    **({"tools": tools_of(it)} if it.tools else {}),
                    "grader": grader_of(it),
                    "reference_answer": None,
                    "reference_grade": None,
                }
            )
    return out


def plan_items(ws: Workspace, run_dir: Path, anchors: bool = True) -> list[dict[str, Any]]:
    run_dir = Path(run_dir)
    d = evalrun.eval_dir(run_dir)
    if not (d / evalrun.REPORT).is_file() or not (d / evalrun.ITEMS).is_file():
        raise ParityError(
            f"{d}: run {run_dir.name} has no evaluation to compare with; `ftui eval {run_dir.name}` first"
        )
    report = evalrun.read_report(run_dir)
    if report.get("sides", {}).get("tuned", "model + adapter") != "model + adapter":
        raise ParityError(f"{d / evalrun.REPORT}: the evaluated fine-tune was an endpoint, not this run's adapter")
    judged = {it["id"]: it for it in report["items"]}
    items = []
    for it in read_jsonl(d / evalrun.ITEMS):
        ref = judged.get(it["id"])
        if ref is None:
            continue
        items.append(
            {
                **{k: it.get(k) for k in ("id", "cluster", "task", "question", "expected", "messages", "grader")},
                **({"tools": it["tools"]} if it.get("tools") else {}),
                "reference_answer": ref["tuned_answer"],
                "reference_grade": ref["tuned_grade"],
            }
        )
    if anchors:
        items += _anchor_items(ws, run_dir, set(judged), lambda item: spec_for(ws, item))
    return items


def prepare(ws: Workspace, run_dir: Path, export_dir: Path, anchors: bool = True, threads: int | None = None) -> Path:
    """Write the parity job's plan; returns its folder (the child takes it as its argument)."""
    run_dir, export_dir = Path(run_dir), Path(export_dir)
    manifest = read_manifest(export_dir)
    items = plan_items(ws, run_dir, anchors=anchors)
    ecfg = read_json_file(evalrun.eval_dir(run_dir) / evalrun.CONFIG, "the run's evaluation has no config.json")
    pd = parity_dir(run_dir, export_dir)
    jobs.fresh_folder(pd, RESULT)
    atomic_write_jsonl(pd / ITEMS, items)
    atomic_write_json(
        pd / "config.json",
        {
            "schema": 1,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "run_id": run_dir.name,
            "export": str(export_dir),
            "name": manifest["name"],
            "format": manifest["format"],
            "quant": manifest.get("quant"),
            "model": ecfg.get("model"),
            "adapter": ecfg.get("adapter"),
            "device": ecfg.get("device") or "auto",
            "max_new_tokens": ecfg.get("max_new_tokens"),
            "batch_size": ecfg.get("batch_size"),
            "judge": ecfg.get("judge"),
            "cache_dir": ecfg.get("cache_dir"),
            # llama.cpp threads for a GGUF export (None: one per core, up to 4), as `ftui serve --threads`.
            "threads": threads,
        },
    )
    return pd


def start(
    ws: Workspace, run_dir: Path, export_dir: Path, anchors: bool = True, threads: int | None = None
) -> tuple[Path, int]:
    pd = parity_dir(run_dir, export_dir)
    st = jobs.job_state(pd)
    if st.state == "running":
        raise ParityError(f"{pd}: a parity check of this export is already running (pid {st.pid})")
    pd = prepare(ws, run_dir, export_dir, anchors=anchors, threads=threads)
    return pd, jobs.start_child(["parity", str(pd.resolve())], pd, LOG)


def compare(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Per item: identical answer, same grade, or a flip (`lost`: judged passed, export fails; `gained`)."""
    rows = []
    for r in records:
        ref, got = r["reference_grade"], r["export_grade"]
        identical = (r["reference_answer"] or "").strip() == (r["export_answer"] or "").strip()
        flip = None
        if bool(ref["passed"]) != bool(got["passed"]):
            flip = "lost" if ref["passed"] else "gained"
        rows.append(
            {
                **{k: r.get(k) for k in ("id", "cluster", "task")},
                "identical": identical,
                "same_grade": flip is None,
                "flip": flip,
                "reference_answer": r["reference_answer"],
                "export_answer": r["export_answer"],
                "reference_grade": ref,
                "export_grade": got,
            }
        )
    n = len(rows)
    flips = [r for r in rows if r["flip"]]
    return {
        "items": n,
        "anchors": sum(r.get("cluster") == ANCHOR_CLUSTER for r in rows),
        "identical": sum(r["identical"] for r in rows),
        "same_grade": sum(r["same_grade"] for r in rows),
        "flips": len(flips),
        "lost": [r["id"] for r in flips if r["flip"] == "lost"],
        "gained": [r["id"] for r in flips if r["flip"] == "gained"],
        "reference_passed": sum(bool(r["reference_grade"]["passed"]) for r in rows),
        "export_passed": sum(bool(r["export_grade"]["passed"]) for r in rows),
        "rows": rows,
    }


def items_text(summary: dict[str, Any]) -> str:
    """What a parity count is out of: "83 (64 benchmark items + 19 anchors)", or "64 benchmark items"."""
    n = summary["items"]
    anchors = summary.get("anchors")
    if anchors is None and "rows" in summary:
        anchors = sum(r.get("cluster") == ANCHOR_CLUSTER for r in summary["rows"])
    if not anchors:
        return f"{n} benchmark item{'s' if n != 1 else ''}"
    return f"{n} ({n - anchors} benchmark item{'s' if n - anchors != 1 else ''} + {anchors} anchor{'s' if anchors != 1 else ''})"


def read_result(pd: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((Path(pd) / RESULT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_summary(pd: Path) -> dict[str, Any] | None:
    res = read_result(pd)
    return None if res is None else summary_of(res)


def summary_of(result: dict[str, Any]) -> dict[str, Any]:
    """A parity result's counts without its per-item rows, and the export's name."""
    return {k: v for k, v in result["summary"].items() if k != "rows"} | {"name": result.get("name")}


def exceeds(summary: dict[str, Any], max_flip_rate: float = DEFAULT_MAX_FLIP_RATE) -> bool:
    return bool(summary["flips"] > max_flip_rate * summary["items"])


def render_text(result: dict[str, Any], show_items: bool = True) -> str:
    s = result["summary"]
    n = s["items"]
    head = (
        f"Parity of {result['name']} ({result['format']}) with the evaluated model of run {result['run_id']}: "
        f"{items_text(s)}\n"
        f"  identical answers {s['identical']}/{n} · same grade {s['same_grade']}/{n} · grade flips {s['flips']}"
        f" (lost {len(s['lost'])}, gained {len(s['gained'])}) · passing {s['reference_passed']} → {s['export_passed']}"
    )
    if not show_items:
        return head
    lines = [head, "", f"  {'item':<28} {'cluster':<22} {'answer':<10} grade"]
    for r in s["rows"]:
        grade = "same" if r["same_grade"] else f"FLIP ({r['flip']})"
        lines.append(
            f"  {r['id'][:28]:<28} {str(r['cluster'])[:22]:<22} {'same' if r['identical'] else 'differs':<10} {grade}"
        )
    for r in s["rows"]:
        if r["flip"]:
            lines += ["", f"  {r['id']} ({r['flip']}):", f"    judged: {r['reference_answer'][:200]!r}"]
            lines.append(f"    export: {r['export_answer'][:200]!r}")
    return "\n".join(lines)


def served_vs_judged(run_dir: Path) -> dict[str, Any]:
    """The served evaluation's tuned side against the in-process one's, item by item (common items)."""
    run_dir = Path(run_dir)
    try:
        judged = evalrun.read_report(run_dir)
    except FtuiError as exc:
        return {"text": f"No in-process evaluation to compare with ({exc})"}
    served = evalrun.read_report(run_dir, evalrun.SERVED_DIR)
    ref = {it["id"]: it for it in judged["items"]}
    records = [
        {
            **{k: it.get(k) for k in ("id", "cluster", "task")},
            "reference_answer": ref[it["id"]]["tuned_answer"],
            "reference_grade": ref[it["id"]]["tuned_grade"],
            "export_answer": it["tuned_answer"],
            "export_grade": it["tuned_grade"],
        }
        for it in served["items"]
        if it["id"] in ref
    ]
    s = compare(records)
    n = s["items"]
    text = (
        f"Served vs in-process fine-tune on {n} items: identical answers {s['identical']}/{n}, "
        f"same grade {s['same_grade']}/{n}, grade flips {s['flips']}"
        + (f" (lost: {', '.join(s['lost'])}; gained: {', '.join(s['gained'])})" if s["flips"] else "")
    )
    return {**{k: v for k, v in s.items() if k != "rows"}, "rows": s["rows"], "text": text}
