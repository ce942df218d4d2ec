"""One run-log item as labelled sections: question, evidence, original answer, expected answer."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from ftui.core.base.toolcalls import tool_summary
from ftui.core.logs.passrule import show_grade


def section(title: str, body: str | None, style: str = "bold $text-accent") -> Content:
    text = body if body else "—"
    return Content.assemble(Content.styled(title, style), "\n", Content(text.rstrip()), "\n")


def item_content(
    item,
    *,
    status: str = "",
    evidence: bool = True,
    answers: bool = True,
    answers_first: bool = False,
    cluster: str | None = None,
) -> Content:
    # `cluster`: where the item is now, which a discovered cluster or a move makes differ from its label.
    head = f"{item.id} · {cluster or item.label or 'unlabeled'} · grade {show_grade(item.grade)}"
    if getattr(item, "attempts", 1) > 1:
        head += f" · failed in {item.failures} of {item.attempts} runs"
    if item.retrieval_hit is not None:
        head += f" · retrieval {'hit' if item.retrieval_hit else 'miss'}"
    if status:
        head += f" · {'to do' if status == 'pending' else status.replace('_', ' ')}"
    parts = [Content.styled(head, "$text-muted"), "\n"]
    if getattr(item, "messages", None):
        # The exact conversation the model answered: earlier turns matter to what it should say.
        convo = "\n\n".join(f"[{role}] {text}" for role, text in item.messages)
        parts.append(section("Conversation", convo))
    else:
        parts.append(section("Question", item.question))
    if getattr(item, "tools", None):
        parts.append(section("Tools", tool_summary(item.tools)))
    if getattr(item, "grade_reason", None):
        parts.append(section("Grader's reason", item.grade_reason))
    files = ", ".join(item.evidence_files)
    ev = [section(f"Evidence{(' · ' + files) if files else ''}", item.evidence_text)] if evidence else []
    ans = [section("Expected answer", item.expected), section("Original answer", item.answer)] if answers else []
    # While correcting, what the answer should be matters more than the evidence behind it.
    parts += (ans + ev) if answers_first else (ev + ans[::-1])
    return Content.assemble(*parts)


class ItemView(Static):
    DEFAULT_CSS = """
    ItemView { padding: 0 1; }
    """

    def show(self, item, **kw) -> None:
        self.update(item_content(item, **kw) if item is not None else Content.styled("No item selected", "$text-muted"))
