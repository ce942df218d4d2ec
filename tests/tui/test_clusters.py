"""Clusters pane: the cluster table, the selected cluster's failures, the item in full."""

from __future__ import annotations

import json

from ftui.cli import main
from ftui.core.curate.clusters import cluster_failures
from ftui.core.curate.corrections import CorrectionStore
from ftui.core.logs.runlog import load_run_log
from ftui.tui.app import FtuiApp
from tests.tui.conftest import settle


async def test_clusters_items_and_detail_follow_the_cursor(ws):
    app = FtuiApp(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        pane = app.screen
        clusters = pane.query_one("#cluster-table")
        items = pane.query_one("#item-table")
        assert [c.label for c in clusters.rows] == ["wrong_symbol", "ignored_tests", "hallucinated_api"]
        summary = str(pane.query_one("#cl-summary").render())
        assert "21 model failures in 3 clusters (2 candidates)" in summary and "3 retrieval misses" in summary
        await pilot.press("down")
        await pilot.pause()
        assert {it.label for it in items.rows} == {"ignored_tests"} and len(items.rows) == 6
        await pilot.press("enter", "down")  # into the item table, second item
        await pilot.pause()
        detail = str(pane.query_one("#cl-item").render())
        assert items.current.id in detail and "Expected answer" in detail and "Evidence" in detail
        await pilot.press("c")
        await settle(pilot, app)
        assert app.current_mode == "correct" and app.screen.item.id == items.current.id


async def test_mouse_click_selects_a_row(ws):
    app = FtuiApp(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        clusters = app.screen.query_one("#cluster-table")
        await pilot.click(clusters, offset=(5, 3))  # header line + third cluster
        await pilot.pause()
        assert clusters.current.label == "hallucinated_api"


async def test_cluster_counts_are_the_clis(ws, capsys):
    """The pane's done/left of a cluster reads the same count as `ftui clusters` and `ftui status`."""
    log = load_run_log(ws)
    cluster = cluster_failures(ws, log).clusters[0]
    store = CorrectionStore(ws)
    first, second, third = cluster.items[:3]
    store.save(first, "the fixed answer")
    store.skip(second)
    store.mark_review(third, "a draft to check")

    assert main(["clusters", str(ws.root), "--json"]) == 0
    every = json.loads(capsys.readouterr().out)["clusters"]
    cli = next(c for c in every if c["label"] == cluster.label)
    assert (cli["corrected"], cli["skipped"], cli["needs_review"], cli["remaining"]) == (1, 1, 1, cluster.count - 2)
    assert main(["status", str(ws.root), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["corrected"] == cli["corrected"] and status["remaining"] == sum(c["remaining"] for c in every)

    app = FtuiApp(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        table = app.screen.query_one("#cluster-table")
        assert table.rows[0].label == cluster.label
        line = table.render_line(1).text.split()
        assert line[0] == cluster.label and line[-1] == f"{cli['corrected']}/{cli['remaining']}"
