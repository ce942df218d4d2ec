"""A copied or moved workspace keeps working: state files store paths relative to the workspace."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ftui.core.base.paths import read_path, store_path
from ftui.core.runs import runs
from ftui.core.ship import exports
from ftui.core.workspace.workspace import Workspace
from tests.fixtures.eval_run import make_eval_workspace, write_fixture_run


def test_store_and_read_paths(tmp_path):
    ws = tmp_path / "ws"
    (ws / "state" / "runs" / "r1").mkdir(parents=True)
    (ws / "ftui.yaml").write_text("")
    build = ws / "state" / "builds" / "b1"
    build.mkdir(parents=True)
    run = ws / "state" / "runs" / "r1"
    assert store_path(build, run) == "../../builds/b1"
    assert read_path("../../builds/b1", run) == build.resolve()
    outside = tmp_path / "models" / "m"
    assert store_path(outside, run) == str(outside.resolve())  # outside the workspace: absolute
    # An absolute path of the workspace's old place is moved to where the run is now.
    moved = tmp_path / "moved"
    shutil.copytree(ws, moved)
    old = str(build)
    # The copy reads its own build, not the original's, while the original is still there...
    assert read_path(old, moved / "state" / "runs" / "r1", str(ws)) == moved.resolve() / "state" / "builds" / "b1"
    assert read_path(old, run, str(ws)) == build  # ...and the original its own.
    shutil.rmtree(ws)
    assert read_path(old, moved / "state" / "runs" / "r1", str(ws)) == moved.resolve() / "state" / "builds" / "b1"


def test_a_copied_workspace_opens_with_its_runs_and_builds(tmp_path):
    adapter = tmp_path / "adapter-src"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    ws, run_dir = make_eval_workspace(tmp_path / "ws", tmp_path / "model", adapter)
    write_fixture_run(ws, run_dir)
    build = Path(runs.read_run_config(run_dir)["build_dir"])
    # A run written the new way: the build stored relative to the run folder.
    fresh = runs.new_run_dir(ws.state.runs, "sft")
    cfg = json.loads((run_dir / "config.json").read_text())
    cfg["build_dir"] = store_path(build, fresh)
    (fresh / "config.json").write_text(json.dumps(cfg))
    assert not Path(cfg["build_dir"]).is_absolute()

    copy = tmp_path / "elsewhere" / "ws"
    shutil.copytree(ws.root, copy)
    shutil.rmtree(ws.root)  # the original is gone: nothing may point there
    ws2 = Workspace.load(copy)
    for rd in (Path(ws2.state.runs) / run_dir.name, Path(ws2.state.runs) / fresh.name):
        got = runs.read_run_config(rd)
        assert Path(got["build_dir"]).is_relative_to(copy.resolve()) and Path(got["build_dir"]).is_dir()
        assert got["workspace"] == str(copy.resolve())
    assert {r.id for r in runs.list_runs(ws2)} >= {run_dir.name, fresh.name}


def test_export_configs_store_their_paths_relative_and_read_them_back_absolute(tmp_path, monkeypatch):
    adapter = tmp_path / "adapter-src"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    ws, run_dir = make_eval_workspace(tmp_path / "ws", tmp_path / "model", adapter)
    write_fixture_run(ws, run_dir)
    monkeypatch.setattr(exports, "check_architecture", lambda *a: None)
    jd = exports.prepare_export(ws, run_dir, "adapter", None, None, False)
    raw = json.loads((jd / exports.CONFIG).read_text())
    assert not Path(raw["out"]).is_absolute() and not Path(raw["run_dir"]).is_absolute()
    copy = tmp_path / "copy"
    shutil.copytree(ws.root, copy)
    jd2 = copy / jd.relative_to(ws.root)
    cfg = exports.read_config(jd2)
    assert Path(cfg["out"]).is_relative_to(copy.resolve()) and cfg["run_dir"] == str(
        (copy / run_dir.relative_to(ws.root)).resolve()
    )
