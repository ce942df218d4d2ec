"""The demo's --forgetting step follows the check's child through its events, like the evaluation."""

import json
import os

import pytest

from ftui.core.base.events import EventWriter
from ftui.core.judge import forgetting
from ftui.sample.demo import DemoError, _follow_forgetting


def child_events(run_dir, *events):
    d = forgetting.job_dir(run_dir)
    d.mkdir(parents=True)
    (d / forgetting.CONFIG).write_text(json.dumps({}))
    (d / "pid").write_text(str(os.getpid()))
    with EventWriter(d / forgetting.EVENTS) as w:
        for kind, fields in events:
            w.emit(kind, **fields)


def test_the_demo_logs_the_checks_lines_and_returns_its_final_event(tmp_path):
    child_events(
        tmp_path,
        ("started", {"items": 2}),
        ("status", {"message": "sample_arithmetic: base"}),
        ("status", {"message": "unknown task 'x': not an lm-eval task"}),
        ("finished", {"report": "r"}),
    )
    lines = []
    assert _follow_forgetting(tmp_path, lines.append, 0.01)["type"] == "finished"
    assert lines == ["  forgetting: sample_arithmetic: base", "  forgetting: unknown task 'x': not an lm-eval task"]


def test_an_interrupted_check_stops_the_demo_with_its_reason(tmp_path):
    child_events(tmp_path, ("started", {"items": 2}), ("cancelled", {"step": 1}))
    with pytest.raises(DemoError, match="forgetting check cancelled"):
        _follow_forgetting(tmp_path, lambda line: None, 0.01)
