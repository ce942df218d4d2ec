import json

import pytest

from ftui.cli import main
from ftui.core.base import jobs
from tests.fixtures.eval_run import make_eval_workspace, write_fixture_run


@pytest.fixture
def fixture_run(tmp_path):
    adapter = tmp_path / "adapter-src"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    ws, run_dir = make_eval_workspace(tmp_path / "ws", tmp_path / "model", adapter)
    write_fixture_run(ws, run_dir)
    return ws, run_dir


def test_report_prints_tables_and_json(fixture_run, capsys):
    ws, run_dir = fixture_run
    assert main(["report", "latest", "-w", str(ws.root)]) == 0
    out = capsys.readouterr().out
    assert "Targeted cluster: wrong_symbol (3 items)" in out
    assert "Regressions: ok-2" in out and "Verdict: INCONCLUSIVE" in out and "Ship gate: BLOCKED" in out
    assert "95% CI" in out and "mid-p=" in out and "smallest detectable change" in out
    assert "ok-2" in out.split("reason (tuned)")[1]
    assert main(["report", run_dir.name[:8], "-w", str(ws.root), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["buckets"]["regressed"] == 1 and len(data["items"]) == 9
    assert main(["report", "-w", str(ws.root), "--gate", "--summary"]) == 1


def test_postmortem_command_writes_markdown(fixture_run, capsys):
    ws, run_dir = fixture_run
    assert main(["postmortem", run_dir.name, "-w", str(ws.root), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["path"] == str(run_dir / "postmortem.md")
    assert "## 5. Was fine-tuning the right rung?" in (run_dir / "postmortem.md").read_text()


def test_report_before_eval_is_a_one_line_error(tmp_path, capsys):
    ws, _run_dir = make_eval_workspace(tmp_path / "ws", tmp_path / "model")
    assert main(["report", "-w", str(ws.root)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "report.json: no report yet" in err


def test_eval_of_unfinished_run_is_refused(tmp_path, capsys):
    ws, _run_dir = make_eval_workspace(tmp_path / "ws", tmp_path / "model")
    assert main(["eval", "-w", str(ws.root)]) == 2
    assert "has no adapter yet" in capsys.readouterr().err


def test_report_vs_another_run(fixture_run, capsys):
    import shutil

    ws, run_dir = fixture_run
    other = run_dir.with_name("20260102-000000-sft")
    shutil.copytree(run_dir, other)
    assert main(["report", run_dir.name, "-w", str(ws.root), "--vs", other.name]) == 0
    out = capsys.readouterr().out
    assert out.startswith("vs ") and "9 items graded by both, 9 alike" in out
    assert main(["report", run_dir.name, "-w", str(ws.root), "--vs", other.name, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["counts"] == {"same": 9}


def test_eval_progress_line_names_every_side_as_it_begins():
    from ftui.core.judge.texts import eval_progress

    st = jobs.JobState("running")
    for side, done, cached in (("base", 77, 5), ("tuned", 77, 0), ("fewshot", 22, 0)):
        jobs.fold(
            [{"v": 1, "type": "progress", "t": 0.0, "side": side, "done": done, "total": 77, "cached": cached}], st
        )
    assert eval_progress(st) == "base 77/77 (5 cached) · tuned 77/77 · fewshot 22/77"
