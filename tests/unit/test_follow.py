"""Following a job: the one loop ends at a final event, or when the liveness rule calls the job dead,
and never loses a final event written just before that verdict."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

from ftui.commands import follow
from ftui.core.base import events, jobs
from ftui.core.base.events import EventWriter


def _job(tmp_path, pid: int):
    d = tmp_path / "job"
    d.mkdir()
    (d / jobs.CONFIG).write_text(json.dumps({"name": "x"}))
    (d / jobs.PID).write_text(f"{pid}\n")
    return d


def _gone_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_live_job_is_followed_to_its_final_event_with_one_line_per_change(tmp_path, capsys):
    d = _job(tmp_path, os.getpid())  # a live process: only a final event ends the follow
    shown = {n: threading.Event() for n in (0, 1, 2)}

    def line(st: jobs.JobState) -> str:
        done = st.overall.get("done", 0)
        shown[done].set()
        return f"copy {done}/2"

    def child() -> None:
        # Each step waits until the follower has shown the one before: no timing in the test.
        with EventWriter(d / jobs.EVENTS) as w:
            w.emit("started", pid=os.getpid())
            assert shown[0].wait(10)
            w.emit("progress", done=1, total=2, unit="files")
            assert shown[1].wait(10)
            w.emit("progress", done=1, total=2, unit="files")
            w.emit("progress", done=2, total=2, unit="files")
            assert shown[2].wait(10)
            w.emit("finished", out="/x")

    t = threading.Thread(target=child)
    t.start()
    st = follow.job(d, line)
    t.join()
    assert st.state == "finished" and st.result["out"] == "/x" and st.config == {"name": "x"}
    # A line each time it changed, none after the end.
    assert capsys.readouterr().err.splitlines() == ["  copy 0/2", "  copy 1/2", "  copy 2/2"]


def test_a_job_whose_process_is_gone_without_a_final_event_is_dead(tmp_path):
    d = _job(tmp_path, _gone_pid())
    with EventWriter(d / jobs.EVENTS) as w:
        w.emit("started")
        w.emit("progress", done=1, total=4)
    st = follow.job(d, lambda s: "", quiet=True)
    assert st.state == "dead" and st.overall == {"done": 1, "total": 4}


def test_a_silent_child_is_not_dead_before_the_liveness_rule_says_so(tmp_path):
    d = _job(tmp_path, os.getpid())
    with EventWriter(d / jobs.EVENTS) as w:
        w.emit("started")
    t = time.time()
    assert jobs.job_state(d, now=t + jobs.DEAD_AFTER_S - 1).state == "running"
    assert jobs.job_state(d, now=t + jobs.DEAD_AFTER_S + 5).state == "dead"


def test_a_final_event_written_just_before_the_dead_verdict_is_not_lost(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(events.encode(events.make("started")))

    def gone() -> bool:
        # The child wrote its end and exited between the follower's read and its liveness check.
        with EventWriter(path) as w:
            w.emit("failed", error="boom")
        return True

    got = list(jobs.Tail(path).follow(interval=0.01, gone=gone))
    assert [e["type"] for e in got] == ["started", "failed"]


def test_batches_stop_at_the_first_final_event_and_run_the_step_before_each_read(tmp_path):
    path = tmp_path / "events.jsonl"
    steps = []

    def step() -> None:
        # What a hosted watch does: poll the service, which appends the job's events.
        steps.append(1)
        kinds = {1: ["started"], 2: [], 3: ["progress", "finished", "heartbeat"]}.get(len(steps), [])
        with EventWriter(path) as w:
            for k in kinds:
                w.emit(k, **({"done": 1, "total": 1} if k == "progress" else {}))

    got = list(jobs.Tail(path).batches(interval=0.01, step=step))
    assert [[e["type"] for e in b] for b in got] == [["started"], [], ["progress", "finished"]] and len(steps) == 3


def test_waiting_for_a_condition_gives_up_at_its_timeout():
    calls = []
    assert jobs.wait_for(lambda: calls.append(1) or len(calls) == 3, timeout=5, interval=0.01)
    assert not jobs.wait_for(lambda: False, timeout=0.05, interval=0.01)
