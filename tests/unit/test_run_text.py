"""A run's current line and its time: the runs list, `ftui logs` and the Train pane say the same."""

from __future__ import annotations

import json
from pathlib import Path

from ftui.core.base import events
from ftui.core.runs import runs
from ftui.core.runs.clock import worked_seconds
from ftui.core.runs.text import finished_text, format_event
from ftui.engine.train.run import _total_runtime
from ftui.tui.panes.train.run_view import RunView

RECORDED = Path(__file__).resolve().parent.parent / "tui" / "fixtures" / "events.jsonl"


def _recorded_until_step(step: int) -> list[dict]:
    out = []
    for line in RECORDED.read_text().splitlines():
        ev = json.loads(line)
        out.append(ev)
        if ev["type"] == "log" and ev["step"] == step:
            return out
    raise AssertionError(f"no step {step} in {RECORDED}")


def _fold(evs: list[dict], tmp_path: Path) -> tuple[runs.RunInfo, RunView]:
    run_dir = tmp_path / "run"
    run_dir.mkdir(exist_ok=True)
    (run_dir / "events.jsonl").write_text("".join(events.encode(e) for e in evs))
    view = RunView(run_id="run")
    view.apply(evs)
    return runs.read_state(run_dir), view


def test_the_runs_list_shows_the_run_as_it_is_now_not_its_first_status(tmp_path):
    evs = _recorded_until_step(8)
    assert evs[0] == {"v": 1, "type": "status", "t": 1700000000.0, "message": "loading model"}
    info, view = _fold(evs, tmp_path)
    assert info.step == view.step == 8
    assert (
        info.message
        == view.detail_line()
        == ("SFT on smollm2-135m-instruct: 1,843,200 trainable params, 24 train / 5 eval examples")
    )


def _resumed_run() -> list[dict]:
    """60 s of work, cancelled, resumed 440 s later, 45 s more: heartbeats every 5 s as the child writes."""
    evs = [{"type": "status", "t": 0.0, "message": "loading model"}]
    evs += [{"type": "heartbeat", "t": float(t)} for t in range(5, 60, 5)]
    evs += [{"type": "cancelled", "t": 60.0, "step": 9, "checkpoint": "checkpoints/checkpoint-9"}]
    evs += [{"type": "status", "t": 500.0, "message": "resume requested"}]
    evs += [{"type": "heartbeat", "t": float(t)} for t in range(502, 545, 5)]
    return [{"v": 1, **e} for e in evs]


def test_a_resumed_run_reports_the_whole_runs_time_and_the_last_part(tmp_path):
    before = _resumed_run()
    assert worked_seconds(before) == 60 + 42
    assert worked_seconds(before, until=545.0) == 60 + 45
    # The engine adds the total to the `finished` event of a resumed run; a fresh run keeps its own time.
    path = tmp_path / "events.jsonl"
    path.write_text("".join(events.encode(e) for e in before))
    assert _total_runtime(path, resume=False) == {}
    assert _total_runtime(path, resume=True)["total_runtime_s"] > 105
    finished = {
        "v": 1,
        "type": "finished",
        "t": 545.0,
        "adapter": "adapter",
        "best_eval_loss": 1.0,
        "best_step": 12,
        "runtime_s": 43.2,
        "total_runtime_s": 105.0,
        "step": 12,
    }
    info, view = _fold([*before, finished], tmp_path)
    text = "finished in 1m45s in all (43s since the resume)"
    assert info.state == "finished" and info.message == view.detail_line() == text
    assert format_event(finished).endswith(f"{text}  best eval_loss 1.0000 at step 12  adapter adapter")
    # A run that was never resumed reads as before.
    assert finished_text({"runtime_s": 50.5}) == "finished in 50s"
    assert finished_text({"runtime_s": 43.0, "total_runtime_s": 43.4}) == "finished in 43s"
