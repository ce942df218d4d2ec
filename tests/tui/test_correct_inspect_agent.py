"""An inspect_ai agent log in the Correct pane: the failed call is corrected as a call."""

from __future__ import annotations

import json

from ftui.core.curate.corrections import CorrectionStore
from ftui.core.workspace.init_file import write_config
from ftui.core.workspace.sniff import propose
from ftui.core.workspace.workspace import Workspace
from ftui.tui.app import FtuiApp
from tests.fixtures.evallogs import copy_tool
from tests.tui.conftest import settle


async def test_a_wrong_final_call_is_corrected_with_the_call_editor(tmp_path):
    folder = copy_tool("inspect_agents", tmp_path)
    cfg = write_config(propose(folder), None)
    cfg.write_text(cfg.read_text().replace("candidate_threshold: 5", "candidate_threshold: 2"))
    ws = Workspace.load(folder)
    app = FtuiApp(ws, start_pane="correct")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        pane = app.screen
        while pane.item.id != "travel/tokyo":
            await pilot.press("n")
            await settle(pilot, app)
        assert "tool call · T picks a tool: get_weather, find_flights" in str(pane.query_one("#co-json").render())
        await pilot.press("o")  # the original answer, the wrong call, to start from
        await settle(pilot, app)
        await pilot.press("escape", "T")
        await settle(pilot, app)
        await pilot.press("enter")  # the first declared tool: get_weather
        await settle(pilot, app)
        assert json.loads(pane.editor.text) == {
            "name": "get_weather",
            "arguments": {"city": "Paris", "unit": "celsius"},
        }
        pane.editor.load_text(json.dumps({"name": "get_weather", "arguments": {"city": "Tokyo", "unit": "kelvin"}}))
        await pilot.pause()
        assert "✘ `unit`: 'kelvin' is not one of" in str(pane.query_one("#co-json").render())
        pane.editor.load_text(json.dumps({"name": "get_weather", "arguments": {"city": "Tokyo", "unit": "celsius"}}))
        await pilot.pause()
        assert "tool call ✔ get_weather(city, unit)" in str(pane.query_one("#co-json").render())
        await pilot.pause(1.2)
        await pilot.press("escape")
        await settle(pilot, app)
    saved = CorrectionStore(ws).get("travel/tokyo")
    assert saved is not None and json.loads(saved.output)["arguments"] == {"city": "Tokyo", "unit": "celsius"}
