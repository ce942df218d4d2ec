"""Correcting a failure as a tool call: the tool picked from the declared ones, the call checked
against its schema as it is typed, the correction saved as a call."""

from __future__ import annotations

import json

from ftui.core.curate.corrections import CorrectionStore
from ftui.tui.app import FtuiApp
from tests.fixtures.toolcalls import workspace as agents_ws
from tests.tui.conftest import settle


async def test_pick_tool_fill_arguments_validate_and_save(tmp_path):
    ws = agents_ws.make(tmp_path / "agents")
    app = FtuiApp(ws, start_pane="correct")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        pane = app.screen
        assert pane.cluster.label == "prose_instead_of_call"
        item = pane.item
        assert "tool call · T picks a tool: get_weather" in str(pane.query_one("#co-json").render())
        await pilot.press("T")
        await settle(pilot, app)
        await pilot.press("enter")  # the first declared tool: get_weather
        await settle(pilot, app)
        call = json.loads(pane.editor.text)
        # Required arguments filled in: the enum's first value, an empty string to type into.
        assert call == {"name": "get_weather", "arguments": {"city": "", "unit": "celsius"}}
        assert "tool call ✔ get_weather(city, unit)" in str(pane.query_one("#co-json").render())
        pane.editor.load_text(json.dumps({"name": "get_weather", "arguments": {"city": "Oslo", "unit": "kelvin"}}))
        await pilot.pause()
        assert "✘ `unit`: 'kelvin' is not one of" in str(pane.query_one("#co-json").render())
        # Picking again keeps the arguments already typed.
        await pilot.press("escape", "f")
        await settle(pilot, app)
        await pilot.press("enter")
        await settle(pilot, app)
        assert json.loads(pane.editor.text)["arguments"]["city"] == "Oslo"
        pane.editor.load_text(json.dumps({"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}))
        await pilot.pause(1.2)
        await pilot.press("escape")
        await settle(pilot, app)
        saved = CorrectionStore(ws).get(item.id)
        assert saved is not None and json.loads(saved.output)["arguments"] == {"city": "Paris", "unit": "celsius"}


async def test_pick_tool_is_not_offered_without_tools(ws):
    app = FtuiApp(ws, start_pane="correct")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        assert app.screen.check_action("pick_tool", ()) is False
