"""`ftui train --dry-run`: the exact launch of the configured run, then two real steps of it.

The smoke run is the real configuration (model, method, processes, accelerate config, batch, length)
cut to 2 steps with one evaluation and one checkpoint, in a folder of the state cache that does not
join the runs list. It reports tokens/s and each process's peak memory before a long run starts.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from ftui.commands import follow
from ftui.core.base.fsutil import read_json_file
from ftui.core.runs import runs
from ftui.core.runs.text import format_event

SMOKE = {"max_steps": 2, "epochs": None, "eval_steps": 2, "save_steps": 2, "probes": 0, "log_steps": 1}


def dry_run(ws, build_dir: Path, overrides: dict[str, Any], as_json: bool, keep: bool = False) -> int:
    parent = Path(ws.state.cache) / "dry-runs"
    run_dir = runs.create_run(ws, build_dir, {**overrides, **SMOKE}, parent=parent)
    say = (lambda s: None) if as_json else (lambda s: print(s, flush=True))
    say(f"smoke run: 2 steps of the configured training in {run_dir}")
    with open(run_dir / "train.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ftui.engine", "train", str(run_dir)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(run_dir),
        )
    shown_launch = False
    # The smoke run is this process's own child: it is gone when it has exited.
    for evs in follow.batches(run_dir / "events.jsonl", lambda: proc.poll() is not None):
        if not shown_launch and (run_dir / "launch.json").exists():
            shown_launch = True
            _print_launch(read_json_file(run_dir / "launch.json", "no launch.json"), say)
        for ev in evs:
            if ev.get("type") in ("log", "eval", "checkpoint", "failed", "cancelled"):
                line = format_event(ev)
                if line:
                    say("  " + line)
    report = _report(run_dir, proc.wait())
    if as_json:
        print(json.dumps(report), flush=True)
    else:
        _print_report(report, say)
    if report["ok"] and not keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    elif not report["ok"]:
        say(f"the smoke run's folder is kept: {run_dir} (train.log holds every process's output)")
    return 0 if report["ok"] else 1


def _print_launch(launch: dict[str, Any], say) -> None:
    say(f"device: {launch.get('device')}")
    say(f"processes: {launch.get('processes')} on this machine, {launch.get('machines')} machine(s)")
    say("command: " + " ".join(launch.get("argv") or []))
    env = launch.get("env") or {}
    say("environment: " + (" ".join(f"{k}={v}" for k, v in sorted(env.items())) or "(inherited, nothing added)"))


def _report(run_dir: Path, code: int | None) -> dict[str, Any]:
    from ftui.core.base.events import read_events

    evs, _ = read_events(run_dir / "events.jsonl")
    final = next((e for e in reversed(evs) if e.get("type") in ("finished", "failed", "cancelled")), None)
    logs = [e for e in evs if e.get("type") == "log"]
    records = []
    ranks_dir = run_dir / "ranks"
    for p in sorted(ranks_dir.glob("rank-*.json")) if ranks_dir.is_dir() else []:
        try:
            records.append(json.loads(p.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    # The first step carries one-off costs (allocation, kernel selection): the last one is the rate.
    rate = logs[-1].get("tokens_per_s") if logs else None
    ok = code == 0 and final is not None and final.get("type") == "finished" and len(logs) == 2
    return {
        "ok": ok,
        "steps": len(logs),
        "tokens_per_s": rate,
        "final": final,
        "processes": [
            {"rank": r.get("rank"), "peak_memory_mb": r.get("peak_memory_mb"), "error": r.get("error")}
            for r in sorted(records, key=lambda r: r.get("rank", 0))
        ],
        "run_dir": str(run_dir),
    }


def _print_report(report: dict[str, Any], say) -> None:
    if report["ok"]:
        rate = report["tokens_per_s"]
        say(
            f"smoke run passed: {report['steps']} steps, {rate:.0f} tokens/s (all processes)"
            if rate
            else "smoke run passed"
        )
    else:
        final = report["final"] or {}
        say(f"smoke run FAILED: {final.get('error') or final.get('type') or 'no final event'}")
        if final.get("hint"):
            say(f"  hint: {final['hint']}")
    for p in report["processes"]:
        mem = p.get("peak_memory_mb")
        say(
            f"  rank {p['rank']}: peak memory {mem:.0f} MB"
            if mem is not None
            else f"  rank {p['rank']}: {p.get('error')}"
        )


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the launch command and environment, run 2 steps of this configuration, report tokens/s and memory",
    )
