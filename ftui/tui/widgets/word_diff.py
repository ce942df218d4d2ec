"""Base and fine-tuned answers side by side, the words that differ highlighted (difflib on words).

textual-diff-view diffs code line by line; answers are mostly one line of prose or JSON, where a
line diff marks everything, so the comparison is made on words and punctuation instead.
"""

from __future__ import annotations

import difflib
import re

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.widgets import Static

_TOKEN = re.compile(r"\s+|\w+|[^\w\s]")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text or "")


def word_diff(base: str, tuned: str) -> tuple[Content, Content]:
    """(base with removed words marked, tuned with added words marked)."""
    a, b = tokens(base), tokens(tuned)
    left: list = []
    right: list = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        old, new = "".join(a[i1:i2]), "".join(b[j1:j2])
        if op == "equal":
            left.append(old)
            right.append(new)
            continue
        if old:
            left.append(Content.styled(old, "$text-error on $error-muted strike"))
        if new:
            right.append(Content.styled(new, "$text-success on $success-muted bold"))
    return Content.assemble(*left), Content.assemble(*right)


class WordDiff(Horizontal):
    DEFAULT_CSS = """
    WordDiff { height: 1fr; }
    WordDiff > VerticalScroll { width: 1fr; border: round $panel-lighten-2; padding: 0 1; }
    WordDiff > VerticalScroll.-pass { border: round $success; }
    WordDiff > VerticalScroll.-fail { border: round $error; }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="wd-base"):
            yield Static(id="wd-base-text")
        with VerticalScroll(id="wd-tuned"):
            yield Static(id="wd-tuned-text")

    def show(self, base: str, tuned: str, base_grade: dict | None, tuned_grade: dict | None) -> None:
        left, right = word_diff(base, tuned)
        for side, text, grade, title in (
            ("base", left, base_grade, "Base"),
            ("tuned", right, tuned_grade, "Fine-tuned"),
        ):
            box = self.query_one(f"#wd-{side}", VerticalScroll)
            passed = bool(grade and grade.get("passed"))
            box.set_class(grade is not None and passed, "-pass")
            box.set_class(grade is not None and not passed, "-fail")
            box.border_title = f"{title} {'✔ pass' if passed else '✘ fail'}" if grade is not None else title
            box.border_subtitle = (grade or {}).get("reason", "")
            self.query_one(f"#wd-{side}-text", Static).update(
                text if text else Content.styled("(empty answer)", "$text-muted")
            )

    def clear(self) -> None:
        for side in ("base", "tuned"):
            box = self.query_one(f"#wd-{side}", VerticalScroll)
            box.border_title = ""
            box.border_subtitle = ""
            self.query_one(f"#wd-{side}-text", Static).update("")
