"""What every pane shares: the pane bar, the footer, help text and palette commands."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Static

from ftui.tui.keymap import display
from ftui.tui.messages import CorrectionsChanged, SessionFailed, SessionReady

if TYPE_CHECKING:
    from ftui.tui.app import FtuiApp
    from ftui.tui.session import Session

PANES: tuple[tuple[str, str, str], ...] = (
    ("1", "clusters", "Clusters"),
    ("2", "correct", "Correct"),
    ("3", "data", "Data"),
    ("4", "train", "Train"),
    ("5", "compare", "Compare"),
)


class PaneBar(Static):
    """The top line: workspace name and the five panes, the current one highlighted (clickable)."""

    DEFAULT_CSS = """
    PaneBar { height: 1; background: $panel; color: $text-muted; }
    """

    def __init__(self, current: str) -> None:
        super().__init__(id="pane-bar")
        self.current = current

    def on_mount(self) -> None:
        self.update(self._content())

    def _content(self) -> Content:
        app: FtuiApp = self.app  # type: ignore[assignment]
        parts = [Content.from_markup(" [b]ftui[/b] $name ", name=app.ws.name)]
        for key, mode, title in PANES:
            if mode == self.current:
                parts.append(Content.from_markup(" [b reverse] $key $title [/] ", key=key, title=title))
            else:
                parts.append(
                    Content.from_markup(f"[@click=app.pane('{mode}')] $key [b]$title[/b] [/]", key=key, title=title)
                )
        return Content("").join(parts)


class Pane(Screen):
    """A workbench pane. Subclasses set PANE, HELP and fill `on_session`."""

    PANE: ClassVar[str] = ""
    HELP: ClassVar[str] = ""

    @property
    def ftui(self) -> FtuiApp:
        return self.app  # type: ignore[return-value]

    @property
    def session(self) -> Session | None:
        return self.ftui.session

    def compose_bar(self) -> ComposeResult:
        yield PaneBar(self.PANE)

    def compose_footer(self) -> ComposeResult:
        yield Footer(compact=True, show_command_palette=False)

    _seen_session: object = None

    def on_mount(self) -> None:
        self.ftui.panes[self.PANE] = self
        if self.session is not None:
            self.call_after_refresh(self._take_session, self.session)
        elif self.ftui.load_error:
            self.show_error(self.ftui.load_error)

    def on_session_ready(self, message: SessionReady) -> None:
        self._take_session(message.session)

    def _take_session(self, session) -> None:
        if session is self._seen_session:
            return
        self._seen_session = session
        self.on_session(session)

    def on_session_failed(self, message: SessionFailed) -> None:
        self.show_error(message.error)

    def on_corrections_changed(self, message: CorrectionsChanged) -> None:
        self.corrections_changed(message.item_id)

    # -- for subclasses --------------------------------------------------------------------
    def on_session(self, session: Session) -> None:
        """Called once the workspace is loaded (or at mount when it already is)."""

    def corrections_changed(self, item_id: str) -> None:
        """Called when any pane changed a correction."""

    def show_error(self, error: str) -> None:
        self.notify(error, title="Cannot open the workspace", severity="error", timeout=30)

    def palette(self) -> Iterable[tuple[str, str, Callable[[], object]]]:
        """(name, help, callback) commands for the palette; by default every shown binding."""
        for binding in self._pane_bindings():
            yield (
                binding.tooltip or binding.description,
                f"key {display(binding.key)}",
                lambda action=binding.action: self.run_action(action),
            )

    def _pane_bindings(self):
        seen = set()
        for binding in self.BINDINGS:
            if isinstance(binding, Binding) and binding.description and binding.action not in seen:
                seen.add(binding.action)
                yield binding
