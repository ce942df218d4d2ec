"""`?`: the current pane's help text and every key it answers to."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown, Static

from ftui.tui.keymap import display


def keys_markdown(screen) -> str:
    """Every key the screen answers to, several keys of one action on one row, with the id that
    ~/.config/ftui/keys.yaml remaps it by."""
    rows: dict[tuple[str, str], list] = {}
    for key, active in screen.active_bindings.items():
        b = active.binding
        if not b.description:
            continue
        rows.setdefault((b.action, b.description), [b, []])[1].append(key)
    lines = []
    for b, keys in rows.values():
        shown = "/".join(dict.fromkeys(display(k) for k in keys))
        lines.append(f"| `{shown}` | {b.description} | {b.tooltip or ''} | `{b.id or ''}` |")
    return "| Key | Action | | id |\n|---|---|---|---|\n" + "\n".join(lines)


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
