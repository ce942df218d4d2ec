"""Pick one of the tools a request declares: its name, then what it is for."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option


class ToolPickScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="toolpick.cancel", tooltip="Close without choosing")]
    DEFAULT_CSS = """
    ToolPickScreen { align: center middle; }
    ToolPickScreen > Vertical { width: 70; max-width: 100%; height: auto; max-height: 90%;
        background: $surface; border: thick $accent; padding: 0 1; }
    ToolPickScreen #tp-q { text-style: bold; }
    ToolPickScreen OptionList { height: auto; max-height: 14; }
    """

    def __init__(self, tools: list[dict[str, Any]], current: str | None = None) -> None:
        super().__init__()
        self.tools = tools
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Call which tool?", id="tp-q")
            options = []
            for t in self.tools:
                fn = t["function"]
                desc = str(fn.get("description") or "")
                options.append(Option(f"{fn['name']}" + (f" — {desc}" if desc else ""), id=fn["name"]))
            yield OptionList(*options, id="tp-list")
            yield Static("enter: choose · escape: cancel", classes="muted")

    def on_mount(self) -> None:
        lst = self.query_one(OptionList)
        names = [t["function"]["name"] for t in self.tools]
        if self.current in names:
            lst.highlighted = names.index(self.current)
        lst.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
