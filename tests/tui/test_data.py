"""Data pane: build from the corrections, see the pre-flight report, export a format."""

from __future__ import annotations

import json

from ftui.core.curate.corrections import CorrectionStore
from ftui.core.logs.runlog import load_run_log
from ftui.tui.app import FtuiApp
from ftui.tui.panes.data.pane import histogram_text
from tests.tui.conftest import settle


def _correct(ws, n: int) -> list[str]:
    log = load_run_log(ws)
    store = CorrectionStore(ws)
    done = []
    for item in log.items:
        if item.label == "wrong_symbol" and item.retrieval_hit and len(done) < n:
            store.save(item, item.expected)
            done.append(item.id)
    return done


async def test_build_check_and_export_by_keys(ws):
    done = _correct(ws, 6)
    app = FtuiApp(ws, start_pane="data")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("b")
        await settle(pilot, app, 3)
        pane = app.screen
        assert pane.build is not None and pane.report is not None
        status = str(pane.query_one("#dt-status").render())
        assert status.startswith(f"build {pane.build.id}:") and "check:" in status
        counts = str(pane.query_one("#dt-counts").render())
        assert "corrections" in counts and "discarded" in counts
        rows = pane.query_one("#dt-findings").rows
        discarded = {r[2] for r in rows if r[0] == "discarded"}
        assert discarded and not discarded & set(done)
        # Without the model's tokenizer on disk the pane says why token counts are missing.
        assert "token counts skipped" in str(pane.query_one("#dt-hist").render())
        await pilot.press("X")
        await pilot.pause()
        assert type(app.screen).__name__ == "ExportScreen"
        await pilot.press("enter")  # the first format: OpenAI chat
        await settle(pilot, app)
        out = ws.state.root / "exports" / pane.build.id / "openai-chat" / "train.jsonl"
        assert out.is_file()
        first = json.loads(out.read_text().splitlines()[0])
        assert set(first) == {"messages"}


def test_histogram_text():
    text = histogram_text(
        {
            "count": 3,
            "min": 10,
            "mean": 20.0,
            "max": 30,
            "max_length": 25,
            "truncated": [{"id": "a"}],
            "histogram": [{"lo": 10, "hi": 19, "count": 2}, {"lo": 20, "hi": 30, "count": 1}],
        }
    )
    lines = text.splitlines()
    assert lines[0] == "tokens: min 10 · mean 20 · max 30"
    assert lines[1] == "over max length 25: 1"
    assert lines[2].endswith("█" * 14) and lines[3].endswith("█" * 7)


async def test_newest_build_is_shown_and_checked_on_open(ws):
    from ftui.core.build import builder

    _correct(ws, 4)
    build = builder.build(ws)
    app = FtuiApp(ws, start_pane="data")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, 3)
        pane = app.screen
        assert pane.build.id == build.id and pane.report is not None
        assert "check:" in str(pane.query_one("#dt-status").render())


def test_counts_say_how_many_rows_are_preserved_and_dpo_is_one_count():
    from pathlib import Path

    from ftui.core.build.store import Build
    from ftui.tui.panes.data.pane import counts_text

    counts = {"train": 12, "train_corrections": 6, "train_anchors": 3, "eval": 2, "discarded": 0}
    counts |= {"dpo_train": 50, "dpo_validation": 7, "dpo_eval": 9}
    plain = counts_text(Build(Path("."), {"build_id": "b", "counts": counts}))
    assert plain.splitlines()[0] == "train 12: 6 corrections + 3 anchors"
    kept = counts_text(Build(Path("."), {"build_id": "b", "counts": {**counts, "preserve": 3}}))
    assert kept.splitlines()[0] == "train 12: 6 corrections + 3 anchors + 3 preserved (KL)"
    # Preservation asked for but none kept: the line says 0 rather than vanishing.
    none = counts_text(Build(Path("."), {"build_id": "b", "counts": counts, "options": {"preserve": ["x"]}}))
    assert none.splitlines()[0] == "train 12: 6 corrections + 3 anchors + 0 preserved (KL)"
    # The header and the panel give the same DPO count (train + validation + held out).
    header = Build(Path("."), {"build_id": "b", "counts": counts}).summary_line()
    assert "66 DPO pairs" in header and "DPO pairs 66" in plain


async def test_repeated_findings_are_one_row_until_a_lists_every_one(ws):
    app = FtuiApp(ws, start_pane="data")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("b")
        await settle(pilot, app, 3)
        pane = app.screen
        table = pane.query_one("#dt-findings")
        left_out = pane.build.manifest["discarded"]
        assert len(left_out) > 3 and {d["reason"] for d in left_out} == {"uncorrected"}
        grouped = [r for r in table.rows if r[0] == "discarded"]
        assert [r[:4] for r in grouped] == [
            ("discarded", "uncorrected", left_out[0]["id"], f"×{len(left_out)} not in training")
        ]
        table.focus()
        table.move_to(table.rows.index(grouped[0]))
        await pilot.pause()
        ids = [d["id"] for d in left_out]
        assert str(pane.query_one("#dt-finding").render()) == (
            f"×{len(ids)}: not in training — {ids[0]}, {ids[1]}, {ids[2]} and {len(ids) - 3} more (f: every finding)"
        )
        await pilot.press("f")
        await pilot.pause()
        assert [r[2] for r in table.rows if r[0] == "discarded"] == ids
        await pilot.press("f")
        await pilot.pause()
        assert [r[:4] for r in table.rows if r[0] == "discarded"] == [r[:4] for r in grouped]


async def test_the_data_pane_says_when_the_build_is_older_than_the_corrections(ws):
    _correct(ws, 3)
    app = FtuiApp(ws, start_pane="data")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        await pilot.press("b")
        await settle(pilot, app, 3)
        pane = app.screen
        assert "older than the corrections" not in str(pane.query_one("#dt-status").render())
        log = load_run_log(ws)
        extra = next(it for it in log.items if it.label == "wrong_symbol" and it.retrieval_hit and it.id not in
                     CorrectionStore(ws).all())  # fmt: skip
        CorrectionStore(ws).save(extra, extra.expected)
        app.corrections_changed(extra.id)  # what the Correct pane announces after a save
        await settle(pilot, app, 3)
        status = str(pane.query_one("#dt-status").render())
        assert f"build {pane.build.id} is older than the corrections (1 new since)" in status
        await pilot.press("b")
        await settle(pilot, app, 3)
        assert "older than the corrections" not in str(pane.query_one("#dt-status").render())
