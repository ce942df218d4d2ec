"""Run directories without torch: create, list, state (incl. dead), tail, stop, and the CLI over them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from ftui.core.base import events, jobs
from ftui.core.base.errors import FtuiError, InputError
from ftui.core.runs import runs
from ftui.core.workspace.workspace import Workspace
from tests.fixtures.tiny_build import write_build, write_workspace

FIXTURES = __import__("pathlib").Path(__file__).resolve().parent.parent / "fixtures" / "events"


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return Workspace.load(write_workspace(tmp_path / "ws", "smollm2-135m-instruct", train={"max_steps": 30}))


def _write_events(run_dir, evs):
    with open(run_dir / "events.jsonl", "a") as fh:
        for ev in evs:
            fh.write(events.encode(ev))


def test_create_run_merges_workspace_settings_and_overrides(ws):
    build = runs.latest_build_dir(ws)
    run_dir = runs.create_run(ws, build, {"learning_rate": 1e-3, "lora_r": 4, "max_steps": None})
    cfg = json.loads((run_dir / "config.json").read_text())
    assert cfg["run_id"] == run_dir.name and run_dir.parent == ws.state.runs
    assert cfg["model"] == "smollm2-135m-instruct" and cfg["build_dir"] == "../../builds/" + build.name  # portable
    assert runs.read_run_config(run_dir)["build_dir"] == str(build)
    assert cfg["build_id"] == "b0000000001" and cfg["method"] == "sft"
    assert cfg["learning_rate"] == 1e-3 and cfg["lora_r"] == 4
    assert cfg["max_steps"] == 30  # from ftui.yaml; a None override keeps it
    assert cfg["target_modules"] == "all-linear" and cfg["patience"] == 3
    second = runs.create_run(ws, build, {"method": "dpo", "model": "/some/model"})
    assert second != run_dir and json.loads((second / "config.json").read_text())["model"] == "/some/model"


def test_create_run_refuses_bad_input(ws, tmp_path):
    with pytest.raises(InputError, match=r"manifest\.json"):
        runs.create_run(ws, tmp_path, {})
    with pytest.raises(ValueError, match="unknown training setting"):
        runs.create_run(ws, runs.latest_build_dir(ws), {"lora_rank": 3})
    build = runs.latest_build_dir(ws)
    (build / "dpo_train.jsonl").unlink()
    with pytest.raises(InputError, match=r"dpo_train\.jsonl"):
        runs.create_run(ws, build, {"method": "dpo"})


def test_latest_build_is_the_newest_manifest(ws):
    write_build(ws.state.builds, "b0000000002", created="2026-06-01T00:00:00Z")
    write_build(ws.state.builds, "b0000000000", created="2025-06-01T00:00:00Z")
    assert runs.latest_build_dir(ws).name == "b0000000002"
    assert runs.build_dir_for(ws, "b0000000000").name == "b0000000000"
    assert runs.build_dir_for(ws, "b0000000002") == runs.build_dir_for(ws, None)
    with pytest.raises(FtuiError, match="no build 'zzz'"):
        runs.build_dir_for(ws, "zzz")


def _run(ws, pid=None):
    run_dir = runs.create_run(ws, runs.latest_build_dir(ws), {})
    if pid is not None:
        (run_dir / "pid").write_text(f"{pid}\n")
    return run_dir


@pytest.mark.parametrize(
    "name, state", [("sft_run", "finished"), ("failed_run", "failed"), ("cancelled_run", "cancelled")]
)
def test_recorded_runs_read_as_their_final_state(ws, name, state):
    run_dir = _run(ws, pid=999_999_999)
    (run_dir / "events.jsonl").write_bytes((FIXTURES / f"{name}.jsonl").read_bytes())
    info = runs.read_state(run_dir)
    assert info.state == state
    if state == "finished":
        assert info.step == 36 and info.adapter and info.best_step is not None and info.best_eval_loss > 0
    if state == "failed":
        assert info.error and info.hint
    if state == "cancelled":
        assert info.last_checkpoint.endswith(f"checkpoint-{info.step}")


def test_liveness_needs_a_process_and_a_recent_heartbeat(ws):
    run_dir = _run(ws, pid=os.getpid())
    now = time.time()
    _write_events(run_dir, [events.make("status", message="x"), events.make("heartbeat")])
    assert runs.read_state(run_dir).state == "running"
    # The pid still exists but nothing was heard for over 30 s: a hung or recycled process.
    os.utime(run_dir / "pid", (now - 100, now - 100))
    assert runs.read_state(run_dir, now=now + jobs.DEAD_AFTER_S + 5).state == "dead"
    (run_dir / "pid").write_text("999999999\n")
    assert runs.read_state(run_dir).state == "dead"
    # Not started yet and no pid file: dead (nothing will ever write to it).
    assert runs.read_state(_run(ws)).state == "dead"


def test_an_event_after_a_final_one_means_resumed(ws):
    run_dir = _run(ws, pid=os.getpid())
    _write_events(run_dir, [events.make("cancelled", step=5, checkpoint="c5")])
    assert runs.read_state(run_dir).state == "cancelled"
    _write_events(run_dir, [events.make("status", message="resume requested")])
    assert runs.read_state(run_dir).state == "running"
    _write_events(run_dir, [events.make("finished", adapter="a", best_eval_loss=1.0, best_step=8, runtime_s=3)])
    info = runs.read_state(run_dir)
    assert info.state == "finished" and info.best_step == 8


def test_tail_reads_by_offset_and_waits_for_whole_lines(tmp_path):
    path = tmp_path / "events.jsonl"
    tail = jobs.Tail(path)
    assert tail.poll() == []
    line = events.encode(events.make("log", step=1, max_steps=3, loss=1.0))
    path.write_text(line + line[:15])
    assert [e["step"] for e in tail.poll()] == [1]
    assert tail.poll() == []
    with open(path, "a") as fh:
        fh.write(line[15:])
    assert [e["step"] for e in tail.poll()] == [1]
    assert tail.offset == path.stat().st_size
    path.write_text(events.encode(events.make("heartbeat")))  # replaced by a shorter file
    assert [e["type"] for e in tail.poll()] == ["heartbeat"]


def test_tail_follow_stops_at_the_final_event(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(
        "".join(
            events.encode(events.make(t, **f))
            for t, f in [("heartbeat", {}), ("failed", {"error": "boom"}), ("heartbeat", {})]
        )
    )
    got = list(jobs.Tail(path).follow(interval=0.01, timeout=2))
    assert [e["type"] for e in got] == ["heartbeat", "failed"]


def test_request_stop_touches_the_file_and_signals_the_process_group(ws):
    run_dir = _run(ws)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, sys, time\n"
            "signal.signal(signal.SIGTERM, lambda *a: sys.exit(7))\n"
            "print('ready', flush=True)\n"
            "time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout.readline().strip() == "ready"
    (run_dir / "pid").write_text(f"{proc.pid}\n")
    assert jobs.request_stop(run_dir) is True
    assert proc.wait(timeout=10) == 7
    assert (run_dir / "stop").exists()
    assert jobs.request_stop(run_dir) is False


def test_find_run_by_id_prefix_latest_and_path(ws):
    a = _run(ws)
    time.sleep(1.1)
    b = _run(ws)
    assert runs.find_run(ws, "latest") == b
    assert runs.find_run(ws, b.name) == b
    assert runs.find_run(ws, str(a)) == a.resolve()
    with pytest.raises(InputError, match="no run"):
        runs.find_run(ws, "nope")
    assert [r.id for r in runs.list_runs(ws)] == [b.name, a.name]


def test_cli_runs_logs_and_stop(ws, capsys):
    from ftui.cli import main

    run_dir = _run(ws, pid=999_999_999)
    (run_dir / "events.jsonl").write_bytes((FIXTURES / "sft_run.jsonl").read_bytes())
    assert main(["runs", str(ws.root)]) == 0
    out = capsys.readouterr().out
    assert run_dir.name in out and "finished" in out
    assert main(["runs", str(ws.root), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data[0]["state"] == "finished" and data[0]["step"] == 36
    assert main(["logs", run_dir.name, "-w", str(ws.root), "--tail", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and ("checkpoint" in lines[0] or "eval" in lines[0])
    assert "finished" in lines[1] and "best eval_loss" in lines[1]
    assert main(["stop", run_dir.name, "-w", str(ws.root)]) == 0
    assert "not running (finished)" in capsys.readouterr().out
    failed = _run(ws, pid=999_999_999)
    (failed / "events.jsonl").write_bytes((FIXTURES / "failed_run.jsonl").read_bytes())
    assert main(["logs", failed.name, "-w", str(ws.root)]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "hint:" in out


def test_cli_train_refuses_a_missing_build(tmp_path, capsys):
    from ftui.cli import main

    root = write_workspace(tmp_path / "ws", "smollm2-135m-instruct")
    assert main(["train", str(root), "--build", "nope"]) == 2
    assert "no build 'nope'" in capsys.readouterr().err
    assert main(["train", str(root), "--resume", "nope"]) == 2
