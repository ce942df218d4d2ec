"""A read-only table that renders only the rows on screen, so 100,000 rows cost nothing to show.

Textual's DataTable builds every row up front (measured in tests/tui/test_table_scale.py); this
widget keeps a plain list of rows plus a function that turns one row into cells, and renders a
line on demand with the line API.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ftui.tui import keymap


@dataclass(frozen=True)
class Column:
    title: str
    width: int  # 0 = take what is left
    align: str = "left"
    fit: int = 0  # > 0: widen up to this many cells to fit the longest value (first rows only)


def _fit(text: str, width: int, align: str) -> str:
    text = text.replace("\n", " ")
    if len(text) > width:
        return text[: max(0, width - 1)] + "…" if width > 0 else ""
    return text.rjust(width) if align == "right" else text.ljust(width)


class RowTable(ScrollView, can_focus=True):
    """Columns, rows and a row cursor; rows are any objects, `cells(row)` gives their text."""

    DEFAULT_CSS = """
    RowTable {
        background: $surface;
        height: 1fr;
        scrollbar-size-horizontal: 0;
        & > .rowtable--header { text-style: bold; color: $text-accent; background: $panel; }
        & > .rowtable--cursor { background: $block-cursor-blurred-background; }
        &:focus > .rowtable--cursor { background: $block-cursor-background; color: $block-cursor-foreground; text-style: bold; }
        & > .rowtable--empty { color: $text-muted; text-style: italic; }
    }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "rowtable--header",
        "rowtable--cursor",
        "rowtable--empty",
    }
    BINDINGS: ClassVar[list[BindingType]] = keymap.bindings("table")  # ↑/k ↓/j, pages, enter

    cursor = reactive(0, always_update=True, init=False)

    class Highlighted(Message):
        def __init__(self, table: RowTable, index: int, row: Any) -> None:
            super().__init__()
            self.table = table
            self.index = index
            self.row = row

        @property
        def control(self) -> RowTable:
            return self.table

    class Selected(Highlighted):
        pass

    def __init__(
        self,
        columns: Sequence[Column],
        cells: Callable[[Any], Sequence[str]],
        *,
        empty: str = "nothing here",
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.columns = list(columns)
        self.cells = cells
        self.empty = empty
        self.rows: list[Any] = []

    # -- data ------------------------------------------------------------------------------
    def set_rows(self, rows: Sequence[Any], keep: Any = None, key: Callable[[Any], Any] | None = None) -> None:
        """Replace the rows; put the cursor back on `keep` when it is still there.

        Without `key`, `keep` is a row; with it, `keep` is a key value matched against key(row): a
        reloaded row is a new object with new counts but the same name.
        """
        self.rows = list(rows)
        self._fit_columns()
        index = 0
        if keep is not None:
            for i, r in enumerate(self.rows):
                if (key(r) == keep) if key is not None else (r is keep or r == keep):
                    index = i
                    break
        self.virtual_size = Size(self.size.width, len(self.rows) + 1)
        self.refresh()
        self.move_to(index)

    def _fit_columns(self) -> None:
        if not any(c.fit for c in self.columns):
            return
        sample = [self.cells(r) for r in self.rows[:2000]]
        fitted = []
        for i, c in enumerate(self.columns):
            if c.fit:
                longest = max([len(str(cells[i])) for cells in sample] + [len(c.title)])
                fitted.append(Column(c.title, max(c.width, min(c.fit, longest)), c.align, c.fit))
            else:
                fitted.append(c)
        self.columns = fitted

    @property
    def current(self) -> Any:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    def move_to(self, index: int) -> None:
        if not self.rows:
            self.cursor = 0
            return
        self.cursor = max(0, min(len(self.rows) - 1, index))

    def watch_cursor(self, old: int, new: int) -> None:
        self.refresh()
        # The header takes the first line of the viewport; keep the cursor row below it.
        visible = max(1, self.size.height - 1)
        top = int(self.scroll_offset.y)
        if new < top:
            self.scroll_to(y=new, animate=False, force=True, immediate=True)
        elif new >= top + visible:
            self.scroll_to(y=new - visible + 1, animate=False, force=True, immediate=True)
        if self.rows:
            self.post_message(self.Highlighted(self, new, self.rows[new]))

    def refresh_rows(self) -> None:
        self.refresh()

    # -- actions ---------------------------------------------------------------------------
    def action_cursor(self, delta: int) -> None:
        self.move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_to(self.cursor + direction * max(1, self.size.height - 2))

    def action_first(self) -> None:
        self.move_to(0)

    def action_last(self) -> None:
        self.move_to(len(self.rows) - 1)

    def action_select(self) -> None:
        if self.rows:
            self.post_message(self.Selected(self, self.cursor, self.rows[self.cursor]))

    async def _on_click(self, event: events.Click) -> None:
        y = event.y + int(self.scroll_offset.y)
        if y >= 1 and y - 1 < len(self.rows):
            if self.cursor == y - 1 and event.chain >= 2:
                self.action_select()
            self.move_to(y - 1)

    def _on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(event.size.width, len(self.rows) + 1)

    # -- rendering -------------------------------------------------------------------------
    def _widths(self, width: int) -> list[int]:
        fixed = sum(c.width for c in self.columns) + len(self.columns)
        flex = [c for c in self.columns if c.width == 0]
        spare = max(4, width - fixed) // max(1, len(flex)) if flex else 0
        return [c.width or spare for c in self.columns]

    def _line_text(self, values: Sequence[str], widths: list[int]) -> str:
        parts = [_fit(str(v), w, c.align) for v, w, c in zip(values, widths, self.columns, strict=False)]
        return " " + " ".join(parts)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        widths = self._widths(width)
        if y == 0:
            # The header stays put while the rows scroll under it.
            style = base + self.get_component_rich_style("rowtable--header")
            text = self._line_text([c.title for c in self.columns], widths)
            return Strip([Segment(text[:width].ljust(width), style)], width)
        index = int(self.scroll_offset.y) + y - 1
        if not self.rows:
            if y == 1:
                style = base + self.get_component_rich_style("rowtable--empty")
                return Strip([Segment((" " + self.empty)[:width].ljust(width), style)], width)
            return Strip.blank(width, base)
        if index >= len(self.rows):
            return Strip.blank(width, base)
        style: Style = base
        if index == self.cursor:
            style = base + self.get_component_rich_style("rowtable--cursor")
        text = self._line_text(self.cells(self.rows[index]), widths)
        return Strip([Segment(text[:width].ljust(width), style)], width)
