"""Hosted runs in the workbench: the run form sends the build to the workspace's `hosted:` service,
the Train pane polls the attached job and draws its curve live, x cancels it, and the Compare pane
evaluates a finished one against the service's base and fine-tuned models."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from ftui.core.base import jobs
from ftui.core.build import builder
from ftui.core.curate.corrections import CorrectionStore
from ftui.core.judge import evalrun
from ftui.core.logs.runlog import load_run_log
from ftui.core.runs import runs
from ftui.core.workspace.workspace import Workspace
from ftui.tui.app import FtuiApp
from ftui.tui.panes.train import pane as train_pane
from ftui.tui.panes.train.run_form import parse_form
from tests.fixtures.ft_server import FineTuneServer
from tests.tui.conftest import settle


@pytest.fixture
def server():
    with FineTuneServer(steps=6, steps_per_poll=1) as srv:
        yield srv


@pytest.fixture
def hosted_ws(ws_dir: Path, server, monkeypatch) -> Workspace:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setattr(train_pane, "HOSTED_POLL_EVERY", 0.1)
    cfg = yaml.safe_load((ws_dir / "ftui.yaml").read_text())
    cfg["hosted"] = {"base_url": server.base_url, "model": "base-small"}
    (ws_dir / "ftui.yaml").write_text(yaml.safe_dump(cfg))
    ws = Workspace.load(ws_dir)
    store = CorrectionStore(ws)
    for item in load_run_log(ws).items:
        if item.label and item.retrieval_hit:
            store.save(item, f"corrected answer for {item.id}")
    builder.build(ws)
    return ws


async def _submit_from_form(pilot, app, epochs: str = "") -> None:
    await settle(pilot, app)
    await pilot.press("N")
    await pilot.pause()
    form = app.screen
    assert type(form).__name__ == "RunFormScreen"
    assert form.query_one("#f-target").value == "local"
    form.query_one("#f-target").value = "hosted"
    form.query_one("#f-epochs").value = epochs
    await pilot.press("ctrl+r")
    await settle(pilot, app)


async def _wait(pilot, cond, timeout: float = 20) -> None:
    t0 = time.monotonic()
    while not cond() and time.monotonic() - t0 < timeout:
        await pilot.pause(0.1)


async def test_form_submits_a_hosted_job_and_the_pane_draws_it_live(hosted_ws, server):
    app = FtuiApp(hosted_ws, start_pane="train", watch_interval=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        # Each poll moves the fake service one step on: polls well apart let the test see every step
        # even when a loaded machine stretches its own checks (the fixture restores the setting).
        train_pane.HOSTED_POLL_EVERY = 0.5
        await _submit_from_form(pilot, app, epochs="2")
        (job,) = server.jobs.values()
        assert job["request"]["method"] == {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}}
        pane = app.screen
        await _wait(pilot, lambda: pane.view is not None and pane.view.run_id.endswith("hosted-sft"))
        seen = []
        await _wait(pilot, lambda: seen.append(pane.view.step) or pane.view.state == "finished", timeout=60)
        assert pane.view.state == "finished"
        assert len({s for s in seen if s}) >= 3, seen  # the curve grew poll by poll
        chart = pane.query_one("#tr-chart")
        assert [p[0] for p in chart.train] == [1, 2, 3, 4, 5, 6]
        assert "step 6/6" in str(pane.query_one("#tr-stats").render())


async def test_x_cancels_the_hosted_job(hosted_ws, server):
    app = FtuiApp(hosted_ws, start_pane="train", watch_interval=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        # Polling is what moves the fake service on: slow it so the job is still running when x comes.
        train_pane.HOSTED_POLL_EVERY = 60.0
        await _submit_from_form(pilot, app)
        pane = app.screen
        await _wait(pilot, lambda: pane.view is not None and pane.view.run_id.endswith("hosted-sft"))
        assert pane.view.state == "running"
        await pilot.press("x", "y")
        await _wait(pilot, lambda: pane.view.state == "cancelled")
        (job,) = server.jobs.values()
        assert job["status"] == "cancelled" and pane.view.state == "cancelled"
        assert runs.read_state(pane.run_dir).state == "cancelled"


async def test_compare_evaluates_a_finished_hosted_run_at_the_service(hosted_ws, server, monkeypatch):
    app = FtuiApp(hosted_ws, start_pane="train", watch_interval=0.1)
    started = []
    monkeypatch.setattr(jobs, "start_child", lambda args, d, log, *a: started.append((args, d)) or 1)
    async with app.run_test(size=(80, 24)) as pilot:
        await _submit_from_form(pilot, app)
        pane = app.screen
        await _wait(pilot, lambda: pane.view is not None and pane.view.state == "finished")
        run_dir = pane.run_dir
        await pilot.press("5")
        await settle(pilot, app)
        await pilot.pause(0.3)
        await pilot.press("E")
        await _wait(pilot, lambda: type(app.screen).__name__ == "PickScreen")
        await pilot.press("j", "enter")  # every item
        await _wait(pilot, lambda: bool(started))
    assert started and started[0][0][:2] == ["eval", str(run_dir.resolve())]
    cfg = json.loads((evalrun.eval_dir(run_dir) / "config.json").read_text())
    (job,) = server.jobs.values()
    assert cfg["tuned_endpoint"]["model"] == job["fine_tuned_model"]
    assert cfg["base_endpoint"] == {"base_url": server.base_url, "model": "base-small", "api_key_env": "OPENAI_API_KEY"}


def test_form_target_is_checked():
    good = {
        "model": "m",
        "lora_r": "8",
        "lora_alpha": "16",
        "learning_rate": "1e-4",
        "max_steps": "10",
        "epochs": "1.5",
        "eval_steps": "5",
        "patience": "0",
        "anchor_kl": "0",
        "rpo_alpha": "0",
        "probes": "16",
        "select_by": "eval_loss",
        "stop_broken_anchors": "0",
    }
    out, errors = parse_form(good, "sft", False, target="hosted")
    assert out["target"] == "hosted" and errors == [
        "Epochs (blank: steps): a whole number of at least 1 for a hosted job ('1.5')"
    ]
    _, errors = parse_form(dict(good, epochs="3"), "sft", False, target="cloud")
    assert errors == ["Target: local or hosted ('cloud')"]
    out, errors = parse_form(dict(good, epochs=""), "dpo", False, target="hosted")
    assert not errors and out["target"] == "hosted"
    out, errors = parse_form(good, "sft", False)
    assert not errors and "target" not in out
