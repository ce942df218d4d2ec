"""Job starters check what they can before a child is spawned, and answer with the fix."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from ftui.cli import main
from ftui.core.base import jobs, stack
from ftui.core.base.errors import InputError
from ftui.core.runs import runs
from tests.fixtures.eval_run import make_eval_workspace, write_fixture_run


@pytest.fixture
def no_torch(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))


@pytest.fixture
def spawned(monkeypatch):
    calls: list = []
    monkeypatch.setattr(jobs, "start_child", lambda *a, **k: calls.append(a) or 0)
    return calls


@pytest.fixture
def fixture_run(tmp_path):
    adapter = tmp_path / "adapter-src"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    ws, run_dir = make_eval_workspace(tmp_path / "ws", tmp_path / "model", adapter)
    write_fixture_run(ws, run_dir)
    return ws, run_dir


def _build(ws, rows: str = "") -> Path:
    b = Path(ws.root) / ("build-with-rows" if rows else "empty-build")
    b.mkdir()
    (b / "manifest.json").write_text(json.dumps({"build_id": b.name}))
    (b / "train.jsonl").write_text(rows)
    return b


def test_missing_names_the_modules(no_torch):
    assert "torch" in stack.missing()
    with pytest.raises(stack.StackMissing, match=r"torch is not installed: pip install 'ftui\[train\]'"):
        stack.require_train_stack()


def test_an_empty_build_is_refused_with_write_corrections_first(fixture_run, spawned):
    ws, _ = fixture_run
    before = sorted(Path(ws.state.runs).iterdir())
    with pytest.raises(InputError, match="no training rows: write corrections first"):
        runs.create_run(ws, _build(ws))
    assert sorted(Path(ws.state.runs).iterdir()) == before and spawned == []


def test_cli_train_without_the_stack_answers_with_the_install_command(fixture_run, no_torch, spawned, capsys):
    ws, _ = fixture_run
    before = sorted(Path(ws.state.runs).iterdir())
    rows = _build(ws, json.dumps({"messages": [{"role": "user", "content": "q"}]}) + "\n")
    code = main(["train", "-w", str(ws.root), "--build", str(rows)])
    err = capsys.readouterr().err
    assert code != 0 and "pip install 'ftui[train]'" in err and "Traceback" not in err
    assert spawned == [] and sorted(Path(ws.state.runs).iterdir()) == before


def test_cli_eval_without_the_stack_answers_with_the_install_command(fixture_run, no_torch, spawned, capsys):
    ws, run_dir = fixture_run
    code = main(["eval", run_dir.name, "-w", str(ws.root)])
    err = capsys.readouterr().err
    assert code != 0 and "an evaluation needs the training stack" in err and "pip install 'ftui[train]'" in err
    assert spawned == []


def test_exports_and_local_drafting_refuse_without_the_stack(fixture_run, no_torch, spawned, monkeypatch):
    from ftui.core.curate.clusters import cluster_failures
    from ftui.core.curate.drafts import job as draft_job
    from ftui.core.curate.drafts.teacher import Teacher
    from ftui.core.logs.runlog import load_run_log
    from ftui.core.ship import exports

    ws, run_dir = fixture_run
    monkeypatch.setattr(exports, "check_architecture", lambda *a: None)
    with pytest.raises(stack.StackMissing, match=r"a merged export needs the training stack"):
        exports.prepare_export(ws, run_dir, "merged", None, None, False)
    exports.prepare_export(ws, run_dir, "adapter", None, None, False)  # files only: no stack needed
    cluster = next(c for c in cluster_failures(ws, load_run_log(ws)).clusters if c.items)
    with pytest.raises(stack.StackMissing, match="drafting with the local model"):
        draft_job.start_drafting(ws, cluster, Teacher(model=ws.model))
    assert spawned == []
