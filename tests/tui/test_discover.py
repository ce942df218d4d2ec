"""Clusters pane: discover clusters in an unlabeled log, then rename, merge, split and move by key."""

from __future__ import annotations

import pytest

from ftui.core.workspace.workspace import Workspace
from ftui.tui.app import FtuiApp
from tests.fixtures.unlabeled import kind_of, make_unlabeled_workspace
from tests.tui.conftest import settle


@pytest.fixture
def uws(tmp_path) -> Workspace:
    return Workspace.load(make_unlabeled_workspace(tmp_path / "unlabeled"))


async def _settle(pilot, app):
    await settle(pilot, app, rounds=4)


def _labels(app) -> list[str]:
    return [c.label for c in app.screen.query_one("#cluster-table").rows]


async def _select(pilot, app, label: str) -> None:
    table = app.screen.query_one("#cluster-table")
    table.focus()
    await pilot.press("home")  # the cursor stays where the last edit left it
    await pilot.pause()
    for _ in range(len(table.rows)):
        if table.current.label == label:
            return
        await pilot.press("j")
        await pilot.pause()
    raise AssertionError(f"no cluster {label}")


async def _answer(pilot, app, text: str) -> None:
    box = app.screen.query_one("#nm-input")
    box.value = ""
    await pilot.press(*text, "enter")
    await _settle(pilot, app)


async def _pick(pilot, app, label: str) -> None:
    options = app.screen.query_one("#pk-list")
    for _ in range(options.option_count + 1):
        await pilot.press("j")
        await pilot.pause()
        if options.highlighted is not None and options.get_option_at_index(options.highlighted).id == label:
            break
    else:
        raise AssertionError(f"{label} is not in the pick list")
    await pilot.press("enter")
    await _settle(pilot, app)


async def test_discover_and_edit_by_key(uws):
    app = FtuiApp(uws)
    async with app.run_test(size=(80, 24)) as pilot:
        await _settle(pilot, app)
        assert _labels(app) == ["unlabeled"]
        assert "D discovers the clusters" in str(app.screen.query_one("#cl-summary").render())
        await pilot.press("D")
        await _settle(pilot, app)
        assert sorted(_labels(app)) == ["other_language", "prose_where_json_expected", "refusal"]
        summary = str(app.screen.query_one("#cl-summary").render())
        assert "3 discovered (not from the log's labels)" in summary
        rows = app.screen.query_one("#cluster-table").rows
        assert all(c.discovered for c in rows)

        await _select(pilot, app, "refusal")
        await pilot.press("r")
        await pilot.pause()
        await _answer(pilot, app, "says_no")
        assert "says_no" in _labels(app) and "refusal" not in _labels(app)
        assert app.screen.query_one("#cluster-table").current.label == "says_no"  # the cursor stayed

        # Move the first item of the JSON cluster into says_no, picked from a list.
        await _select(pilot, app, "prose_where_json_expected")
        await pilot.press("enter")  # into the item table
        await pilot.pause()
        moved = app.screen.query_one("#item-table").current.id
        await pilot.press("M")
        await pilot.pause()
        await _pick(pilot, app, "says_no")
        says_no = app.session.cluster("says_no")
        assert moved in says_no.ids and says_no.count == 9
        assert app.screen.query_one("#cluster-table").current.label == "prose_where_json_expected"

        await _select(pilot, app, "other_language")
        await pilot.press("m")
        await pilot.pause()
        assert type(app.screen).__name__ == "PickScreen"
        await pilot.press("enter")  # nothing is highlighted until a choice is made: nothing merges
        await pilot.pause()
        await pilot.press("escape")
        await _settle(pilot, app)
        assert "other_language" in _labels(app)
        await pilot.press("m")
        await pilot.pause()
        await _pick(pilot, app, "says_no")
        assert app.session.cluster("says_no").count == 17 and "other_language" not in _labels(app)
        assert app.screen.query_one("#cluster-table").current.label == "says_no"

        # u takes the merge back, then the move.
        await pilot.press("u")
        await _settle(pilot, app)
        assert "other_language" in _labels(app) and app.session.cluster("says_no").count == 9
        await _select(pilot, app, "other_language")
        await pilot.press("m")
        await pilot.pause()
        await _pick(pilot, app, "says_no")
        assert app.session.cluster("says_no").count == 17

        await _select(pilot, app, "says_no")
        await pilot.press("S")
        await pilot.pause()
        assert type(app.screen).__name__ == "ConfirmScreen"  # asks first
        await pilot.press("n")
        await _settle(pilot, app)
        assert "says_no" in _labels(app)
        await pilot.press("S")
        await pilot.pause()
        await pilot.press("y")
        await _settle(pilot, app)
        parts = [c for c in app.session.clusters if c.label.startswith("says_no/")]
        assert len(parts) >= 2 and sum(c.count for c in parts) == 17
        assert app.screen.query_one("#cluster-table").current.label.startswith("says_no/")
        await pilot.press("u")  # the split is undone
        await _settle(pilot, app)
        assert "says_no" in _labels(app) and not any(lb.startswith("says_no/") for lb in _labels(app))
        await pilot.press("S")
        await pilot.pause()
        await pilot.press("y")
        await _settle(pilot, app)
        parts = [c for c in app.session.clusters if c.label.startswith("says_no/")]
        before = {c.label: sorted(c.ids) for c in app.session.clusters}

        await pilot.press("D")  # a new discovery keeps every edit
        await _settle(pilot, app)
        assert {c.label: sorted(c.ids) for c in app.session.clusters} == before
        assert {kind_of(i) for c in parts for i in c.ids} == {"refusal", "language", "json"}


async def test_plus_and_minus_change_k_and_show_its_stability(tmp_path):
    import json

    from tests.fixtures.evallogs import HERE

    rows = json.loads((HERE / "real" / "alpaca_eval_alpaca7b" / "annotations.json").read_text())[:60]
    (tmp_path / "annotations.json").write_text(json.dumps(rows))
    (tmp_path / "ftui.yaml").write_text("run_log: annotations.json\nsource: alpaca_eval\n")
    app = FtuiApp(Workspace.load(tmp_path))
    async with app.run_test(size=(100, 30)) as pilot:
        await _settle(pilot, app)
        await pilot.press("D")
        await _settle(pilot, app)
        summary = str(app.screen.query_one("#cl-summary").render())
        assert "chosen by stability" in summary and "+ finer, - coarser" in summary
        k = len(_labels(app))
        app.screen.query_one("#cluster-table").focus()
        await pilot.press("plus")
        await _settle(pilot, app)
        summary = str(app.screen.query_one("#cl-summary").render())
        assert f"topic k={k + 1} (yours; stability" in summary
        assert len(_labels(app)) == k + 1
        await pilot.press("minus")
        await _settle(pilot, app)
        assert len(_labels(app)) == k
