"""A run log's items: one question each, with its attempts, grade and prompt, and the log they form."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftui.core.base.chat import Conversation
from ftui.core.logs.passrule import PassRule
from ftui.core.logs.records import Diagnostic

DEFAULT_RULE = PassRule.from_config(None, ("correct", "acceptable"))


@dataclass(frozen=True)
class Item:
    id: str
    question: str
    answer: str
    expected: str | None
    grade: Any  # as logged: text, a number or true/false; the workspace's pass rule judges it
    retrieval_hit: bool | None
    label: str | None
    system_prompt: str | None
    evidence_text: str | None
    evidence_files: tuple[Any, ...]
    prompt: str | None
    task: str | None
    line: int
    source: Path
    # The exact conversation before the answer, as (role, text) pairs, when the log has one.
    messages: Conversation | None = None
    # Why the grade is what it is, when the log says (a judge's or scorer's explanation).
    grade_reason: str | None = None
    # Runs this question was answered in, and how many of those answers failed (None: not read
    # from a log, so the pass rule decides from the grade alone).
    attempts: int = 1
    failures: int | None = None
    # The tool definitions the request declared, as JSON text (ftui.core.base.toolcalls); a tool-call
    # answer is then the canonical text of its calls.
    tools: str | None = None

    @property
    def repeat(self) -> str:
        """ "failed in k of n runs", for items answered more than once."""
        return f"{self.failures or 0}/{self.attempts}" if self.attempts > 1 else ""


@dataclass
class RunLog:
    path: Path
    items: list[Item] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # Whether any kept line carried the retrieval field: without it every non-passing item counts
    # as the model's failure, and the UI must say so.
    has_retrieval: bool = False
    _by_id: dict[str, Any] | None = None
    paths: tuple[Path, ...] = ()
    # How many runs (files, or a tool's repeated epochs) the most-answered question was in.
    runs: int = 1

    @property
    def by_id(self) -> dict[str, Item]:
        if self._by_id is None:
            self._by_id = {it.id: it for it in self.items}
        return self._by_id

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.level == "error"]

    @property
    def summary(self) -> dict[str, Any]:
        skipped = Counter(d.kind for d in self.diagnostics if d.level == "error")
        warned = Counter(d.kind for d in self.diagnostics if d.level == "warning")
        return {
            "path": str(self.path),
            "paths": [str(p) for p in self.paths or (self.path,)],
            "runs": self.runs,
            "kept": len(self.items),
            "skipped": sum(skipped.values()),
            "skipped_by_reason": dict(skipped),
            "warnings_by_reason": dict(warned),
        }

    def summary_line(self) -> str:
        s = self.summary
        parts = [f"{s['kept']} item{'' if s['kept'] == 1 else 's'} kept"]
        if self.runs > 1:
            parts[0] += f" (answered in up to {self.runs} runs)"
        if s["skipped"]:
            reasons = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(s["skipped_by_reason"].items()))
            parts.append(f"{s['skipped']} line{'' if s['skipped'] == 1 else 's'} skipped ({reasons})")
        paths = self.paths or (self.path,)
        name = self.path.name if len(paths) == 1 else f"{len(paths)} files"
        return f"{name}: " + "; ".join(parts)
