"""A 100,000-row table: ftui's RowTable against Textual's DataTable, in one run.

DataTable needs every row added up front, so its load grows with the rows; RowTable keeps the rows
as data and renders only the visible lines. Printed: load time, the cost of a cursor key press (over
a do-nothing app's press through Pilot, which has a fixed cost of its own) and of one full frame of
lines. DataTable is measured on 10% of the rows; its load is scaled up for the ratio.

    python benchmarks/table_scale.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from textual.app import App, ComposeResult
from textual.widgets import DataTable, Static

from ftui.tui.widgets.row_table import Column, RowTable


def _rows(n: int) -> list[tuple[str, str, str]]:
    return [(f"q{i:06d}", "· to do", f"Where is symbol_{i} defined in module_{i % 97}?") for i in range(n)]


class _Baseline(App[None]):
    def compose(self) -> ComposeResult:
        yield Static("nothing to do")


class _Rows(App[None]):
    def compose(self) -> ComposeResult:
        yield RowTable([Column("id", 8), Column("status", 10), Column("question", 0)], lambda r: r, id="t")


class _Data(App[None]):
    def compose(self) -> ComposeResult:
        yield DataTable(id="t")


async def _key_latency(pilot, presses: int) -> float:
    t0 = time.perf_counter()
    for _ in range(presses):
        await pilot.press("down")
    await pilot.pause()
    return (time.perf_counter() - t0) / presses


async def main(n: int) -> None:
    rows = _rows(n)
    base = _Baseline()
    async with base.run_test(size=(80, 24)) as pilot:
        baseline = await _key_latency(pilot, 100)

    app = _Rows()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one("#t", RowTable)
        t0 = time.perf_counter()
        table.set_rows(rows)
        table.focus()
        await pilot.pause()
        load = time.perf_counter() - t0
        per_key = await _key_latency(pilot, 200)
        t0 = time.perf_counter()
        for _ in range(20):
            for y in range(table.size.height):
                table.render_line(y)
        frame = (time.perf_counter() - t0) / 20

    d_app = _Data()
    tenth = n // 10
    async with d_app.run_test(size=(80, 24)) as pilot:
        dt = d_app.query_one("#t", DataTable)
        dt.add_columns("id", "status", "question")
        t0 = time.perf_counter()
        dt.add_rows(rows[:tenth])
        dt.focus()
        await pilot.pause()
        d_load = (time.perf_counter() - t0) * n / tenth
        d_key = await _key_latency(pilot, 50)

    print(f"Pilot key press on a do-nothing app: {baseline * 1000:.1f} ms")
    print(
        f"RowTable  {n:,} rows: load {load * 1000:.0f} ms, key press {per_key * 1000:.1f} ms, "
        f"frame of lines {frame * 1000:.2f} ms"
    )
    print(f"DataTable {n:,} rows: load {d_load * 1000:.0f} ms (from {tenth:,}), key press {d_key * 1000:.1f} ms")
    print(f"load ratio DataTable / RowTable: {d_load / load:.1f}x")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    asyncio.run(main(ap.parse_args().rows))
