"""Compare → x: the run's exports with their parity against the judged answers, item by item."""

from __future__ import annotations

import json

from ftui.core.base.events import EventWriter
from ftui.core.base.fsutil import atomic_write_json
from ftui.core.ship import exports, parity
from ftui.tui.app import FtuiApp
from tests.tui.conftest import add_report, settle


def _fake_export(run_dir, name="gguf-q8_0"):
    out = run_dir / "exports" / name
    out.mkdir(parents=True)
    memory = {"peak_rss_bytes": 774_000_000, "start_rss_bytes": 231_000_000, "model_bytes": 538_000_000, "shards": 1}
    atomic_write_json(
        out / exports.MANIFEST,
        {"name": name, "format": "gguf", "quant": "q8_0", "bytes": 145_000_000, "seconds": 46.2, "memory": memory},
    )
    jd = exports.job_dir(run_dir, name)
    jd.mkdir(parents=True)
    atomic_write_json(jd / exports.CONFIG, {"name": name, "format": "gguf", "out": str(out)})
    with EventWriter(jd / exports.EVENTS) as w:
        w.emit("started", pid=1)
        w.emit("finished", out=str(out))
    g_pass, g_fail = (
        {"passed": True, "reason": "ok", "grader": "contains"},
        {"passed": False, "reason": "no", "grader": "contains"},
    )
    records = [
        {"id": "q01", "cluster": "c", "task": None, "reference_answer": "a.py", "reference_grade": g_pass,
         "export_answer": "a.py", "export_grade": g_pass},
        {"id": "q02", "cluster": "c", "task": None, "reference_answer": "b.py", "reference_grade": g_pass,
         "export_answer": "it is b", "export_grade": g_fail},
    ]  # fmt: skip
    pd = run_dir / parity.PARITY_DIR / name
    pd.mkdir(parents=True)
    atomic_write_json(pd / "config.json", {"name": name})
    with EventWriter(pd / "events.jsonl") as w:
        w.emit("finished")
    result = {
        "name": name,
        "format": "gguf",
        "run_id": run_dir.name,
        "consumer": "llama.cpp",
        "summary": parity.compare(records),
    }
    (pd / parity.RESULT).write_text(json.dumps(result))


async def test_ship_screen_lists_exports_with_parity_and_shows_a_flip(ws):
    run_dir = add_report(ws)
    _fake_export(run_dir)
    app = FtuiApp(ws, start_pane="compare")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, 3)
        await pilot.press("X")
        await settle(pilot, app, 3)
        screen = app.screen
        assert type(screen).__name__ == "ShipScreen"
        table = screen.query_one("#ship-exports")
        assert [r["name"] for r in table.rows] == ["gguf-q8_0"]
        assert table.rows[0]["parity"]["flips"] == 1 and table.rows[0]["parity"]["identical"] == 1
        assert table.rows[0]["note"] == "145 MB · 46s"
        status = str(screen.query_one("#ship-status").render())
        assert status.startswith(str(run_dir / "exports" / "gguf-q8_0"))
        assert "peak memory 774 MB (+543 MB writing, weights 538 MB) · parity through llama.cpp" in status
        assert "out of 2 benchmark items" in status
        items = screen.query_one("#ship-items")
        assert [r["id"] for r in items.rows] == ["q02", "q01"]  # the lost grade first
        items.focus()
        await pilot.press("down", "up")
        await pilot.pause()
        diff = screen.query_one("#ship-diff")
        assert str(diff.query_one("#wd-base").border_title) == "Judged ✔ pass"
        assert str(diff.query_one("#wd-tuned").border_title) == "Export ✘ fail"
        # The fixture run has no adapter: asking for an export is one clear line, nothing starts.
        await pilot.press("X")  # a pick list of formats: the first is merged
        await pilot.pause()
        await pilot.press("j", "enter")
        await settle(pilot, app)
        notes = [n.message for n in app._notifications]
        assert any("has no adapter" in m and "\n" not in m for m in notes)
        assert not exports.job_dir(run_dir, "merged").exists()
        await pilot.press("escape")
        await pilot.pause()
        assert type(app.screen).__name__ == "ComparePane"
