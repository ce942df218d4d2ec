"""Helpers shared by the training-engine tests: workspaces with a build, and waiting on event streams."""

from __future__ import annotations

import time
from pathlib import Path

from ftui.core.base import events
from ftui.core.runs import runs
from ftui.core.workspace.workspace import Workspace
from tests.fixtures.tiny_build import write_workspace

# Fast, deterministic settings for the tiny random model.
TINY_TRAIN = {
    "max_steps": 12,
    "eval_steps": 4,
    "save_steps": 4,
    "batch_size": 4,
    "patience": 100,
    "learning_rate": 3e-3,
    "max_length": 128,
    "lora_r": 8,
    "lora_alpha": 16,
}


def tiny_workspace(tmp_path: Path, model_dir: Path, **train) -> Workspace:
    root = write_workspace(tmp_path / "ws", model_dir, train={**TINY_TRAIN, **train})
    return Workspace.load(root)


def all_events(run_dir: Path) -> list[dict]:
    evs, _ = events.read_events(Path(run_dir) / "events.jsonl")
    return evs


def wait_for(pred, timeout: float, run_dir: Path | None = None, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(interval)
    log = ""
    if run_dir is not None and (Path(run_dir) / "train.log").exists():
        log = (Path(run_dir) / "train.log").read_text()[-3000:]
    raise AssertionError(f"timed out after {timeout} s\n{log}")


def wait_final(run_dir: Path, timeout: float = 180) -> dict:
    def final():
        evs = [e for e in all_events(run_dir) if e["type"] != "heartbeat"]
        return evs[-1] if evs and evs[-1]["type"] in events.FINAL_TYPES else None

    return wait_for(final, timeout, run_dir)


def wait_step(run_dir: Path, step: int, timeout: float = 120) -> dict:
    def reached():
        logs = [e for e in all_events(run_dir) if e["type"] == "log" and e["step"] >= step]
        return logs[0] if logs else None

    return wait_for(reached, timeout, run_dir, interval=0.05)


def start(ws: Workspace, **overrides) -> Path:
    return runs.start_run(ws, runs.latest_build_dir(ws), overrides)
