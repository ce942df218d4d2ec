"""The Correct pane's main flow, driven by keys only; results checked in the corrections store."""

from __future__ import annotations

import json

from ftui.core.curate.corrections import CorrectionStore
from ftui.tui.app import FtuiApp
from ftui.tui.session import apply_template
from tests.tui.conftest import settle


async def type_text(pilot, text: str) -> None:
    for ch in text:
        await pilot.press("space" if ch == " " else ch)


async def test_correct_three_items_by_keys(ws):
    app = FtuiApp(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("enter")  # cluster table → item table
        await pilot.press("enter")  # item → Correct pane
        await settle(pilot, app)
        assert app.current_mode == "correct"
        pane = app.screen
        first = pane.item.id
        for word in ("alpha", "beta", "gamma"):
            await pilot.press("e")
            await type_text(pilot, f"fixed {word}")
            await pilot.press("escape")  # leaving the editor saves
            await settle(pilot, app)
            await pilot.press("n")
            await settle(pilot, app)
        store = CorrectionStore(ws).all()
        saved = {c.output for c in store.values() if c.status == "corrected"}
        assert saved == {"fixed alpha", "fixed beta", "fixed gamma"}
        assert first in store
        assert "3 corrected" in str(pane.query_one("#co-status").render())


async def test_autosave_without_leaving_then_skip_review_revert(ws):
    app = FtuiApp(ws, start_pane="correct")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        pane = app.screen
        item = pane.item
        await pilot.press("e")
        await type_text(pilot, "typed")
        # No escape: the debounce timer must write it by itself.
        await pilot.pause(1.2)
        await settle(pilot, app)
        assert CorrectionStore(ws).get(item.id).output == "typed"
        await pilot.press("escape", "h")
        await settle(pilot, app)
        assert CorrectionStore(ws).get(item.id).status == "needs_review"
        await pilot.press("u")
        await settle(pilot, app)
        assert CorrectionStore(ws).get(item.id) is None
        await pilot.press("s")  # skip moves on to the next item to do
        await settle(pilot, app)
        assert CorrectionStore(ws).get(item.id).status == "skipped"
        assert pane.item.id != item.id


async def test_prefill_and_json_indicator(ws):
    app = FtuiApp(ws, start_pane="correct")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        pane = app.screen
        assert pane.cluster.label == "wrong_symbol"  # expected answers are JSON
        await pilot.press("o")
        await pilot.pause()
        assert pane.editor.text == pane.item.answer
        assert "JSON ✔ valid" in str(pane.query_one("#co-json").render())
        await pilot.press("end", "x")
        await pilot.pause()
        assert "JSON ✘" in str(pane.query_one("#co-json").render())


async def test_template_accept_and_reject_per_item(ws):
    template = '{"file_path": "{expected.file_path}", "symbol": "{expected.symbol}"}'
    app = FtuiApp(ws, start_pane="correct")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        pane = app.screen
        items = list(pane.cluster.items)
        await pilot.press("e")
        pane.editor.insert(template)
        await pilot.press("escape")  # the template text is autosaved on the current item first...
        await settle(pilot, app)
        await pilot.press("t")
        await pilot.pause()
        assert type(app.screen).__name__ == "TemplateScreen"
        await pilot.press("a", "z", "a", "escape")
        await settle(pilot, app, 3)
        store = CorrectionStore(ws).all()
        # ...and replaced by its filled-in text: accepted items 0 and 2, rejected item 1.
        assert set(store) == {items[0].id, items[2].id}
        for it in (items[0], items[2]):
            assert json.loads(store[it.id].output) == json.loads(it.expected)
        assert "2 corrected" in str(pane.query_one("#co-status").render())


def test_apply_template_placeholders(ws):
    from ftui.core.logs.runlog import load_run_log

    item = load_run_log(ws).items[0]
    out = apply_template('{"f": "{expected.file_path}"} {id} {label} {unknown}', item)
    assert out == '{"f": "src/cache.py"} q000 wrong_symbol {unknown}'


async def test_browsing_never_rewrites_a_correction(ws):
    from ftui.core.logs.runlog import load_run_log

    log = load_run_log(ws)
    store = CorrectionStore(ws)
    store.skip(log.by_id["q000"])
    store.save(log.by_id["q001"], "kept as is")
    before = {k: (v.status, v.updated) for k, v in store.all().items()}
    app = FtuiApp(ws, start_pane="correct")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await app.run_action("pane('clusters')")
        app.open_correct("wrong_symbol", "q000")
        await settle(pilot, app)
        await pilot.press("right_square_bracket", "right_square_bracket", "left_square_bracket")
        await pilot.pause(1.2)  # longer than the autosave delay
        await settle(pilot, app)
    after = {k: (v.status, v.updated) for k, v in CorrectionStore(ws).all().items()}
    assert after == before


async def test_item_header_says_what_the_counter_line_says_once_saved(ws):
    app = FtuiApp(ws, start_pane="correct")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        pane = app.screen
        item = pane.item

        def header() -> str:
            return str(pane.query_one("#co-item").render()).splitlines()[0]

        def counter() -> str:
            return str(pane.query_one("#co-status").render())

        assert header().endswith(" · to do") and f"{item.id} 1/" in counter() and " to do │" in counter()
        await pilot.press("e")
        await type_text(pilot, "the fixed answer")
        await pilot.press("escape")
        await settle(pilot, app)
        assert CorrectionStore(ws).get(item.id).status == "corrected"
        assert " corrected │" in counter() and header().endswith(" · corrected")
        await pilot.press("h")
        await settle(pilot, app)
        assert " needs review │" in counter() and header().endswith(" · needs review")


async def test_text_undone_to_nothing_is_not_a_correction(ws):
    app = FtuiApp(ws, start_pane="correct")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        pane = app.screen
        item = pane.item
        await pilot.press("e")
        await type_text(pilot, "draft")
        await pilot.pause(1.2)  # autosaved once
        await settle(pilot, app)
        assert CorrectionStore(ws).get(item.id) is not None
        for _ in range(5):
            await pilot.press("backspace")
        await pilot.press("escape")
        await settle(pilot, app, 3)
        status = str(pane.query_one("#co-status").render())
        assert CorrectionStore(ws).get(item.id) is None
        assert "0 corrected" in status and "✔ saved" not in status and "not saved" in status
        # The original answer typed back is the failure, not a correction.
        await pilot.press("o", "x", "backspace", "escape")  # o focuses the editor
        await settle(pilot, app, 3)
        assert CorrectionStore(ws).get(item.id) is None
        assert "same as the original answer: not saved" in str(pane.query_one("#co-status").render())
