"""Pick an export format for the newest build."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option


class ExportScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="export.cancel", tooltip="Close without exporting")]
    DEFAULT_CSS = """
    ExportScreen { align: center middle; }
    ExportScreen > Vertical { width: 90%; max-width: 110; height: auto; max-height: 90%; background: $surface; border: round $primary; }
    ExportScreen OptionList { height: auto; max-height: 14; border: none; }
    """

    def __init__(self, choices: list[tuple[str, tuple[str, str]]]) -> None:
        super().__init__()
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical() as v:
            v.border_title = "Export the build as…"
            v.border_subtitle = "enter export · esc cancel"
            yield OptionList(*[Option(f"{name}  —  {desc}", id=name) for name, (_, desc) in self.choices])
            yield Static("Written under .ftui/exports/<build>/<format>/ (train and eval files).", classes="muted")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
