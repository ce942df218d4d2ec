"""The forgetting check through lm-evaluation-harness on the tiny model: local tasks in lm-eval's
format (tests/fixtures/general_tasks), base and a trained adapter from one load, and what happens
when a task cannot run or the check is interrupted."""

import json
from pathlib import Path

import pytest

from ftui.core.base.events import read_events
from ftui.core.judge import evalrun, forgetting
from ftui.core.judge.compare import load_report
from ftui.engine.child import Cancelled
from ftui.engine.infer import generate as G
from ftui.engine.judge import forgetting as engine_fg
from ftui.engine.judge.evaluate import main as eval_main
from tests.fixtures.eval_run import make_eval_workspace
from tests.fixtures.tiny_adapter import train_tiny_adapter

pytest.importorskip("lm_eval")

TASKS = Path(__file__).resolve().parents[1] / "fixtures" / "general_tasks"


@pytest.fixture(scope="module")
def adapter(tiny_model_dir, tmp_path_factory):
    # Trained hard towards one answer, so the tuned side's log-likelihoods differ from the base's.
    msgs = [{"role": "user", "content": "Question: What is 2 + 3?\nAnswer:"}]
    return train_tiny_adapter(
        tiny_model_dir, tmp_path_factory.mktemp("fg-adapter") / "adapter", msgs, "utils/security.py", steps=60, lr=3e-2
    )


def workspace(tmp_path, tiny_model_dir, adapter, tasks, limit=6, max_drop=0.05):
    extra = (
        f"  forgetting:\n    tasks: {json.dumps(tasks)}\n    include_path: {TASKS}\n"
        f"    limit: {limit}\n    max_drop: {max_drop}\n    batch_size: 4\n"
    )
    return make_eval_workspace(tmp_path / "ws", tiny_model_dir, adapter, extra_config=extra)


def write_plan(ws, run_dir, **kw):
    cfg = forgetting.plan(ws, run_dir, **kw)
    d = forgetting.job_dir(run_dir)
    d.mkdir(parents=True, exist_ok=True)
    (d / forgetting.CONFIG).write_text(json.dumps(cfg))
    (d / forgetting.EVENTS).unlink(missing_ok=True)
    return cfg


def events(run_dir):
    evs, _ = read_events(forgetting.job_dir(run_dir) / forgetting.EVENTS)
    return evs


def test_check_puts_per_task_figures_in_the_report_and_caches_the_base(tiny_model_dir, adapter, tmp_path):
    ws, run_dir = workspace(tmp_path, tiny_model_dir, adapter, ["tiny_facts", "tiny_arith"], max_drop=0.0)
    evalrun.write_plan(evalrun.plan_eval(ws, run_dir))
    assert eval_main(run_dir) == 0
    write_plan(ws, run_dir)
    loads = G.LOADS
    assert engine_fg.main(run_dir) == 0
    assert loads + 1 == G.LOADS  # one load: the adapter is switched off for the base side
    result = forgetting.read_result(run_dir)
    assert result["complete"] and not result["errors"]
    rows = {r["task"]: r for r in result["tasks"]}
    assert set(rows) == {"tiny_facts", "tiny_arith"}
    for r in rows.values():
        assert r["metric"] == "acc" and r["n"] == 6 and r["paired"]
        assert 0 <= r["base"] <= 1 and 0 <= r["tuned"] <= 1
        assert r["ci"][0] <= r["change"] <= r["ci"][1]
        assert r["flagged"] == (r["change"] < 0)
    assert result["measured"] == {"base": 2, "tuned": 2, "base_cached": 0, "tuned_cached": 0}

    # The evaluation's report now carries the table, and the verdict was decided again with it.
    report = load_report(run_dir / "eval" / "report.json")
    assert [r["task"] for r in report["forgetting"]["tasks"]] == [r["task"] for r in result["tasks"]]
    flagged = [r["task"] for r in result["tasks"] if r["flagged"]]
    assert report["verdict"]["forgetting_flagged"] == flagged
    if flagged:
        assert report["verdict"]["verdict"] != "ship" and not report["verdict"]["ship"]
        assert any("General tasks dropped" in a for a in report["verdict"]["advice"])

    # A second check of the same model (another run, same adapter here) measures no base task again.
    write_plan(ws, run_dir)
    (forgetting.job_dir(run_dir) / forgetting.TUNED_CACHE).rename(forgetting.job_dir(run_dir) / "old")
    assert engine_fg.main(run_dir) == 0
    again = forgetting.read_result(run_dir)
    assert again["measured"] == {"base": 0, "tuned": 2, "base_cached": 2, "tuned_cached": 0}
    assert [r["base"] for r in again["tasks"]] == [r["base"] for r in result["tasks"]]


