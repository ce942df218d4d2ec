"""The workbench opened on a folder with a log but no ftui.yaml: what `ftui init` would write, to accept.

The screen shows how the log will be read (the tool or the guessed mapping, the pass rule, the
pass/fail counts, the first items) and the commented ftui.yaml; `w` writes it and opens the
workbench on the new workspace, `q` leaves without writing anything.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Footer, Header, Static

from ftui.core.workspace.init_file import preview, read_with, write_config, yaml_text
from ftui.core.workspace.sniff import Proposal


class InitApp(App[bool]):
    TITLE = "ftui · new workspace"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("w", "write", "Write ftui.yaml", id="init.write", tooltip="Write ftui.yaml and open the workbench"),
        Binding("q,escape", "quit_without", "Quit", id="init.quit", tooltip="Leave without writing anything"),
    ]
    DEFAULT_CSS = """
    #init-head { padding: 0 1; text-style: bold; }
    #init-preview { padding: 0 1; }
    #init-yaml { padding: 0 1; margin-top: 1; color: $text-muted; }
    """

    def __init__(self, prop: Proposal, workspace) -> None:
        super().__init__()
        self.prop = prop
        self.workspace = workspace

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(
            f"No ftui.yaml here. This is how ftui would read {self.prop.log.name}; press w to write it.",
            id="init-head",
            markup=False,
        )
        with VerticalScroll():
            yield Static(preview(self.prop, read_with(self.prop), width=74), id="init-preview", markup=False)
            yield Static(yaml_text(self.prop), id="init-yaml", markup=False)
        yield Footer()

    def action_write(self) -> None:
        write_config(self.prop, self.workspace)
        self.exit(True)

    def action_quit_without(self) -> None:
        self.exit(False)
