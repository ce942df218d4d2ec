"""Which field of a team's run log holds each thing ftui reads: the `fields:` mapping of ftui.yaml."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Fields:
    """Canonical name -> the field name in this team's run log."""

    question_id: str = "question_id"
    question: str = "question"
    answer: str = "answer"
    expected_answer: str = "expected_answer"
    grade: str = "grade"
    retrieval_hit: str = "retrieval_hit"
    failure_label: str = "failure_label"
    system_prompt: str = "system_prompt"
    evidence_text: str = "evidence_text"
    evidence_files: str = "evidence_files"
    prompt: str = "prompt"
    task: str = "task"
    grade_reason: str = "grade_reason"
    # The tool definitions the request declared (OpenAI's `tools`, or their JSON text).
    tools: str = "tools"
