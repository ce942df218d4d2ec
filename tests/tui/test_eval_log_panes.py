"""A log answered in several runs, in the workbench: repeat rates on clusters and items, grades as logged."""

from __future__ import annotations

from ftui.core.workspace.workspace import Workspace
from ftui.tui.app import FtuiApp
from tests.fixtures.evallogs import copy_tool
from tests.tui.conftest import settle


async def test_clusters_pane_shows_runs_and_the_item_its_repeat_rate(tmp_path):
    folder = copy_tool("inspect", tmp_path)
    (folder / "ftui.yaml").write_text('run_log: "*.eval"\nsource: inspect\npass_rule: {values: [C]}\n')
    app = FtuiApp(Workspace.load(folder))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        table = app.screen.query_one("#cluster-table")
        assert (
            table.rows[0].label == "unlabeled" and app.screen._cluster_cells(table.rows[0])[0] == "unlabeled (3/4 runs)"
        )
        summary = str(app.screen.query_one("#cl-summary").render())
        assert "answered in several runs" in summary
        head = str(app.screen.query_one("#cl-item").render())
        assert "grade I · failed in" in head and "Conversation" in head
