"""The supervisor of a data-parallel run: `python -m ftui.engine train RUN_DIR` when the run wants
several processes (or an accelerate config).

It stays the run's pid (the detached child the UI and `ftui stop` know), starts `accelerate launch`
in a session of its own, turns a stop signal into the stop file every rank polls (so the ranks stop
together at a step boundary and save a checkpoint, instead of being killed by torchrun's own signal
handling mid-step), and writes the final event the ranks could not: a dead rank's traceback, or the
end of a machine that holds no rank 0.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from ftui.core.base import jobs
from ftui.core.base.events import EventWriter, read_events
from ftui.core.runs.launch import Launch
from ftui.engine.train import ranks


def _final_after(events_path: Path, offset: int) -> dict | None:
    evs, _ = read_events(events_path, offset)
    finals = [e for e in evs if e.get("type") in ("finished", "failed", "cancelled")]
    return finals[-1] if finals else None


def _term_with_parent() -> None:
    """In the launcher's child before exec: SIGTERM it if the supervisor dies (even by SIGKILL), so
    no ranks train on, orphaned, under a run that reads as dead. torchrun passes SIGTERM to the
    ranks, which stop at their next step (Linux only; elsewhere nothing is set)."""
    import contextlib
    import ctypes

    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def supervise(run_dir: Path, launch: Launch, writer: EventWriter) -> tuple[str, dict] | None:
    """Run the launch to its end; returns the final event to write, or None when rank 0 wrote it."""
    events_path = run_dir / "events.jsonl"
    ranks.clear_records(run_dir)
    where = f"{launch.processes} process(es)" + (
        f" on machine {launch.machine_rank} of {launch.machines}" if launch.machines > 1 else ""
    )
    writer.emit("status", message=f"launching {where} with accelerate: {launch.shell()}")
    offset = events_path.stat().st_size if events_path.exists() else 0
    proc = subprocess.Popen(
        launch.argv,
        env={**os.environ, **launch.env},
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        cwd=str(run_dir),
        preexec_fn=_term_with_parent,
    )

    def on_stop(signum, frame):
        # The ranks read the stop file at every step end and agree on it (ranks.any_rank).
        (run_dir / jobs.STOP).touch()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    try:
        code = proc.wait()
    except BaseException:
        # The supervisor itself is going away: take the ranks with it rather than orphan them.
        os.killpg(proc.pid, signal.SIGTERM)
        raise
    time.sleep(0.2)  # let the last writes of the ranks land
    final = _final_after(events_path, offset)
    if final is not None:
        return None
    records = ranks.read_records(run_dir)
    failure = ranks.first_failure(records)
    if failure is not None:
        n = failure.get("world_size", "?")
        return (
            "failed",
            {
                "error": f"rank {failure['rank']} of {n}: {failure['error']}",
                "traceback_tail": failure.get("traceback_tail") or [],
                "hint": failure.get("hint") or "every rank's full traceback is in train.log",
                "rank": failure["rank"],
            },
        )
    if code == 0 and launch.machine_rank != 0:
        steps = [int(r["step"]) for r in records if r.get("step") is not None]
        return (
            "finished",
            {
                "step": max(steps) if steps else None,
                "machine_rank": launch.machine_rank,
                "message": "this machine's processes finished; machine rank 0 holds the events and the adapter",
            },
        )
    how = f"signal {-code}" if code < 0 else f"code {code}"
    return (
        "failed",
        {
            "error": f"a training process exited with {how} without reporting why (killed, or out of memory?)",
            "hint": "see train.log for every process's output",
        },
    )
