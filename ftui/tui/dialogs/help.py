"""`?`: the current pane's help text and every key it answers to."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown, Static


def keys_markdown(screen) -> str:
    rows = []
    seen = set()
    for _key, active in screen.active_bindings.items():
        b = active.binding
        if not b.description or (b.action, b.description) in seen:
            continue
        seen.add((b.action, b.description))
        display = screen.app.get_key_display(b)
        rows.append(f"| `{display}` | {b.description} | {b.tooltip or ''} |")
    return "| Key | Action | |\n|---|---|---|\n" + "\n".join(rows)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,question_mark,q", "dismiss", "Close", id="help.close", tooltip="Close the help"),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90%; max-width: 100; height: 90%;
        background: $surface; border: round $primary; padding: 0 1;
    }
    HelpScreen #help-hint { color: $text-muted; }
    """

    def __init__(self, title: str, text: str, keys: str) -> None:
        super().__init__()
        self.title_text = title
        self.text = text
        self.keys = keys

    def compose(self) -> ComposeResult:
        with VerticalScroll() as v:
            v.border_title = f"Help: {self.title_text}"
            yield Markdown(self.text + "\n\n## Keys\n\n" + self.keys)
            yield Static("esc closes · arrows / PgUp / PgDn scroll", id="help-hint")

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
