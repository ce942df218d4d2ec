"""Whether a draft's pass can be trusted, and whether its teacher can: the checks a person relies on."""

from __future__ import annotations

from typing import Any

from ftui.core.curate.drafts.teacher import LOCAL, Teacher
from ftui.core.workspace.workspace import Workspace


def _norm(text: str) -> str:
    return " ".join(str(text).split()).casefold()


def suspect(output: str, item: dict[str, Any]) -> str:
    """Why a draft's grade cannot be trusted, "" when it can.

    A draft that repeats the original (failing) answer, or that holds the expected answer its own
    prompt showed inside other text, passes a `contains` grader without being right: the words
    were copied, not produced.
    """
    out = _norm(output)
    if item.get("original") and out == _norm(item["original"]):
        return "repeats the original answer"
    expected = _norm(item.get("expected") or "")
    prompt = _norm((item.get("messages") or [{}])[-1].get("content", ""))
    if expected and expected in prompt and expected in out and out != expected:
        return "holds the expected answer its prompt showed, inside other text"
    return ""


def teacher_warning(ws: Workspace, teacher: Teacher) -> str:
    """A warning when the teacher is the very model being fixed ("" otherwise): it drafts the same
    failures it made, and a grader pass is then mostly the prompt's doing."""
    if teacher.kind == LOCAL and (teacher.model or ws.model) == ws.model:
        return f"the teacher {teacher.name} is the model being fixed: its drafts repeat its failures"
    if teacher.model and teacher.model.rsplit("/", 1)[-1] == str(ws.model).rsplit("/", 1)[-1]:
        return f"the teacher {teacher.name} looks like the model being fixed ({ws.model})"
    return ""
