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


def test_a_stop_is_asked_by_sigterm_or_by_the_stop_file(tmp_path):
    import os
    import signal

    import pytest

    from ftui.core.base import jobs
    from ftui.engine.child import Cancelled, StopRequest

    by_file = StopRequest(tmp_path / "a")
    (tmp_path / "a").mkdir()
    by_file.check()  # nothing asked: the work goes on
    (tmp_path / "a" / jobs.STOP).touch()
    with pytest.raises(Cancelled):
        by_file.check()

    before = signal.getsignal(signal.SIGTERM)
    by_signal = StopRequest(tmp_path / "b").install()
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        assert by_signal.requested  # the handler only notes it; the work stops where it looks
        with pytest.raises(Cancelled):
            by_signal.check()
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if before is None else before)


def test_every_child_hints_at_memory_the_same_way(tmp_path):
    from ftui.engine.child import memory_hint

    for exc in (
        MemoryError(),
        RuntimeError("CUDA out of memory. Tried to allocate"),
        OSError("Cannot allocate memory"),
    ):
        assert memory_hint(exc, "lower eval.batch_size") == "out of memory: lower eval.batch_size"
    assert memory_hint(ValueError("bad row"), "lower eval.batch_size") is None
