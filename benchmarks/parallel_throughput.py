"""Data-parallel throughput on this machine: 2 processes (gloo) beside 1, through the real engine.

Both runs train the embedded SmolLM2-135M through `ftui train`'s detached child on the same rows
with the same global batch (1 process x batch 4 vs 2 processes x batch 2) and read tokens/s from the
runs' own `log` events, after the warm-up steps. Prints both figures and the ratio 2-process/1-process.

Expected on a 2-core CPU: about 1x or a little below. One process already runs its matrix products
on both cores (intra-op threads); two processes get one thread each (ftui sets OMP_NUM_THREADS to
cores / processes, so they do not oversubscribe), do the same arithmetic, and add a gradient
all-reduce over gloo at every step. Data parallelism pays where each process has a device of its
own (one GPU each, or many cores per process).

    .venv/bin/python benchmarks/parallel_throughput.py [--steps 8] [--warmup 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from train_throughput import write_bench_build

from ftui.core.base.events import read_events
from ftui.core.runs import runs
from ftui.core.workspace.workspace import Workspace


def _workspace(root: Path, steps: int) -> Workspace:
    root.mkdir(parents=True, exist_ok=True)
    (root / "runs.jsonl").write_text(json.dumps({"question_id": "q1", "question": "x", "answer": "y"}) + "\n")
    (root / "ftui.yaml").write_text(
        "run_log: runs.jsonl\n"
        "train:\n"
        f"  max_steps: {steps}\n  save_steps: 1000\n  eval_steps: 1000\n  probes: 0\n"
        "  lora_dropout: 0.0\n  max_length: 256\n"
    )
    write_bench_build(root / ".ftui" / "builds" / "bench", n=64)
    return Workspace.load(root)


def _run(ws: Workspace, processes: int, batch: int, warmup: int) -> float:
    run_dir = runs.start_run(ws, ws.state.builds / "bench", {"processes": processes, "batch_size": batch})
    while runs.read_state(run_dir).state == "running":
        time.sleep(1.0)
    evs, _ = read_events(run_dir / "events.jsonl")
    final = evs[-1]
    if final["type"] != "finished":
        raise SystemExit(f"{processes}-process run {final['type']}: {final.get('error')} (see {run_dir}/train.log)")
    rates = [e["tokens_per_s"] for e in evs if e["type"] == "log" and e["step"] > warmup and e.get("tokens_per_s")]
    return statistics.median(rates)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args()
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmp:
        ws = _workspace(Path(tmp) / "ws", args.steps)
        one = _run(ws, 1, 4, args.warmup)
        loads.append(os.getloadavg()[0])
        two = _run(ws, 2, 2, args.warmup)
        loads.append(os.getloadavg()[0])
    load = "/".join(f"{x:.1f}" for x in loads)
    print(f"embedded model, global batch 4, median tokens/s over steps {args.warmup + 1}-{args.steps}")
    print(f"  1 process ({os.cpu_count()} intra-op threads):     {one:8.0f} tokens/s")
    print(f"  2 processes (gloo, {max(1, (os.cpu_count() or 1) // 2)} thread(s) each): {two:8.0f} tokens/s")
    print(f"  ratio 2/1: {two / one:.2f}x  (expected on 2 cores: about 1x or below)")
    print(f"  load average before/between/after: {load} (a loaded CPU starves 2-thread processes the most)")


if __name__ == "__main__":
    main()
