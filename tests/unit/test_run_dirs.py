"""Run folders: local and hosted runs started in the same second each get their own folder."""

from __future__ import annotations

import threading

import pytest

from ftui.core.base import run_dirs
from ftui.core.runs import runs
from ftui.core.workspace.workspace import Workspace
from tests.fixtures.tiny_build import write_workspace


@pytest.fixture
def same_second(monkeypatch):
    monkeypatch.setattr(run_dirs, "_stamp", lambda: "20260101-000000")


def test_runs_started_together_never_share_a_folder(tmp_path, same_second):
    made: list = []
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        made.append(run_dirs.new_run_dir(tmp_path / "runs", "sft"))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    names = sorted(p.name for p in made)
    assert names == sorted(["20260101-000000-sft"] + [f"20260101-000000-sft-{n}" for n in range(2, 9)])
    assert all(p.is_dir() and not any(p.iterdir()) for p in made)


def test_local_and_hosted_runs_take_their_ids_from_one_place(tmp_path, same_second):
    ws = Workspace.load(write_workspace(tmp_path / "ws", "smollm2-135m-instruct"))
    first = runs.create_run(ws, runs.latest_build_dir(ws), {})
    second = runs.create_run(ws, runs.latest_build_dir(ws), {})
    hosted = run_dirs.new_run_dir(ws.state.runs, "hosted-sft")
    assert (first.name, second.name, hosted.name) == (
        "20260101-000000-sft",
        "20260101-000000-sft-2",
        "20260101-000000-hosted-sft",
    )
