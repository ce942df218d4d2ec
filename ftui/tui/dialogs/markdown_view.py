"""A Markdown document over the current pane (the postmortem)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Markdown


class MarkdownScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,w", "close", "Close", id="markdown.close", tooltip="Back to the pane")]
    DEFAULT_CSS = """
    MarkdownScreen { align: center middle; }
    MarkdownScreen > VerticalScroll { width: 96%; height: 92%; background: $surface; border: round $primary; padding: 0 1; }
    """

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self.title_text = title
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll() as v:
            v.border_title = self.title_text
            yield Markdown(self.text)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)
