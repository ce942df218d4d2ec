"""`ftui forgetting`: its one-line refusals, what an interrupted check prints, and the table in
`ftui report` and the postmortem once the check has joined the report."""

import json

import pytest

from ftui.cli import main
from ftui.core.base.events import EventWriter
from ftui.core.judge import forgetting
from tests.fixtures.eval_run import make_eval_workspace, write_fixture_run


@pytest.fixture
def fixture_run(tmp_path):
    adapter = tmp_path / "adapter-src"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    (tmp_path / "tasks").mkdir()
    extra = "  forgetting:\n    tasks: [sample_arithmetic, sample_facts]\n    include_path: ../tasks\n    limit: 8\n"
    ws, run_dir = make_eval_workspace(tmp_path / "ws", tmp_path / "model", adapter, extra_config=extra)
    write_fixture_run(ws, run_dir)
    return ws, run_dir


def fake_child(outcome, rows):
    def start(ws, run_ref, limit=None, tasks=None):
        cfg = forgetting.plan(ws, run_ref, limit=limit, tasks=tasks)
        d = forgetting.job_dir(run_ref)
        d.mkdir(parents=True, exist_ok=True)
        (d / forgetting.CONFIG).write_text(json.dumps(cfg))
        result = {"tasks": rows, "errors": [], "complete": outcome == "finished", "max_drop": 0.05, "limit": 8}
        result["adapter_fingerprint"] = cfg["adapter_fingerprint"]
        (d / forgetting.RESULT).write_text(json.dumps(result))
        with EventWriter(d / forgetting.EVENTS) as w:
            w.emit("started", items=2, sides=["base", "tuned"])
            if outcome == "finished":
                forgetting.attach(run_ref)
                w.emit("finished", report=str(d / forgetting.RESULT))
            else:
                w.emit("cancelled", step=1, checkpoint=None)
        return run_ref, 0

    return start


ROWS = [
    forgetting.compare_task(
        "sample_arithmetic", "acc", {str(i): 1 for i in range(8)}, {str(i): int(i < 5) for i in range(8)}, 0.05
    ),
    forgetting.compare_task(
        "sample_facts", "acc", {str(i): int(i < 4) for i in range(8)}, {str(i): int(i < 4) for i in range(8)}, 0.05
    ),
]


def test_without_tasks_the_check_is_refused_in_one_line(tmp_path, capsys):
    adapter = tmp_path / "adapter-src"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    ws, _ = make_eval_workspace(tmp_path / "ws", tmp_path / "model", adapter)
    assert main(["forgetting", "-w", str(ws.root)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no general tasks to check: set `eval.forgetting.tasks`" in err


def test_an_interrupted_check_prints_what_it_kept(fixture_run, capsys, monkeypatch):
    ws, run_dir = fixture_run
    monkeypatch.setattr(forgetting, "start", fake_child("cancelled", ROWS[:1]))
    assert main(["forgetting", "-w", str(ws.root), "--follow"]) == 1
    out = capsys.readouterr().out.strip()
    assert out == (
        f"forgetting check of {run_dir.name} interrupted; 1 task(s) measured and kept (sample_arithmetic); "
        f"`ftui forgetting {run_dir.name}` measures the rest"
    )


def test_a_finished_check_joins_the_report_and_the_postmortem(fixture_run, capsys, monkeypatch):
    ws, run_dir = fixture_run
    monkeypatch.setattr(forgetting, "start", fake_child("finished", ROWS))
    assert main(["forgetting", "-w", str(ws.root), "--follow"]) == 1  # a flagged drop: exit 1, like a failed gate
    out = capsys.readouterr().out
    assert (
        "sample_arithmetic" in out
        and "DROP" in out
        and "Dropped beyond eval.forgetting.max_drop: sample_arithmetic" in out
    )
    assert main(["report", "-w", str(ws.root), "--summary"]) == 0
    out = capsys.readouterr().out
    assert "General tasks (forgetting check, lm-evaluation-harness, at most 8 documents a task):" in out
    assert "General tasks dropped beyond eval.forgetting.max_drop (5 pts): sample_arithmetic -37.5 pts" in out
    assert main(["postmortem", "-w", str(ws.root)]) == 0
    md = (run_dir / "postmortem.md").read_text()
    assert (
        "Beyond the benchmark: 2 general task(s) through lm-evaluation-harness, at most 8 documents each; 1 dropped"
        in md
    )
    assert "| sample_arithmetic ✘ | acc | 8 | 100.0% | 62.5% | -37.5 pts |" in md
