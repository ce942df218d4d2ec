from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ftui.core.workspace.workspace import Workspace
from tests.tui.workspace_factory import make_workspace

HERE = Path(__file__).resolve().parent
EVENTS = HERE / "fixtures" / "events.jsonl"
EVENTS_PROBES = HERE / "fixtures" / "events_probes.jsonl"
REPORT = HERE.parent / "fixtures" / "reports" / "report.json"


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    # No user themes, no converted model from this machine's cache: frames must not depend on them.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("FTUI_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def ws_dir(tmp_path) -> Path:
    return make_workspace(tmp_path / "demo-ws", 30)


@pytest.fixture
def ws(ws_dir) -> Workspace:
    return Workspace.load(ws_dir)


def make_run(ws: Workspace, run_id: str, events: list[dict] | None = None, method: str = "sft") -> Path:
    run_dir = Path(ws.state.runs) / run_id
    run_dir.mkdir(parents=True)
    cfg = {
        "run_id": run_id,
        "created": "2026-01-01T00:00:00Z",
        "model": "smollm2-135m-instruct",
        "method": method,
        "build_id": "0123456789ab",
        "max_steps": 30,
    }
    (run_dir / "config.json").write_text(json.dumps(cfg))
    if events is not None:
        (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    return run_dir


def recorded(path: Path = EVENTS) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def start_fake_child(
    run_dir: Path, delay: float, pause_after: int | None = None, events: Path = EVENTS
) -> subprocess.Popen:
    args = [sys.executable, str(HERE / "fake_child.py"), str(run_dir), str(events), str(delay)]
    if pause_after is not None:
        args.append(str(pause_after))
    proc = subprocess.Popen(
        args, start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 10
    while not (run_dir / "pid").exists() and time.time() < deadline:
        time.sleep(0.02)
    return proc


def add_report(ws: Workspace, run_id: str = "fixture-run", postmortem: str | None = None) -> Path:
    run_dir = make_run(ws, run_id, recorded())
    (run_dir / "eval").mkdir()
    (run_dir / "eval" / "config.json").write_text("{}")
    shutil.copy(REPORT, run_dir / "eval" / "report.json")
    if postmortem is not None:
        (run_dir / "postmortem.md").write_text(postmortem)
    return run_dir


async def settle(pilot, app, rounds: int = 2) -> None:
    for _ in range(rounds):
        await app.workers.wait_for_complete()
        await pilot.pause()
