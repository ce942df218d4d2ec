"""Cold start of the workbench to its first interactive frame, against a bare Textual app.

Each measurement is a fresh interpreter (a subprocess), timed from spawn to exit; the app exits
as soon as its first frame is on screen (Textual's Ready event). Both run headless, in the same
run, alternating, so machine load affects them alike. Also printed: the time until the run log is
loaded and clustered (the data arrives in a worker after the first frame).

    python benchmarks/tui_startup.py [--runs 7] [--rows 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 1.0

CHILD = r"""
import sys
mode, ws_path = sys.argv[1], sys.argv[2]
if mode == "baseline":
    from textual.app import App
    from textual.widgets import Static

    class Bench(App):
        def compose(self):
            yield Static("hello")

        def on_ready(self):
            self.exit()

    Bench().run(headless=True, size=(80, 24))
else:
    from ftui.core.workspace.workspace import Workspace
    from ftui.tui.app import FtuiApp
    from textual.worker import WorkerState

    class Bench(FtuiApp):
        def on_ready(self):
            if mode == "frame":
                self.exit()

        def on_worker_state_changed(self, event):
            super().on_worker_state_changed(event)
            if mode == "data" and event.worker.group == "session" and event.state == WorkerState.SUCCESS:
                self.call_after_refresh(self.exit)

    Bench(Workspace.load(ws_path)).run(headless=True, size=(80, 24))
"""


def make_workspace(root: Path, rows: int) -> Path:
    sys.path.insert(0, str(REPO))
    from tests.tui.workspace_factory import make_workspace as make

    return make(root, rows)


def once(mode: str, ws: Path) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, mode, str(ws)], capture_output=True, text=True, cwd=REPO)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{mode} run failed:\n{proc.stderr[-2000:]}")
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--rows", type=int, default=30, help="run-log rows of the generated workspace")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = make_workspace(Path(tmp) / "bench-ws", args.rows)
        once("baseline", ws)  # warm the file cache so the first sample is not an outlier
        once("frame", ws)
        times: dict[str, list[float]] = {"baseline": [], "frame": [], "data": []}
        for _ in range(args.runs):
            for mode in times:
                times[mode].append(once(mode, ws))
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["frame"] / med["baseline"]
    result = {
        "runs": args.runs,
        "rows": args.rows,
        "baseline_median_s": round(med["baseline"], 3),
        "ftui_first_frame_median_s": round(med["frame"], 3),
        "ftui_data_loaded_median_s": round(med["data"], 3),
        "ratio_first_frame_vs_baseline": round(ratio, 2),
        "target_s": TARGET_S,
        "within_target": med["frame"] <= TARGET_S,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"bare Textual app (one Static), first frame: median {med['baseline']:.3f} s over {args.runs} runs")
        print(f"ftui workbench, first interactive frame:   median {med['frame']:.3f} s  (ratio {ratio:.2f}x)")
        print(f"ftui with {args.rows:,} run-log rows loaded:       median {med['data']:.3f} s")
        print(f"target ≤ {TARGET_S:.1f} s: {'met' if result['within_target'] else 'NOT met'}")
    return 0 if result["within_target"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
