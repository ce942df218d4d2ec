"""The workbench: five panes over one workspace, keyboard first, nothing slow on the UI thread."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.worker import Worker, WorkerState

from ftui.core.workspace.workspace import Workspace
from ftui.tui import keymap
from ftui.tui.messages import CorrectionsChanged, SessionFailed, SessionReady
from ftui.tui.panes.base import PANES
from ftui.tui.session import Session
from ftui.tui.themes import FALLBACK, load_user_themes

_PANES = Binding.Group("Panes", compact=True)


def _pane_commands():
    # The palette machinery is imported when the palette first opens, not at start-up.
    from ftui.tui.palette import PaneCommands

    return PaneCommands


def _mode(name: str):
    # Screens are imported when first shown, which keeps the cold start short.
    def make():
        import importlib

        module = importlib.import_module(f"ftui.tui.panes.{name}.pane")
        return getattr(module, f"{name.title()}Pane")()

    return make


class FtuiApp(App):
    TITLE = "ftui"
    # Absolute, so subclasses defined elsewhere (benchmarks, tests) find it too.
    CSS_PATH = str(Path(__file__).with_name("app.tcss"))
    COMMANDS = App.COMMANDS | {_pane_commands}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    MODES: ClassVar[dict] = {mode: _mode(mode) for _, mode, _ in PANES}
    # From the key map: the pane keys share one compact footer group.
    BINDINGS: ClassVar[list[BindingType]] = [
        dataclasses.replace(b, group=_PANES) if (b.id or "").startswith("pane.") else b for b in keymap.bindings("app")
    ]

    def __init__(self, ws: Workspace, *, start_pane: str = "clusters", watch_interval: float = 0.5) -> None:
        super().__init__()
        self.ws = ws
        self.session: Session | None = None
        self.panes: dict = {}
        self.correct_target: tuple[str, str | None] | None = None
        self.load_error: str | None = None
        self.start_pane = start_pane
        # How often live views poll run files; tests lower it.
        self.watch_interval = watch_interval
        self.sub_title = ws.name
        user_themes, self.theme_problems = load_user_themes(ws.root)
        for theme in user_themes:
            self.register_theme(theme)
        # Chosen before the first frame, so the app is styled once rather than twice.
        self._theme_note = self._apply_theme(ws.ui.theme)

    def on_mount(self) -> None:
        try:
            self.set_keymap(keymap.load_user_keymap())
        except keymap.KeymapError as exc:  # the defaults stay; the message names file, key and fix
            self.notify(str(exc), title="Keys not remapped", severity="warning", timeout=20, markup=False)
        if self._theme_note:
            self.notify(self._theme_note, title="Theme", severity="warning", timeout=15)
        for problem in self.theme_problems:
            self.notify(f"{problem} (theme skipped)", title="Broken theme file", severity="warning", timeout=15)
        self.switch_mode(self.start_pane)

    def on_ready(self) -> None:
        # Start reading the run log once the first frame is on screen: the loader thread holds
        # the interpreter for a second or two on a big log and would delay that frame.
        self.load_session()

    def _apply_theme(self, name: str) -> str:
        """Set the theme; returns a warning to show when `name` is unknown ("" when fine)."""
        if name in self.available_themes:
            self.theme = name
            return ""
        self.theme = FALLBACK
        return f"{self.ws.config_path}: ui.theme {name!r} is not a known theme; using {FALLBACK}"

    # -- loading ---------------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="session", description="Loading the run log")
    def load_session(self) -> Session:
        return Session.load(self.ws)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group == "session":
            if event.state == WorkerState.SUCCESS:
                self.session = worker.result
                self._broadcast(SessionReady(self.session))
                if self.session.diagnostics:
                    n = len(self.session.diagnostics)
                    self.notify(
                        f"{self.session.summary_line}\nfirst: {self.session.diagnostics[0]}",
                        title=f"{n} run-log line{'s' if n != 1 else ''} skipped",
                        severity="warning",
                        timeout=12,
                    )
            elif event.state == WorkerState.ERROR:
                self.load_error = str(worker.error)
                self._broadcast(SessionFailed(self.load_error))
        elif event.state == WorkerState.ERROR:
            # One place turns any failed background job into a message instead of a crash.
            self.notify(
                str(worker.error) or type(worker.error).__name__,
                title=worker.description or "Failed",
                severity="error",
                timeout=20,
                markup=False,  # errors quote paths and fixes with brackets (`ftui[train]`)
            )

    def _broadcast(self, message) -> None:
        for pane in list(self.panes.values()):  # only panes already shown
            pane.post_message(_copy(message))

    def open_correct(self, label: str, item_id: str | None) -> None:
        """Show the Correct pane on `item_id` of cluster `label` (first item to do when None)."""
        self.correct_target = (label, item_id)
        if self.current_mode == "correct":
            self.screen.take_target()  # type: ignore[attr-defined]
        else:
            self.switch_mode("correct")

    def corrections_changed(self, item_id: str) -> None:
        self._broadcast(CorrectionsChanged(item_id))

    # -- actions ---------------------------------------------------------------------------
    def action_pane(self, mode: str) -> None:
        if mode != self.current_mode:
            self.switch_mode(mode)

    def action_help(self) -> None:
        from ftui.tui.dialogs.help import HelpScreen, keys_markdown
        from ftui.tui.panes.base import Pane

        screen = self.screen
        if not isinstance(screen, Pane):
            return
        self.push_screen(HelpScreen(screen.PANE.title(), screen.HELP, keys_markdown(screen)))


def _copy(message):
    # A message instance can be delivered once; each pane gets its own.
    return type(message)(*[getattr(message, f) for f in message.__dataclass_fields__])


def run(ws: Workspace) -> int:
    FtuiApp(ws).run()
    return 0
