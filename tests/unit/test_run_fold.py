"""One fold of the event stream: the runs list, the Train pane and a resume read the same state."""

from __future__ import annotations

import shutil
from pathlib import Path

from ftui.core.base import events
from ftui.core.runs import runs
from ftui.core.runs.fold import RunFold, fold_run
from ftui.tui.panes.train.run_view import RunView

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"


def _ev(kind: str, **fields):
    return events.make(kind, **fields)


def test_best_eval_and_patience_counter():
    f = fold_run(
        [
            _ev("eval", step=10, eval_loss=2.0),
            _ev("eval", step=20, eval_loss=1.5),
            _ev("eval", step=30, eval_loss=1.7),
            _ev("eval", step=40, eval_loss=1.6),
        ]
    )
    assert (f.best_eval, f.best_step, f.evals_since_best, f.eval_loss) == (1.5, 20, 2, 1.6)


def test_an_event_after_a_final_one_makes_the_run_current_again():
    f = RunFold()
    f.apply([_ev("log", step=5, max_steps=10, loss=1.0), _ev("cancelled", step=5, checkpoint="ck")])
    assert (f.state, f.step, f.last_checkpoint) == ("cancelled", 5, "ck")
    f.apply([_ev("heartbeat")])
    assert f.state == "cancelled"  # a heartbeat alone does not revive a run
    f.apply([_ev("status", message="resume requested")])
    assert f.state == "running" and f.final is None and f.message == "resume requested"


def test_every_reader_agrees_on_a_recorded_run(tmp_path):
    src = FIXTURES / "sft_run.jsonl"
    evs, _ = events.read_events(src)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text("{}")
    shutil.copy(src, run_dir / "events.jsonl")
    info = runs.read_state(run_dir)
    view = RunView(run_id="run")
    delta = view.apply(evs)
    f = fold_run(evs)
    assert info.state == view.state == f.state == "finished"
    assert info.step == view.step == f.step
    assert (info.best_eval_loss, info.best_step) == (view.best_eval, view.best_step) == (f.best_eval, f.best_step)
    assert info.message == view.message == f.message
    assert len(delta.train) == sum(1 for e in evs if e["type"] == "log" and e.get("loss") is not None)
    assert view.train_points == delta.train


def test_probe_history_is_read_from_the_one_fold(tmp_path):
    src = Path(__file__).resolve().parents[1] / "tui" / "fixtures" / "events_probes.jsonl"
    evs, _ = events.read_events(src)
    probe_evs = [e for e in evs if e["type"] == "probe"]
    assert probe_evs
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text("{}")
    shutil.copy(src, run_dir / "events.jsonl")
    info = runs.read_state(run_dir)
    view = RunView(run_id="run")
    delta = view.apply(evs)
    f = fold_run(evs)
    assert f.probes == probe_evs and info.last_probe == view.last_probe == f.last_probe == probe_evs[-1]
    last = probe_evs[-1]
    assert delta.probes[-1] == (
        last["step"],
        last["cluster_passed"] / last["cluster_total"],
        last["anchors_passed"] / last["anchors_total"],
    )
    assert view.probe_points == delta.probes and len(delta.probes) == len(probe_evs)
    assert f.probe_at(last["step"]) == last and f.probe_at(-1) is None
    assert [s for s, _ in f.evals] == [e["step"] for e in evs if e["type"] == "eval"]


def test_a_resumed_probe_at_the_same_step_replaces_the_earlier_one():
    first = _ev("probe", step=8, cluster_passed=1, cluster_total=4, anchors_passed=2, anchors_total=2)
    again = _ev("probe", step=8, cluster_passed=3, cluster_total=4, anchors_passed=2, anchors_total=2)
    f = fold_run([_ev("eval", step=8, eval_loss=1.0), first, _ev("eval", step=8, eval_loss=0.9), again])
    assert f.probe_at(8) is again and f.probes == [first, again]
