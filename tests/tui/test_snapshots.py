"""SVG snapshots of every pane at 80×24 and 160×48 (no clocks, paths or pids in any frame)."""

from __future__ import annotations

import pytest

from ftui.core.curate.corrections import CorrectionStore
from ftui.core.logs.runlog import load_run_log
from ftui.core.workspace.workspace import Workspace
from ftui.tui.app import FtuiApp
from tests.tui.conftest import EVENTS_PROBES, add_report, make_run, recorded

SIZES = [(80, 24), (160, 48)]


async def _settle(pilot) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def _pressing(*keys: str):
    """A run_before that lets the pane load, presses `keys`, and lets the result settle."""

    async def before(pilot) -> None:
        await _settle(pilot)
        await pilot.press(*keys)
        await _settle(pilot)

    return before


def _with_corrections(ws: Workspace) -> None:
    log = load_run_log(ws)
    store = CorrectionStore(ws)
    ids = ["q004", "q005", "q014"]
    for i in ids:
        item = log.by_id[i]
        store.save(item, f"{item.question.split('`')[1]} returns the value stored for the key, or None.")
    store.skip(log.by_id["q015"])


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_clusters_pane(snap_compare, ws, size):
    _with_corrections(ws)
    assert snap_compare(FtuiApp(ws), terminal_size=size, run_before=_settle, press=["down"])


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_correct_pane(snap_compare, ws, size):
    _with_corrections(ws)
    assert snap_compare(FtuiApp(ws, start_pane="correct"), terminal_size=size, run_before=_pressing("o"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_data_pane(snap_compare, ws, size):
    _with_corrections(ws)
    assert snap_compare(FtuiApp(ws, start_pane="data"), terminal_size=size, run_before=_pressing("b"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_train_pane(snap_compare, ws, size):
    make_run(ws, "20260101-000000-sft", recorded())
    assert snap_compare(FtuiApp(ws, start_pane="train"), terminal_size=size, run_before=_pressing("enter"))


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_train_pane_replayed_run(snap_compare, ws, size):
    # The chart of a replayed run: legend above the plot, "loss" and "pass rate" axes, the raw
    # curve under the smoothed one, the pass rates in their own strip, the whole width used at 120.
    make_run(ws, "20260101-000000-sft", recorded(EVENTS_PROBES))
    assert snap_compare(FtuiApp(ws, start_pane="train"), terminal_size=size, run_before=_pressing("enter"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_train_pane_probe_curves(snap_compare, ws, size):
    # A replayed events file with graded probes: cluster and anchors pass rates beside the loss.
    make_run(ws, "20260101-000000-sft", recorded(EVENTS_PROBES))
    assert snap_compare(FtuiApp(ws, start_pane="train"), terminal_size=size, run_before=_pressing("enter"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_compare_pane(snap_compare, ws, size):
    add_report(ws)
    # f f: the bucket filter from all to fixed to regressed.
    assert snap_compare(FtuiApp(ws, start_pane="compare"), terminal_size=size, run_before=_pressing("f", "f"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_compare_pane_with_the_forgetting_table(snap_compare, ws, size):
    import json

    from ftui.core.judge import forgetting
    from ftui.core.judge.compare import with_forgetting

    run_dir = add_report(ws)
    rows = [
        forgetting.compare_task(
            "sample_arithmetic", "acc", {str(i): i % 2 for i in range(24)}, {str(i): i % 2 for i in range(24)}, 0.1
        ),
        forgetting.compare_task(
            "sample_facts",
            "acc",
            {str(i): int(i < 16) for i in range(24)},
            {str(i): int(i < 12) for i in range(24)},
            0.1,
        ),
    ]
    path = run_dir / "eval" / "report.json"
    summary = forgetting.summary({"tasks": rows, "errors": [], "max_drop": 0.1, "limit": 24, "complete": True})
    path.write_text(json.dumps(with_forgetting(json.loads(path.read_text()), summary)))
    assert snap_compare(FtuiApp(ws, start_pane="compare"), terminal_size=size, run_before=_settle)


def test_help_screen(snap_compare, ws):
    assert snap_compare(
        FtuiApp(ws, start_pane="correct"), terminal_size=(80, 24), run_before=_pressing("question_mark")
    )


def test_run_form(snap_compare, ws):
    # Every training setting the form offers at 80x24, the trust settings (probes, select_by,
    # stop_broken_anchors, rpo_alpha, anchor_kl) among them, and a bad value's message.
    async def before(pilot) -> None:
        await _pressing("N")(pilot)
        form = pilot.app.screen
        for field in form.query("Input"):
            field.cursor_blink = False  # a blinking cursor would make the frame depend on timing
        form.query_one("#f-select_by").value = "loss"
        await pilot.press("ctrl+r")
        await _settle(pilot)

    assert snap_compare(FtuiApp(ws, start_pane="train"), terminal_size=(80, 24), run_before=before)
