"""Pick one of a list (a merge target, a format): nothing to type, so nothing to mistype."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option


class PickScreen(ModalScreen[str | None]):
    """Choices as (value, label); dismisses with the chosen value, or None on escape."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="pick.cancel", tooltip="Close without choosing"),
        Binding("j", "cursor_down", show=False),
        Binding("k", "cursor_up", show=False),
    ]
    DEFAULT_CSS = """
    PickScreen { align: center middle; }
    PickScreen > Vertical { width: 70; max-width: 100%; height: auto; max-height: 80%; background: $surface;
        border: thick $accent; padding: 0 1; }
    PickScreen #pk-q { text-style: bold; }
    PickScreen OptionList { height: auto; max-height: 16; }
    """

    def __init__(self, question: str, choices: list[tuple[str, str]], detail: str = "") -> None:
        super().__init__()
        self.question = question
        self.choices = choices
        self.detail = detail

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, id="pk-q")
            if self.detail:
                yield Static(self.detail, classes="muted")
            # No option is highlighted until the user moves: enter alone chooses nothing.
            yield OptionList(*[Option(label, id=value) for value, label in self.choices], id="pk-list")
            yield Static("↑/↓ or j/k: choose · enter: done · esc: cancel", classes="muted")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = None
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cursor_down(self) -> None:
        self.query_one(OptionList).action_cursor_down()

    def action_cursor_up(self) -> None:
        self.query_one(OptionList).action_cursor_up()

    def action_cancel(self) -> None:
        self.dismiss(None)
