"""The event wire format: versioned lines, validation, whole-line reads by offset."""

from __future__ import annotations

import json
import threading

import pytest

from ftui.core.base import events


def test_make_stamps_version_type_and_time():
    ev = events.make("log", step=1, max_steps=10, loss=2.5)
    assert ev["v"] == events.SCHEMA_VERSION and ev["type"] == "log" and isinstance(ev["t"], float)


@pytest.mark.parametrize(
    "bad, msg",
    [
        ({"v": 1, "type": "log", "t": 1.0, "step": 1, "max_steps": 2}, "missing loss"),
        ({"v": 2, "type": "heartbeat", "t": 1.0}, "schema version"),
        ({"v": 1, "type": "nope", "t": 1.0}, "unknown event type"),
        ({"v": 1, "type": "heartbeat"}, "timestamp"),
        ([1, 2], "object"),
    ],
)
def test_validate_rejects(bad, msg):
    with pytest.raises(ValueError, match=msg):
        events.validate(bad)


def test_encode_turns_nan_into_null_and_ends_the_line():
    line = events.encode(events.make("log", step=1, max_steps=2, loss=float("nan"), grad_norm=float("inf")))
    assert line.endswith("\n") and line.count("\n") == 1
    data = json.loads(line)
    assert data["loss"] is None and data["grad_norm"] is None


def test_read_events_leaves_a_half_written_line_for_later(tmp_path):
    path = tmp_path / "events.jsonl"
    with events.EventWriter(path) as w:
        w.emit("status", message="one")
        w.emit("heartbeat")
    partial = events.encode(events.make("eval", step=3, eval_loss=1.5))
    with open(path, "a") as fh:
        fh.write("not json\n")
        fh.write(partial[:10])
    evs, off = events.read_events(path)
    assert [e["type"] for e in evs] == ["status", "heartbeat"]  # the foreign line is skipped
    with open(path, "a") as fh:
        fh.write(partial[10:])
    more, off2 = events.read_events(path, off)
    assert [e["type"] for e in more] == ["eval"] and off2 == path.stat().st_size
    assert events.read_events(path, off2) == ([], off2)
    assert events.read_events(tmp_path / "missing.jsonl", 7) == ([], 7)


def test_writer_lines_never_interleave_across_threads(tmp_path):
    path = tmp_path / "events.jsonl"
    w = events.EventWriter(path)

    def spam(i):
        for n in range(100):
            w.emit("status", message=f"{i}-{n}-" + "x" * 500)

    threads = [threading.Thread(target=spam, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    w.close()
    w.emit("heartbeat")  # after close: dropped, not an error
    evs, _ = events.read_events(path)
    assert len(evs) == 400
    assert len(path.read_text().splitlines()) == 400
