"""The Train pane on replayed runs: live curve and progress, reattach, cancel with confirmation."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from textual.widgets import ProgressBar

from ftui.tui.app import FtuiApp
from ftui.tui.panes.train.run_form import FIELDS, parse_form
from ftui.tui.panes.train.run_view import RunView
from ftui.tui.widgets.loss_chart import MAX_FPS, TRAIN_COLOR, ema
from tests.tui.conftest import EVENTS_PROBES, make_run, recorded, settle, start_fake_child


def _stop(proc) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


async def _attach_first(pilot, app) -> None:
    await pilot.press("4")
    await settle(pilot, app)
    await pilot.pause(0.3)
    await settle(pilot, app)
    await pilot.press("enter")
    await pilot.pause()


async def test_live_probe_curves_follow_the_child(ws):
    run_dir = make_run(ws, "live-probes")
    proc = None
    try:
        app = FtuiApp(ws, watch_interval=0.1)
        async with app.run_test(size=(80, 24)) as pilot:
            await _attach_first(pilot, app)
            pane = app.screen
            proc = start_fake_child(run_dir, delay=0.03, events=EVENTS_PROBES)
            chart = pane.query_one("#tr-chart")
            seen = []
            t0 = time.monotonic()
            while time.monotonic() - t0 < 15 and pane.view.state != "finished":
                await pilot.pause(0.2)
                seen.append(len(chart.probes))
            await pilot.pause(0.4)
            assert pane.view.state == "finished"
            # Probe points arrived one eval step at a time, as the child wrote them.
            assert len(set(seen)) >= 3, seen
            assert [p[0] for p in chart.probes] == [5, 10, 15, 20, 25, 30]
            assert chart.probes[0][1] == 0.25 and chart.probes[3] == (20, 1.0, 0.75)
            stats = str(pane.query_one("#tr-stats").render())
            assert "probes @30: cluster 8/8, anchors 4/4" in stats
            # Reattaching (enter on the run) reads the same points back from the file.
            pane.query_one("#run-table").focus()
            await pilot.press("enter")
            await pilot.pause(0.3)
            assert [p[0] for p in pane.query_one("#tr-chart").probes] == [5, 10, 15, 20, 25, 30]
    finally:
        if proc is not None:
            _stop(proc)


async def test_live_replay_updates_chart_and_progress(ws):
    run_dir = make_run(ws, "live-run")
    proc = None
    try:
        app = FtuiApp(ws, watch_interval=0.1)
        async with app.run_test(size=(80, 24)) as pilot:
            await _attach_first(pilot, app)
            pane = app.screen
            assert pane.view.run_id == "live-run" and pane.view.step == 0
            # The child starts writing only now, so every line arrives while the pane watches.
            proc = start_fake_child(run_dir, delay=0.06)
            chart = pane.query_one("#tr-chart")
            seen_steps = []
            t0 = time.monotonic()
            redraws0 = chart.redraws
            while time.monotonic() - t0 < 15:
                await pilot.pause(0.2)
                seen_steps.append(pane.view.step)
                if pane.view.state == "finished":
                    break
            elapsed = time.monotonic() - t0
            await pilot.pause(0.4)
            assert pane.view.state == "finished"
            # The curve grew while we watched, not in one jump at the end.
            assert len(set(seen_steps)) >= 3, seen_steps
            assert len(chart.train) == 30 and len(chart.eval) == 6
            bar = pane.query_one("#tr-progress", ProgressBar)
            assert bar.total == 30 and bar.progress == 30
            stats = str(pane.query_one("#tr-stats").render())
            assert "step 30/30" in stats and "best eval" in stats and "tok/s" in stats
            # ~49 events arrived, but the chart redrew at most MAX_FPS times a second.
            assert chart.redraws - redraws0 <= MAX_FPS * (elapsed + 1) + 2
    finally:
        if proc is not None:
            _stop(proc)


async def test_reattach_reads_the_whole_curve(ws):
    make_run(ws, "done-run", recorded())
    app = FtuiApp(ws, watch_interval=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        await _attach_first(pilot, app)
        pane = app.screen
        chart = pane.query_one("#tr-chart")
        assert pane.view.run_id == "done-run"
        assert [p[0] for p in chart.train] == list(range(1, 31))
        assert [p[0] for p in chart.eval] == [5, 10, 15, 20, 25, 30]
        assert pane.view.best_step == 30
        table = pane.query_one("#run-table")
        assert table.rows[0].state == "finished"


async def test_cancel_asks_then_stops_the_child(ws):
    run_dir = make_run(ws, "slow-run")
    proc = start_fake_child(run_dir, delay=0.01, pause_after=20)
    try:
        app = FtuiApp(ws, watch_interval=0.1)
        async with app.run_test(size=(80, 24)) as pilot:
            await _attach_first(pilot, app)
            pane = app.screen
            await pilot.pause(0.5)
            assert pane.view.state == "running"
            await pilot.press("x")
            await pilot.pause()
            assert type(app.screen).__name__ == "ConfirmScreen"
            await pilot.press("n")  # a no leaves the run alone
            await pilot.pause(0.3)
            assert proc.poll() is None and not (run_dir / "stop").exists()
            await pilot.press("x", "y")
            await settle(pilot, app)
            assert (run_dir / "stop").exists()
            t0 = time.monotonic()
            while pane.view.state != "cancelled" and time.monotonic() - t0 < 10:
                await pilot.pause(0.1)
            assert pane.view.state == "cancelled"
            assert "cancelled at step" in str(pane.query_one("#tr-detail").render())
            proc.wait(timeout=10)
    finally:
        _stop(proc)


async def test_log_tail_on_demand(ws):
    run_dir = make_run(ws, "log-run", recorded())
    (run_dir / "train.log").write_text("loading model\nstep 1 loss 2.3\nWARNING something odd\n")
    app = FtuiApp(ws, watch_interval=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        await _attach_first(pilot, app)
        log = app.screen.query_one("#tr-log")
        assert not log.display
        await pilot.press("l")
        await pilot.pause()
        assert log.display and log.line_count == 3
        with open(run_dir / "train.log", "a") as fh:
            fh.write("step 2 loss 2.1\n")
        await pilot.pause(0.4)
        assert log.line_count == 4


def test_eta_from_event_times():
    v = RunView(run_id="r")
    v.apply(
        [
            {"type": "log", "t": 100.0, "step": 1, "max_steps": 11, "loss": 1.0},
            {"type": "log", "t": 110.0, "step": 2, "max_steps": 11, "loss": 0.9},
        ]
    )
    assert v.eta_s == 90.0


def test_form_parsing_reports_each_bad_field():
    good = {
        "model": "m",
        "lora_r": "8",
        "lora_alpha": "16",
        "learning_rate": "1e-4",
        "max_steps": "10",
        "epochs": "",
        "eval_steps": "5",
        "patience": "2",
        "anchor_kl": "0",
        "rpo_alpha": "0",
        "probes": "16",
        "select_by": "eval_loss",
        "stop_broken_anchors": "0",
    }
    out, errors = parse_form(good, "dpo", True)
    assert errors == [] and out["method"] == "dpo" and out["qlora"] is True and "epochs" not in out
    assert out["anchor_kl"] == 0.0
    assert "processes" not in out  # blank: the workspace's train.processes
    assert parse_form(dict(good, processes="2"), "sft", False)[0]["processes"] == 2
    out, errors = parse_form(dict(good, lora_r="x", learning_rate="0", anchor_kl="-1", processes="-1"), "sft", False)
    assert errors == [
        "LoRA rank: not a number ('x')",
        "Learning rate: must be above 0 ('0')",
        "Anchor KL (0 off): must be 0 or more ('-1')",
        "Processes (0: auto): must be 0 or more ('-1')",
    ]


def test_form_checks_the_trust_settings_with_the_workspace_rules(tmp_path):
    from ftui.core.base.errors import ConfigError
    from ftui.core.workspace.workspace import Workspace

    good = {key: "1" for key, _, kind in FIELDS if kind in ("int", "float")}
    good.update(model="m", epochs="", select_by="probes", rpo_alpha="0.5", anchor_kl="10", stop_broken_anchors="2")
    out, errors = parse_form(good, "dpo", False)
    assert errors == []
    assert (out["select_by"], out["rpo_alpha"], out["anchor_kl"], out["probes"], out["stop_broken_anchors"]) == (
        "probes",
        0.5,
        10.0,
        1,
        2,
    )
    bad = dict(good, select_by="loss", rpo_alpha="-1", probes="-2", stop_broken_anchors="x")
    _, errors = parse_form(bad, "dpo", False)
    assert errors == [
        "RPO alpha (DPO; 0 off): must be 0 or more ('-1')",
        "Probes (items; 0 off): must be 0 or more ('-2')",
        "Best by eval_loss/probes: must be eval_loss or probes ('loss')",
        "Stop at N broken (0 off): not a number ('x')",
    ]
    # The workspace loader says the same of the same value: one rule, two readers.
    (tmp_path / "ftui.yaml").write_text("run_log: log.jsonl\ntrain:\n  select_by: loss\n")
    (tmp_path / "log.jsonl").write_text('{"question_id": "a", "question": "q", "answer": "x"}\n')
    with pytest.raises(ConfigError, match=r":3: train.select_by must be eval_loss or probes"):
        Workspace.load(tmp_path)


async def test_form_starts_a_run_on_the_newest_build(ws, monkeypatch):
    from ftui.core.build import builder
    from ftui.core.curate.corrections import CorrectionStore
    from ftui.core.logs.runlog import load_run_log
    from ftui.core.runs import runs

    log = load_run_log(ws)
    store = CorrectionStore(ws)
    for item in log.items[:8]:
        if item.label and item.retrieval_hit:
            store.save(item, f"corrected answer for {item.id}")
    build = builder.build(ws)
    started = []

    def fake_start(run_dir, resume=False):
        started.append(run_dir)
        proc = start_fake_child(run_dir, delay=0.01)
        procs.append(proc)
        return proc.pid

    procs = []
    monkeypatch.setattr(runs, "start_training", fake_start)
    try:
        app = FtuiApp(ws, start_pane="train", watch_interval=0.1)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot, app)
            await pilot.press("N")
            await pilot.pause()
            form = app.screen
            assert type(form).__name__ == "RunFormScreen"
            assert form.query_one("#f-max_steps").value == "30"  # from the workspace's ftui.yaml
            form.query_one("#f-lora_r").value = "8"
            form.query_one("#f-anchor_kl").value = "5"
            form.query_one("#f-processes").value = "2"
            await pilot.press("ctrl+r")
            await settle(pilot, app)
            assert len(started) == 1
            import json

            cfg = json.loads((started[0] / "config.json").read_text())
            assert cfg["lora_r"] == 8 and cfg["build_id"] == build.id and cfg["method"] == "sft"
            assert cfg["anchor_kl"] == 5.0 and cfg["processes"] == 2
            pane = app.screen
            t0 = time.monotonic()
            while pane.view.state != "finished" and time.monotonic() - t0 < 15:
                await pilot.pause(0.1)
            assert pane.view.run_id == started[0].name and pane.view.state == "finished"
    finally:
        for p in procs:
            _stop(p)


ENGINE_RECORDINGS = Path(__file__).resolve().parents[1] / "fixtures" / "events"


@pytest.mark.parametrize(
    "name,state", [("sft_run", "finished"), ("failed_run", "failed"), ("cancelled_run", "cancelled")]
)
async def test_engine_recordings_replay_in_the_pane(ws, name, state):
    path = ENGINE_RECORDINGS / f"{name}.jsonl"
    if not path.exists():
        pytest.skip(f"{path} not recorded yet")
    evs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    make_run(ws, name, evs)
    app = FtuiApp(ws, watch_interval=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        await _attach_first(pilot, app)
        pane = app.screen
        assert pane.view.state == state
        logs = [e for e in evs if e["type"] == "log"]
        assert len(pane.query_one("#tr-chart").train) == len(logs)
        if state == "failed":
            assert str(pane.query_one("#tr-detail").render()).startswith("✘ ")


def test_form_refuses_an_unknown_method():
    good = {
        "model": "m",
        "lora_r": "8",
        "lora_alpha": "16",
        "learning_rate": "1e-4",
        "max_steps": "10",
        "epochs": "",
        "eval_steps": "5",
        "patience": "2",
        "anchor_kl": "0",
        "rpo_alpha": "0",
        "probes": "16",
        "select_by": "eval_loss",
        "stop_broken_anchors": "0",
    }
    _, errors = parse_form(good, "ppo", False)
    assert errors == ["Method: must be sft, dpo or grpo ('ppo')"]


async def test_a_run_whose_process_is_gone_reads_as_dead(ws):
    run_dir = make_run(ws, "gone-run", recorded()[:20])  # no final event
    proc = start_fake_child(run_dir, delay=0.01, pause_after=0)
    os.killpg(proc.pid, signal.SIGKILL)  # the child dies without a word, like an OOM kill
    proc.wait(timeout=10)
    app = FtuiApp(ws, watch_interval=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        await _attach_first(pilot, app)
        await settle(pilot, app)
        pane = app.screen
        assert pane.query_one("#run-table").rows[0].state == "dead"
        assert pane.view.state == "dead"
        assert "dead" in str(pane.query_one("#tr-stats").render())


async def test_resume_a_cancelled_run(ws, monkeypatch):
    from ftui.core.runs import runs

    evs = [
        *recorded()[:20],
        {"v": 1, "type": "cancelled", "t": 1700000100.0, "step": 10, "checkpoint": "checkpoints/checkpoint-10"},
    ]
    run_dir = make_run(ws, "paused-run", evs)
    calls = []
    monkeypatch.setattr(runs, "start_training", lambda d, resume=False: calls.append((d, resume)) or 1)
    app = FtuiApp(ws, watch_interval=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        await _attach_first(pilot, app)
        assert app.screen.view.state == "cancelled"
        await pilot.press("U")
        await settle(pilot, app)
        assert calls == [(run_dir, True)]


def test_ema_is_debiased_like_tensorboards():
    assert ema([]) == []
    assert ema([2.0]) == [2.0]  # no pull toward zero at the start
    smoothed = ema([1.0, 3.0, 1.0, 3.0], weight=0.5)
    # Each point is the running average divided by 1 - 0.5**n, the weight the average has gathered.
    assert smoothed == pytest.approx([1.0, 1.75 / 0.75, 1.375 / 0.875, 2.1875 / 0.9375])
    assert ema([5.0] * 10) == pytest.approx([5.0] * 10)


async def test_tilde_draws_the_train_loss_raw_or_smoothed_over_its_faint_raw_curve(ws):
    make_run(ws, "done-run", recorded())
    app = FtuiApp(ws, watch_interval=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        await _attach_first(pilot, app)
        chart = app.screen.query_one("#tr-chart")
        faint = "38;2;{};{};{}".format(*chart._faint(TRAIN_COLOR))
        raw = [y for _, y in chart.train]

        def legend() -> str:
            return str(chart.query_one("#lc-legend").render())

        assert chart.smooth and "train (EMA 0.6)" in legend() and "raw" in legend() and faint in chart.plt.build()
        await pilot.press("tilde")
        await pilot.pause()
        assert not chart.smooth and "train (EMA" not in legend() and faint not in chart.plt.build()
        assert "train" in legend()
        assert [y for _, y in chart.train] == raw  # only the drawing changes
        await pilot.press("tilde")
        await pilot.pause()
        assert chart.smooth and "train (EMA 0.6)" in legend()


def test_the_loss_axis_keeps_a_minimum_range_and_spikes_are_found():
    from ftui.tui.widgets.loss_chart import spikes, y_limits

    # Two points of noise must not fill the plot's height as if the loss climbed.
    lo, hi = y_limits([0.43, 0.49])
    assert hi - lo >= 0.5 * 0.49 - 1e-9 and lo <= 0.43 and hi >= 0.49
    assert y_limits([2.5, 0.3]) == (0.3, 2.5)  # a real descent keeps its own range
    assert y_limits([0.01, 0.011])[0] >= 0  # never below zero for a loss
    steady = [1.0 - 0.02 * i for i in range(20)]
    assert spikes(steady) == []
    assert spikes([*steady, 4.0]) == [20]  # the last step's loss leaps: flagged


async def test_the_chart_has_its_legend_outside_the_plot_and_labeled_axes(ws):
    make_run(ws, "done-run", recorded(EVENTS_PROBES))
    app = FtuiApp(ws, watch_interval=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        await _attach_first(pilot, app)
        chart = app.screen.query_one("#tr-chart")
        legend = str(chart.query_one("#lc-legend").render())
        assert "eval" in legend and "cluster" in legend and "anchors" in legend
        loss_text, rates_text = chart.plt.build(), chart.rates_plt.build()
        assert "eval" not in loss_text and "cluster" not in rates_text  # nothing drawn over the data
        assert "loss" in loss_text and "pass rate" in rates_text  # each axis says what it measures
        assert chart.query_one("#lc-rates").display
        await pilot.press("l")
        await pilot.pause()
        # The log opens beside the chart: the chart keeps its height.
        assert app.screen.query_one("#tr-log").display and chart.size.height >= 8


async def test_a_final_loss_spike_is_marked(ws):
    events = recorded()
    last = max(i for i, e in enumerate(events) if e["type"] == "log" and "loss" in e)
    events[last] = {**events[last], "loss": 6.0, "grad_norm": 61.0}
    make_run(ws, "spiky", events)
    app = FtuiApp(ws, watch_interval=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        await _attach_first(pilot, app)
        chart = app.screen.query_one("#tr-chart")
        assert chart.spikes == [events[last]["step"]]
        assert f"spike @{events[last]['step']}" in str(chart.query_one("#lc-legend").render())


async def test_a_new_run_reads_0_percent_and_loading_until_its_first_step(ws):
    make_run(ws, "done-run", recorded())
    t = time.time()
    fresh = make_run(ws, "zz-fresh", [{"v": 1, "type": "started", "t": t, "max_steps": 30}])
    (fresh / "pid").write_text(f"{os.getpid()}\n")
    app = FtuiApp(ws, watch_interval=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        await _attach_first(pilot, app)
        pane = app.screen
        bar = pane.query_one("#tr-progress", ProgressBar)
        pane.attach(next(r.dir for r in pane.query_one("#run-table").rows if r.id == "done-run"))
        assert bar.percentage == 1.0
        pane.attach(fresh)  # straight from a finished run: nothing of its 100% may stay
        await pilot.pause()
        assert bar.percentage == 0.0
        assert "loading" in str(pane.query_one("#tr-stats").render())


async def test_the_form_refuses_before_starting_when_the_training_stack_is_missing(ws, monkeypatch):
    import importlib.util

    from ftui.core.base import jobs
    from ftui.core.build import builder
    from ftui.core.curate.corrections import CorrectionStore
    from ftui.core.logs.runlog import load_run_log

    store = CorrectionStore(ws)
    for item in load_run_log(ws).items[:8]:
        if item.label and item.retrieval_hit:
            store.save(item, f"corrected answer for {item.id}")
    builder.build(ws)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    spawned = []
    monkeypatch.setattr(jobs, "start_child", lambda *a, **k: spawned.append(a) or 0)
    app = FtuiApp(ws, start_pane="train", watch_interval=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("N")
        await pilot.pause()
        await pilot.press("ctrl+r")
        await settle(pilot, app)
        stats = str(app.screen.query_one("#tr-stats").render())
        assert "not started" in stats and "pip install 'ftui[train]'" in stats and "torch" in stats
        assert spawned == [] and not list(Path(ws.state.runs).glob("*/config.json"))


async def test_the_form_says_which_build_and_clusters_it_trains_and_qlora_in_words(ws):
    from ftui.core.build import builder
    from ftui.core.curate.corrections import CorrectionStore
    from ftui.core.logs.runlog import load_run_log

    store = CorrectionStore(ws)
    for item in load_run_log(ws).items[:8]:
        if item.label and item.retrieval_hit:
            store.save(item, f"corrected answer for {item.id}")
    build = builder.build(ws)
    app = FtuiApp(ws, start_pane="train", watch_interval=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("N")
        await pilot.pause()
        form = app.screen
        head = str(form.query_one("#rf-build").render())
        assert f"Build {build.id}:" in head and "corrections +" in head and "Cluster" in head
        box = form.query_one("#f-qlora")
        assert str(box.label) == "OFF: full-precision base" and not box.value
        box.value = True
        await pilot.pause()
        assert str(box.label).startswith("ON: 4-bit")


async def test_grpo_run_replays_as_a_reward_curve_with_its_sampled_answers(ws):
    # Recorded from a real GRPO run of the tiny model (tests/fixtures/events/record_events.py --grpo).
    evs = recorded(ENGINE_RECORDINGS / "grpo_run.jsonl")
    logs = [e for e in evs if e["type"] == "log"]
    last_samples = [e for e in evs if e["type"] == "samples"][-1]
    make_run(ws, "grpo-run", evs, method="grpo")
    app = FtuiApp(ws, watch_interval=0.1)
    async with app.run_test(size=(100, 30)) as pilot:
        await _attach_first(pilot, app)
        pane = app.screen
        assert pane.view.state == "finished"
        chart = pane.query_one("#tr-chart")
        # The reward is the curve (the loss of a GRPO step is ~0 by design).
        assert chart.rewards == [(e["step"], e["reward"]) for e in logs]
        assert chart.title.startswith("reward")
        legend = str(chart.query_one("#lc-legend").render())
        assert "reward (EMA 0.6)" in legend and "reward" in chart.plt.build()  # the axis says reward
        stats = str(pane.query_one("#tr-stats").render())
        assert f"reward {logs[-1]['reward']:.3f}" in stats and "no-signal groups" in stats and "KL" in stats
        assert "loss " not in stats
        strip = pane.query_one("#tr-samples")
        assert not strip.has_class("-hidden")
        text = str(strip.render())
        assert f"latest answers @ step {last_samples['step']}" in text
        assert text.count("answer contains") + text.count("answer does not contain") == len(last_samples["samples"])
        # An SFT run attached next has no strip and draws its loss again.
        make_run(ws, "sft-after", recorded())
        pane.attach(ws.state.runs / "sft-after")
        await pilot.pause(0.3)
        assert strip.has_class("-hidden") and not pane.query_one("#tr-chart").rewards
