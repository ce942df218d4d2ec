"""A workspace whose state the previous layout of the code wrote opens in this one.

tests/fixtures/previous_version_state is the sample workspace's `.ftui/` as the version before the
one-package-per-step layout wrote it: the shipped review file imported, one item skipped, the
`wrong_fact` cluster renamed, a build of `prose_instead_of_json`, and a 2-step SFT run of it on CPU
(its adapter and checkpoints left out). Absolute paths in it read `@WORKSPACE@`; the copy below
puts the test's workspace there, as if the folder had always been where it is now.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample_data"
OLD_STATE = REPO / "tests" / "fixtures" / "previous_version_state"
RUN_ID = "20261207-045232-sft"
BUILD_ID = "cc53ddc296a9"


@pytest.fixture
def old_ws(tmp_path: Path) -> Path:
    ws = tmp_path / "sample"
    ws.mkdir()
    shutil.copy(SAMPLE / "ftui.yaml", ws / "ftui.yaml")
    shutil.copy(SAMPLE / "run_log.jsonl", ws / "run_log.jsonl")
    shutil.copytree(SAMPLE / "general_tasks", ws / "general_tasks")
    shutil.copytree(OLD_STATE, ws / ".ftui")
    for path in (ws / ".ftui").rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            if "@WORKSPACE@" in text:
                path.write_text(text.replace("@WORKSPACE@", str(ws)), encoding="utf-8")
    return ws


def ftui(ws: Path, *args: str) -> Any:
    """`ftui ARGS --json` on the workspace as a user runs it, from another folder."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    res = subprocess.run(
        [sys.executable, "-m", "ftui", *args, str(ws), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ws.parent,
        env=env,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    return json.loads(res.stdout)


def test_status_reads_the_old_corrections(old_ws: Path) -> None:
    status = ftui(old_ws, "status")
    assert (status["items"], status["failures"]) == (135, 95)
    # 65 imported from the review file and one skipped, all from the old journal.
    assert (status["corrected"], status["skipped"], status["corrections_total"]) == (65, 1, 66)
    assert status["corrections_not_in_log"] == 0 and status["stale"] == 0


def test_runs_reads_the_old_run(old_ws: Path) -> None:
    (run,) = ftui(old_ws, "runs")
    assert run["id"] == RUN_ID and run["state"] == "finished"
    assert (run["method"], run["build_id"], run["step"], run["max_steps"]) == ("sft", BUILD_ID, 2, 2)
    assert run["best_eval_loss"] == pytest.approx(0.4336, abs=1e-4) and run["best_step"] == 2
    assert run["adapter"] == str(old_ws / ".ftui" / "runs" / RUN_ID / "adapter")


def test_clusters_read_the_old_overlay_and_corrections(old_ws: Path) -> None:
    clusters = {c["label"]: c for c in ftui(old_ws, "clusters")["clusters"]}
    assert set(clusters) == {"prose_instead_of_json", "ignores_test_evidence", "vague_summary", "wrong_library_fact"}
    assert clusters["wrong_library_fact"]["description"] == "renamed from wrong_fact"
    assert (clusters["prose_instead_of_json"]["corrected"], clusters["prose_instead_of_json"]["remaining"]) == (65, 0)
    assert (clusters["ignores_test_evidence"]["skipped"], clusters["ignores_test_evidence"]["remaining"]) == (1, 13)


def test_builds_reads_the_old_build(old_ws: Path) -> None:
    (build,) = ftui(old_ws, "builds")
    assert build["build_id"] == BUILD_ID


def test_the_old_run_names_an_engine_command_that_still_resolves() -> None:
    # The only module path in the state: the argv the run's child was started with, `-m ftui.engine
    # train RUN`. The engine's name table must still know the command and find its module.
    from ftui.engine.__main__ import COMMANDS

    argv = json.loads((OLD_STATE / "runs" / RUN_ID / "launch.json").read_text(encoding="utf-8"))["argv"]
    assert argv[1:3] == ["-m", "ftui.engine"]
    assert importlib.util.find_spec(argv[2]) is not None
    module, _ = COMMANDS[argv[3]]
    assert importlib.util.find_spec(module) is not None
