"""A 100,000-row table works end to end (its speed: benchmarks/table_scale.py)."""

from __future__ import annotations

from textual.app import App, ComposeResult

from ftui.tui.widgets.row_table import Column, RowTable

N = 100_000
ROWS = [(f"q{i:06d}", "· to do", f"Where is symbol_{i} defined in module_{i % 97}?") for i in range(N)]


class RowTableApp(App):
    def compose(self) -> ComposeResult:
        yield RowTable([Column("id", 8), Column("status", 10), Column("question", 0)], lambda r: r, id="t")
