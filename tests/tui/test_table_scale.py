"""A 100,000-row table must move its cursor without visible lag.

Measured on this machine: see the printed figures (run with -s). Textual's DataTable needs every
row added up front; RowTable renders only the visible lines, so its cost does not grow with rows.
"""

from __future__ import annotations

import time

from textual.app import App, ComposeResult
from textual.widgets import DataTable, Static

from ftui.tui.widgets.row_table import Column, RowTable

N = 100_000
ROWS = [(f"q{i:06d}", "· to do", f"Where is symbol_{i} defined in module_{i % 97}?") for i in range(N)]


class RowTableApp(App):
    def compose(self) -> ComposeResult:
        yield RowTable([Column("id", 8), Column("status", 10), Column("question", 0)], lambda r: r, id="t")


class BaselineApp(App):
    def compose(self) -> ComposeResult:
        yield Static("nothing to do")


class DataTableApp(App):
    def compose(self) -> ComposeResult:
        yield DataTable(id="t")


async def _key_latency(app, pilot, presses: int) -> float:
    t0 = time.perf_counter()
    for _ in range(presses):
        await pilot.press("down")
    await pilot.pause()
    return (time.perf_counter() - t0) / presses


async def test_row_table_100k_rows_is_fast():
    # A key press through Pilot has a fixed cost of its own (tens of ms on a busy 2-core box):
    # measure it on an app that does nothing and compare against that.
    base = BaselineApp()
    async with base.run_test(size=(80, 24)) as pilot:
        baseline = await _key_latency(base, pilot, 100)
    app = RowTableApp()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one("#t", RowTable)
        t0 = time.perf_counter()
        table.set_rows(ROWS)
        table.focus()
        await pilot.pause()
        load = time.perf_counter() - t0
        per_key = await _key_latency(app, pilot, 200)
        await pilot.press("end")
        await pilot.pause()
        assert table.cursor == N - 1
        assert table.current[0] == f"q{N - 1:06d}"
        await pilot.press("pageup")
        await pilot.pause()
        assert table.cursor < N - 1
        t0 = time.perf_counter()
        for _ in range(20):
            for y in range(table.size.height):
                table.render_line(y)
        frame = (time.perf_counter() - t0) / 20
    print(
        f"\nRowTable: load {N:,} rows {load * 1000:.0f} ms; key press {per_key * 1000:.1f} ms "
        f"(Pilot baseline {baseline * 1000:.1f} ms); one full frame of lines {frame * 1000:.2f} ms"
    )
    assert load < 1.0
    assert frame < 0.01
    assert per_key < baseline + 0.1


async def test_data_table_comparison():
    """Not a gate: the figure that justified RowTable. DataTable is measured on 10% of the rows."""
    app = DataTableApp()
    n = N // 10
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one("#t", DataTable)
        table.add_columns("id", "status", "question")
        t0 = time.perf_counter()
        table.add_rows(ROWS[:n])
        table.focus()
        await pilot.pause()
        load = time.perf_counter() - t0
        per_key = await _key_latency(app, pilot, 50)
    print(
        f"\nDataTable: load {n:,} rows {load * 1000:.0f} ms (≈{load * 10:.1f} s for {N:,}), {per_key * 1000:.1f} ms per key press"
    )
    assert table.row_count == n
