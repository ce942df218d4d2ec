"""A stand-in for the training child: replays recorded events into RUN_DIR/events.jsonl over time.

It behaves like the engine where the UI can tell: a pid file, lines appended one by one, a
heartbeat, and on SIGTERM or a `stop` file a `cancelled` event before it exits.
Usage: python fake_child.py RUN_DIR EVENTS_FILE DELAY_S [STOP_AFTER_N_LINES]
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path


def main() -> int:
    run_dir, source, delay = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
    pause_after = int(sys.argv[4]) if len(sys.argv) > 4 else None
    (run_dir / "pid").write_text(f"{os.getpid()}\n")
    stopping = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stopping.__setitem__("now", True))
    events_path = run_dir / "events.jsonl"
    lines = [json.loads(line) for line in source.read_text().splitlines() if line.strip()]
    step = 0
    t0 = time.time()
    first_t = lines[0]["t"]
    with open(events_path, "a", encoding="utf-8") as out, open(run_dir / "train.log", "a") as log:
        for n, ev in enumerate(lines):
            if pause_after is not None and n >= pause_after:
                break
            if stopping["now"] or (run_dir / "stop").exists():
                break
            ev = dict(ev, t=round(t0 + (ev["t"] - first_t), 3))
            step = ev.get("step", step)
            out.write(json.dumps(ev) + "\n")
            out.flush()
            log.write(f"event {ev['type']} step {step}\n")
            log.flush()
            if ev["type"] in ("finished", "failed", "cancelled"):
                return 0
            time.sleep(delay)
        # Stay alive (beating) until asked to stop, like a run waiting on a slow step.
        while not (stopping["now"] or (run_dir / "stop").exists()):
            out.write(json.dumps({"v": 1, "type": "heartbeat", "t": round(time.time(), 3)}) + "\n")
            out.flush()
            time.sleep(0.2)
        out.write(
            json.dumps(
                {
                    "v": 1,
                    "type": "cancelled",
                    "t": round(time.time(), 3),
                    "step": step,
                    "checkpoint": f"checkpoints/checkpoint-{step}",
                }
            )
            + "\n"
        )
        out.flush()
        log.write("cancelled\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
