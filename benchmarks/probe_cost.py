"""Graded probes: what they cost as a share of training time, on the sample project (target <= 25%).

Trains the sample's cluster with its committed settings (the embedded model, SFT, probes on the
validation split) in a fresh copy of the workspace, through the detached child, and reads the
run's own events: the seconds each probe pass took against the whole training time. Both figures
come from the same run, so a busy machine slows them alike.

    .venv/bin/python benchmarks/probe_cost.py [--max-steps 16] [--eval-steps 8]
    .venv/bin/python benchmarks/probe_cost.py --run RUN_DIR     # read a finished run instead
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def probe_share(run_dir: Path) -> dict:
    from ftui.core.base.events import read_events

    evs, _ = read_events(run_dir / "events.jsonl")
    probes = [e for e in evs if e["type"] == "probe"]
    started = next((e for e in evs if e["type"] == "started"), None)
    final = next((e for e in reversed(evs) if e["type"] == "finished"), None)
    if started is None or final is None:
        raise SystemExit(f"{run_dir}: not a finished run")
    logs = [e for e in evs if e["type"] == "log"]
    train_s = final["t"] - started["t"]
    probe_s = sum(float(e.get("seconds") or 0) for e in probes)
    return {
        "steps": logs[-1]["step"] if logs else 0,
        "probe_passes": len(probes),
        "probe_items": (probes[0]["cluster_total"] + probes[0]["anchors_total"]) if probes else 0,
        "train_s": train_s,
        "probe_s": probe_s,
        "share": probe_s / train_s if train_s else None,
    }


def run_sample(max_steps: int, eval_steps: int) -> Path:
    from ftui.core.build import builder
    from ftui.core.curate.corrections import CorrectionStore
    from ftui.core.curate.review import import_review
    from ftui.core.logs.runlog import load_run_log
    from ftui.core.runs import runs
    from ftui.core.workspace.workspace import Workspace
    from ftui.sample.corrections import review_path

    tmp = Path(tempfile.mkdtemp(prefix="ftui-probe-cost-"))
    root = tmp / "sample"
    shutil.copytree(REPO / "sample_data", root, ignore=shutil.ignore_patterns(".ftui"))
    ws = Workspace.load(root)
    import_review(review_path(ws), load_run_log(ws), CorrectionStore(ws))
    build = builder.build(ws, ["prose_instead_of_json"])
    run_dir = runs.create_run(ws, build, {"max_steps": max_steps, "eval_steps": eval_steps, "save_steps": eval_steps})
    runs.start_training(run_dir)
    while runs.read_state(run_dir).state == "running":
        time.sleep(2)
    return run_dir


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, help="a finished run directory to read instead of training one")
    p.add_argument("--max-steps", type=int, default=16)
    p.add_argument("--eval-steps", type=int, default=8)
    args = p.parse_args()
    from ftui.core.base.formatting import pct

    run_dir = args.run or run_sample(args.max_steps, args.eval_steps)
    s = probe_share(run_dir)
    print(f"run {run_dir.name}: {s['steps']} steps, {s['probe_passes']} probe passes of {s['probe_items']} items")
    print(f"training {s['train_s']:.1f} s, of which probes {s['probe_s']:.1f} s")
    share = s["share"]
    print(f"probe share of training time: {pct(share)} (target <= 25%)" if share is not None else "no time")
    return 0 if share is not None and share <= 0.25 else 1


if __name__ == "__main__":
    raise SystemExit(main())
