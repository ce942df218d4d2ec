"""Before drafting a cluster: who the teacher is, how many items it will draft, and the prompt it sees."""

from __future__ import annotations

from dataclasses import replace

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Static, TextArea

from ftui.core.curate.drafts.teacher import PromptSettings


class DraftPromptScreen(ModalScreen):
    """Dismisses with the edited PromptSettings to draft with, or None when cancelled."""

    BINDINGS = [
        # Priority: the Input and TextArea bind these keys to editing commands of their own.
        Binding(
            "ctrl+d", "go", "Draft", id="draft_prompt.go", tooltip="Save this prompt and start drafting", priority=True
        ),
        Binding(
            "ctrl+r", "reset", "Default", id="draft_prompt.reset", tooltip="Back to the default template", priority=True
        ),
        Binding("escape", "cancel", "Cancel", id="draft_prompt.cancel", tooltip="Close without drafting"),
    ]
    DEFAULT_CSS = """
    DraftPromptScreen { align: center middle; }
    DraftPromptScreen > Vertical { width: 95%; height: 95%; background: $surface; border: round $primary; }
    DraftPromptScreen #dp-head { height: auto; padding: 0 1; color: $text-muted; }
    DraftPromptScreen #dp-instruction { height: 3; }
    DraftPromptScreen #dp-template { height: 1fr; border: none; }
    """

    def __init__(self, label: str, settings: PromptSettings, summary: str) -> None:
        super().__init__()
        self.label = label
        self.settings = settings
        self.summary = summary

    def compose(self) -> ComposeResult:
        with Vertical() as v:
            v.border_title = f"Draft {self.label}"
            yield Static(self.summary, id="dp-head")
            yield Input(self.settings.instruction, placeholder="Instruction for this cluster", id="dp-instruction")
            yield TextArea(self.settings.template, id="dp-template", soft_wrap=True, show_line_numbers=False)
            yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#dp-instruction", Input).focus()

    def action_go(self) -> None:
        self.dismiss(
            replace(
                self.settings,
                instruction=self.query_one("#dp-instruction", Input).value,
                template=self.query_one("#dp-template", TextArea).text,
            )
        )

    def action_reset(self) -> None:
        self.query_one("#dp-template", TextArea).load_text(PromptSettings().template)

    def action_cancel(self) -> None:
        self.dismiss(None)
