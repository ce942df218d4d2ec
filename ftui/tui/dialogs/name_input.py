"""A one-line question with a text answer: a cluster's new name, where to move an item."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class NameScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="name.cancel", tooltip="Close without changing anything")]
    DEFAULT_CSS = """
    NameScreen { align: center middle; }
    NameScreen > Vertical { width: 70; max-width: 100%; height: auto; background: $surface; border: thick $accent; padding: 0 1; }
    NameScreen #nm-q { text-style: bold; }
    """

    def __init__(self, question: str, value: str = "", detail: str = "") -> None:
        super().__init__()
        self.question = question
        self.value = value
        self.detail = detail

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, id="nm-q")
            if self.detail:
                yield Static(self.detail, classes="muted")
            yield Input(value=self.value, id="nm-input")
            yield Static("enter: done · escape: cancel", classes="muted")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        self.dismiss(text or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
