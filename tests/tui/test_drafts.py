"""Drafting in the Correct pane, keys only: draft a cluster with a teacher, accept/edit/reject, accept all passing."""

from __future__ import annotations

import json
import time

from ftui.core.curate.clusters import cluster_failures
from ftui.core.curate.corrections import CorrectionStore
from ftui.core.curate.drafts import store as draft_store
from ftui.core.curate.drafts import teacher as draft_teacher
from ftui.core.logs.runlog import load_run_log
from ftui.tui.app import FtuiApp
from tests.fixtures.chat_server import ChatServer
from tests.tui.conftest import settle
from tests.unit.test_drafts import teacher_reply


def make_drafts(ws, passing: int, failing: int) -> list:
    """Drafts as a finished job leaves them: the first `passing` items right, the next `failing` wrong."""
    c = cluster_failures(ws, load_run_log(ws)).by_label("wrong_symbol")
    rows = []
    for k, it in enumerate(c.items[: passing + failing]):
        ok = k < passing
        rows.append(
            draft_store.Draft(
                id=it.id,
                cluster=c.label,
                output=it.expected if ok else "somewhere in the code",
                passed=ok,
                reason="answer contains it" if ok else "answer does not contain it",
                grader="contains",
                teacher="endpoint:http://x/v1:t",
                prompt_hash="0123456789abcdef",
                created="2026-01-01T00:00:00Z",
            )
        )
    draft_store.DraftStore(ws).append(rows)
    return c.items


async def test_accept_edit_reject_one_by_one(ws):
    items = make_drafts(ws, passing=2, failing=2)
    app = FtuiApp(ws, start_pane="correct")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        pane = app.screen
        assert pane.item.id == items[0].id
        # The waiting draft sits in the editor, unsaved, under its grade.
        assert pane.editor.text == items[0].expected
        label = str(pane.query_one("#co-json").render())
        assert "Draft ✔ passes" in label and "a accept" in label
        assert "4 drafts (2 pass)" in str(pane.query_one("#co-status").render())
        assert CorrectionStore(ws).all() == {}

        await pilot.press("a")
        await settle(pilot, app, 3)
        assert CorrectionStore(ws).get(items[0].id).output == items[0].expected

        app.open_correct("wrong_symbol", items[2].id)
        await settle(pilot, app)
        assert "Draft ✘ fails" in str(pane.query_one("#co-json").render())
        await pilot.press("x")
        await settle(pilot, app, 3)
        assert draft_store.DraftStore(ws).get(items[2].id).status == "rejected"
        assert CorrectionStore(ws).get(items[2].id) is None
        assert pane.editor.text == ""

        app.open_correct("wrong_symbol", items[3].id)
        await settle(pilot, app)
        await pilot.press("e")
        pane.editor.clear()
        pane.editor.insert("my own fix")
        await pilot.press("escape")
        await settle(pilot, app, 3)
    assert CorrectionStore(ws).get(items[3].id).output == "my own fix"
    d = draft_store.DraftStore(ws).get(items[3].id)
    assert d.status == "edited" and d.final_output == "my own fix"
    assert draft_store.DraftStore(ws).get(items[1].id).pending  # never touched: still waiting


async def test_accept_all_passing_says_how_many(ws):
    items = make_drafts(ws, passing=3, failing=2)
    app = FtuiApp(ws, start_pane="correct")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("A")
        await pilot.pause()
        assert type(app.screen).__name__ == "ConfirmScreen"
        assert "Accept 3 drafts that pass the grader in wrong_symbol?" in str(app.screen.query_one("#cf-q").render())
        await pilot.press("y")
        await settle(pilot, app, 3)
    store = CorrectionStore(ws).all()
    assert set(store) == {it.id for it in items[:3]}
    assert {draft_store.DraftStore(ws).get(it.id).status for it in items[3:5]} == {"draft"}


async def test_draft_key_shows_the_prompt_and_runs_a_job(ws):
    with ChatServer(teacher_reply) as server:
        teacher = draft_teacher.Teacher("endpoint", "teacher-x", server.base_url, "NO_KEY")
        draft_teacher.save_prompt_settings(ws, "wrong_symbol", draft_teacher.PromptSettings(teacher=teacher.to_dict()))
        app = FtuiApp(ws, start_pane="correct")
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot, app)
            pane = app.screen
            n = len(pane.cluster.items)
            await pilot.press("d")
            await pilot.pause()
            assert type(app.screen).__name__ == "DraftPromptScreen"
            head = str(app.screen.query_one("#dp-head").render())
            assert f"{n} items to draft" in head and teacher.name in head
            for ch in "JSON only":
                await pilot.press("space" if ch == " " else ch)
            await pilot.press("ctrl+d")
            await settle(pilot, app)
            await pilot.pause(0.2)
            assert pane._draft_job is not None, [n.message for n in app._notifications]
            assert "drafting" in str(pane.query_one("#co-status").render())
            deadline = time.monotonic() + 60
            while pane._draft_job is not None and time.monotonic() < deadline:
                await pilot.pause(0.5)
            assert pane._draft_job is None
            await settle(pilot, app)
            assert len(server.requests) == n
            assert "JSON only" in server.requests[0]["body"]["messages"][-1]["content"]
            assert draft_teacher.prompt_settings(ws, "wrong_symbol").instruction == "JSON only"
            drafts = draft_store.DraftStore(ws).all()
            assert len(drafts) == n
            # The current item's draft is on screen with its grade.
            d = drafts[pane.item.id]
            assert pane.editor.text == d.output
            assert ("✔ passes" if d.passed else "✘ fails") in str(pane.query_one("#co-json").render())
            assert f"{n} drafts ({sum(x.passed for x in drafts.values())} pass)" in str(
                pane.query_one("#co-status").render()
            )
    assert CorrectionStore(ws).all() == {}
    assert (
        json.loads((draft_store.drafts_dir(ws) / draft_teacher.PROMPTS).read_text())["wrong_symbol"]["teacher"]["model"]
        == "teacher-x"
    )
