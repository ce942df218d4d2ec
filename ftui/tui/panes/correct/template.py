"""One template applied to every item to do in a cluster, each result accepted or rejected."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from ftui.tui import keymap
from ftui.tui.session import apply_template, json_error, looks_like_json
from ftui.tui.widgets.item_view import section


class TemplateScreen(ModalScreen[list]):
    """Dismisses with the accepted (item, text) pairs, or [] when cancelled."""

    BINDINGS = keymap.bindings("template")
    DEFAULT_CSS = """
    TemplateScreen { align: center middle; }
    TemplateScreen > Vertical { width: 95%; height: 95%; background: $surface; border: round $primary; }
    TemplateScreen #tp-head { height: 1; background: $panel; padding: 0 1; }
    TemplateScreen #tp-scroll { height: 1fr; padding: 0 1; }
    """

    def __init__(self, label: str, template: str, items: list) -> None:
        super().__init__()
        self.label = label
        self.template = template
        self.items = items
        self.results = [apply_template(template, it) for it in items]
        self.decisions: list[bool | None] = [None] * len(items)
        self.pos = 0

    def compose(self) -> ComposeResult:
        with Vertical() as v:
            v.border_title = f"Template → {self.label}"
            yield Static(id="tp-head")
            with VerticalScroll(id="tp-scroll"):
                yield Static(id="tp-body")
            yield Footer(compact=True)

    def on_mount(self) -> None:
        self._show()

    def _show(self) -> None:
        item = self.items[self.pos]
        out = self.results[self.pos]
        accepted = sum(1 for d in self.decisions if d)
        rejected = sum(1 for d in self.decisions if d is False)
        self.query_one("#tp-head", Static).update(
            f"{self.pos + 1}/{len(self.items)} · {item.id} · accepted {accepted} · rejected {rejected}"
        )
        parts = [section("Question", item.question), section("Expected answer", item.expected)]
        title = "Result"
        if looks_like_json(item.expected):
            err = json_error(out)
            title += " · JSON ✔ valid" if err is None else f" · JSON ✘ {err}"
        parts.append(section(title, out, "bold $text-success"))
        parts.append(section("Original answer", item.answer, "bold $text-muted"))
        self.query_one("#tp-body", Static).update(Content.assemble(*parts))

    def action_decide(self, accept: bool) -> None:
        self.decisions[self.pos] = accept
        if self.pos + 1 < len(self.items):
            self.pos += 1
            self._show()
        else:
            self.action_finish()

    def action_accept_rest(self) -> None:
        for i in range(self.pos, len(self.items)):
            self.decisions[i] = True
        self.action_finish()

    def action_back(self) -> None:
        if self.pos > 0:
            self.pos -= 1
            self._show()

    def action_finish(self) -> None:
        self.dismiss([(it, out) for it, out, d in zip(self.items, self.results, self.decisions, strict=False) if d])
