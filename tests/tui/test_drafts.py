"""Drafting in the Correct pane, keys only: draft a cluster with a teacher, accept/edit/reject, accept all passing."""

from __future__ import annotations

import dataclasses
import json
import time

from ftui.core.curate.clusters import cluster_failures
from ftui.core.curate.corrections import CorrectionStore
from ftui.core.curate.drafts import store as draft_store
from ftui.core.curate.drafts import teacher as draft_teacher
from ftui.core.curate.drafts import trust as draft_trust
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
        await pilot.press("z")
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
        # It shows what it will accept before the yes: every item id with the start of its draft.
        detail = "\n".join(str(w.render()) for w in app.screen.query(".muted"))
        assert all(f"{it.id}: " in detail for it in items[:3]) and items[3].id not in detail
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


def test_a_copied_or_repeated_answer_is_flagged_and_not_counted_as_passing():
    expected = '{"file_path": "src/store.py"}'
    item = {
        "expected": expected,
        "original": "I think it is in utils.",
        "messages": [{"role": "user", "content": f"Fix this. The expected answer, from the graded log:\n{expected}"}],
    }
    assert draft_trust.suspect(expected, item) == ""  # the answer itself: right, not a copy inside other text
    assert "holds the expected answer its prompt showed" in draft_trust.suspect(f"Wrong, but {expected} maybe", item)
    assert draft_trust.suspect("I think it is in  UTILS.", item) == "repeats the original answer"
    hidden = {**item, "messages": [{"role": "user", "content": "Fix this."}]}
    assert draft_trust.suspect(f"It is {expected}", hidden) == ""  # the prompt did not show it: earned
    d = draft_store.Draft("q1", "c", "x", True, "", "contains", "t", "h", "2026", flag="repeats the original answer")
    assert d.passed and not d.passes


def test_the_teacher_being_the_model_fixed_is_warned(ws):
    assert "is the model being fixed" in draft_trust.teacher_warning(ws, draft_teacher.Teacher(model=ws.model))
    other = draft_teacher.Teacher(kind="endpoint", model="gpt-4o-mini", base_url="http://x/v1")
    assert draft_trust.teacher_warning(ws, other) == ""


async def test_bulk_accept_leaves_flagged_drafts_out(ws):
    items = make_drafts(ws, passing=3, failing=0)
    store = draft_store.DraftStore(ws)
    flagged = dataclasses.replace(store.get(items[1].id), flag="repeats the original answer")
    store.append([flagged])
    app = FtuiApp(ws, start_pane="correct")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        assert "3 drafts (2 pass)" in str(app.screen.query_one("#co-status").render())
        await pilot.press("A")
        await pilot.pause()
        assert "Accept 2 drafts" in str(app.screen.query_one("#cf-q").render())
        await pilot.press("y")
        await settle(pilot, app, 3)
    assert set(CorrectionStore(ws).all()) == {items[0].id, items[2].id}
