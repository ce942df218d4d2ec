"""How every detached child ends its events file: finished, cancelled or failed, then closed."""

from __future__ import annotations

from ftui.core.base.events import read_events
from ftui.engine.child import ChildEnd


class Stop(Exception):
    pass


def _end(path, done):
    return ChildEnd(path, cancel_on=(Stop,), cancelled=lambda: {"step": done[0]}, hint=lambda exc: f"hint: {exc}")


def _types(path):
    return [e["type"] for e in read_events(path)[0] if e["type"] != "heartbeat"]


def test_a_clean_end_keeps_the_childs_own_last_event_and_exits_0(tmp_path):
    path = tmp_path / "events.jsonl"
    end = _end(path, [0])
    with end:
        end.emit("finished", report="r.json")
    assert end.exit_code == 0 and _types(path) == ["finished"]


def test_a_cancel_reports_its_fields_at_that_moment(tmp_path):
    path = tmp_path / "events.jsonl"
    done = [0]
    end = _end(path, done)
    with end:
        done[0] = 7
        raise Stop()
    last = [e for e in read_events(path)[0] if e["type"] != "heartbeat"][-1]
    assert end.exit_code == 1 and last["type"] == "cancelled" and last["step"] == 7


def test_a_failure_reports_the_error_its_traceback_and_hint(tmp_path):
    path = tmp_path / "events.jsonl"
    end = _end(path, [0])
    with end:
        raise ValueError("bad shard")
    last = [e for e in read_events(path)[0] if e["type"] != "heartbeat"][-1]
    assert end.exit_code == 1 and last["type"] == "failed"
    assert last["error"] == "ValueError: bad shard" and last["hint"] == "hint: bad shard"
    assert any("raise ValueError" in line for line in last["traceback_tail"])


def test_an_interrupt_outside_cancel_on_is_reported_as_a_failure(tmp_path):
    path = tmp_path / "events.jsonl"
    end = _end(path, [0])
    with end:
        raise KeyboardInterrupt()
    # The child goes on to return its exit code: the event is its report, nothing is re-raised.
    assert end.exit_code == 1 and _types(path)[-1] == "failed"
