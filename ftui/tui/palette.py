"""The command palette: the current pane's commands, switching panes, and themes."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from ftui.tui.keymap import display


class PaneCommands(Provider):
    """Commands of the pane the palette was opened from, plus pane switching."""

    def _commands(self):
        from ftui.tui.panes.base import PANES, Pane

        screen = self.screen
        if isinstance(screen, Pane):
            for name, help_text, callback in screen.palette():
                yield f"{screen.PANE.title()}: {name}", help_text, callback
        app = self.app
        for key, mode, title in PANES:
            yield (
                f"Go to {title}",
                f"Switch to the {title} pane (key {display(key)})",
                partial(app.run_action, f"pane('{mode}')"),
            )

    async def discover(self) -> Hits:
        for name, help_text, callback in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
