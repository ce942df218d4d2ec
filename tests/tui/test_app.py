"""App-wide behaviour: pane keys, help, the palette, mouse on the pane bar, `ftui open`, bad input."""

from __future__ import annotations

import subprocess
import sys

from ftui.tui.app import FtuiApp
from tests.tui.conftest import settle


async def test_every_pane_has_a_key_help_and_footer(ws):
    app = FtuiApp(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        for key, mode in zip("12345", ("clusters", "correct", "data", "train", "compare"), strict=False):
            await pilot.press(key)
            await settle(pilot, app)
            assert app.current_mode == mode
            await pilot.press("question_mark")
            await pilot.pause()
            assert type(app.screen).__name__ == "HelpScreen"
            text = app.screen.query_one("Markdown").source
            assert text.startswith(f"# {mode.title()}") and "## Keys" in text
            await pilot.press("escape")
            await pilot.pause()
            assert app.current_mode == mode and type(app.screen).__name__ != "HelpScreen"


async def test_palette_lists_the_current_panes_commands(ws):
    app = FtuiApp(ws, start_pane="correct")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        pane = app.screen
        names = [name for name, _, _ in pane.palette()]
        assert "Skip this item (not trained on)" in names
        assert any(n.startswith("Correct cluster ignored_tests") for n in names)
        await pilot.press("ctrl+p")
        await pilot.pause()
        for ch in "cluster ignored":
            await pilot.press("space" if ch == " " else ch)
        await pilot.pause(0.5)
        await pilot.press("enter")
        await settle(pilot, app)
        assert app.screen is pane and pane.cluster.label == "ignored_tests"


async def test_pane_bar_is_clickable(ws):
    app = FtuiApp(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        bar = app.screen.query_one("#pane-bar")
        text = str(bar.render())
        x = text.index("Train")
        await pilot.click(bar, offset=(x, 0))
        await settle(pilot, app)
        assert app.current_mode == "train"


def test_open_command_rejects_a_bad_workspace_in_one_line(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "ftui", "open", str(tmp_path / "nope")], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "nope" in out.stderr and "Traceback" not in out.stderr


async def test_broken_run_log_lines_are_reported_not_fatal(ws_dir):
    from ftui.core.workspace.workspace import Workspace

    with open(ws_dir / "run_log.jsonl", "a") as fh:
        fh.write("{not json\n")
    app = FtuiApp(Workspace.load(ws_dir))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        assert len(app.session.items) == 30
        assert "run_log.jsonl:31:" in str(app.session.diagnostics[0])