def test_unknown_task_and_missing_dataset_each_get_one_line_and_the_rest_runs(tiny_model_dir, adapter, tmp_path):
    ws, run_dir = workspace(
        tmp_path, tiny_model_dir, adapter, ["tiny_fact", "broken_data", "arc_easy", "tiny_facts"], limit=4
    )
    write_plan(ws, run_dir)
    assert engine_fg.main(run_dir) == 0
    result = forgetting.read_result(run_dir)
    assert [r["task"] for r in result["tasks"]] == ["tiny_facts"]
    errors = result["errors"]
    assert len(errors) == 3 and all("\n" not in e for e in errors)
    assert errors[0].startswith("unknown task 'tiny_fact'") and "did you mean 'tiny_facts'" in errors[0]
    assert errors[1].startswith("task 'broken_data': its dataset is not on this machine")
    assert errors[2].startswith("task 'arc_easy': its dataset is not on this machine")
    statuses = [e.get("message") for e in events(run_dir) if e["type"] == "status"]
    assert all(e in statuses for e in errors)


def test_an_interrupted_check_keeps_the_finished_tasks(tiny_model_dir, adapter, tmp_path, monkeypatch):
    ws, run_dir = workspace(tmp_path, tiny_model_dir, adapter, ["tiny_facts", "tiny_arith"], limit=4)
    write_plan(ws, run_dir)
    real = engine_fg.Check.run_task
    calls = []

    def interrupted_on_the_fourth(self, tm, name, folder):
        calls.append(name)
        if len(calls) == 4:  # tiny_arith's tuned side: as if SIGTERM arrived mid-task
            raise Cancelled()
        return real(self, tm, name, folder)

    monkeypatch.setattr(engine_fg.Check, "run_task", interrupted_on_the_fourth)
    assert engine_fg.main(run_dir) == 1
    evs = events(run_dir)
    assert evs[-1]["type"] == "cancelled"
    line = [e["message"] for e in evs if e["type"] == "status"][-1]
    assert line == "interrupted: 1 task(s) measured and kept (tiny_facts); run the check again to measure the rest"
    st = forgetting.state(run_dir)
    assert st.state == "cancelled"
    from ftui.core.judge.texts import forgetting_outcome

    again = f"`ftui forgetting {run_dir.name}`"
    assert forgetting_outcome(run_dir.name, st, forgetting.read_result(run_dir), again) == (
        f"forgetting check of {run_dir.name} interrupted; 1 task(s) measured and kept (tiny_facts); "
        f"`ftui forgetting {run_dir.name}` measures the rest"
    )
    assert [r["task"] for r in forgetting.read_result(run_dir)["tasks"]] == ["tiny_facts"]

    monkeypatch.setattr(engine_fg.Check, "run_task", real)
    write_plan(ws, run_dir)
    assert engine_fg.main(run_dir) == 0
    result = forgetting.read_result(run_dir)
    # Nothing measured before the interruption is measured again: only tiny_arith's tuned side is new.
    assert result["measured"] == {"base": 0, "tuned": 1, "base_cached": 2, "tuned_cached": 1}
    assert result["complete"] and [r["task"] for r in result["tasks"]] == ["tiny_facts", "tiny_arith"]
