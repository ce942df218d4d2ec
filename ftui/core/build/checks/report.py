"""The findings of a pre-flight check and the report that holds them (text and JSON)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from ftui.core.build.checks.examples import DEFAULT_PATTERN

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Finding:
    level: str
    kind: str
    where: str
    message: str
    id: str | None = None

    def __str__(self) -> str:
        return f"{self.where}: {self.level}: {self.message} [{self.kind}]"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# A repeated finding's text line names this many of its places; --all (and --json) give every one.
SHOWN_PLACES = 3


@dataclass(frozen=True)
class FindingGroup:
    """The findings of one level and kind: one line of text however often the kind repeats."""

    level: str
    kind: str
    findings: tuple[Finding, ...]

    @property
    def count(self) -> int:
        return len(self.findings)

    @property
    def message(self) -> str:
        first = self.findings[0].message
        return first if all(f.message == first for f in self.findings) else f"e.g. {first}"

    def places(self, shown: int = SHOWN_PLACES) -> str:
        """The first `shown` places, "file:2, 5, 9 and 12 more" when they are lines of one file."""
        wheres = [f.where for f in self.findings[:shown]]
        files = {w.rpartition(":")[0] for w in wheres}
        if len(files) == 1 and all(w.rpartition(":")[2].isdigit() for w in wheres) and files != {""}:
            wheres = [wheres[0]] + [w.rpartition(":")[2] for w in wheres[1:]]
        more = self.count - shown
        return ", ".join(wheres) + (f" and {more} more" if more > 0 else "")

    def line(self) -> str:
        if self.count == 1:
            return str(self.findings[0])
        return f"{self.level}: {self.message} [{self.kind}] ×{self.count}: {self.places()}"


def group_findings(findings: Iterable[Finding]) -> list[FindingGroup]:
    """Findings grouped by level and kind, in the order each group first appears."""
    groups: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        groups.setdefault((f.level, f.kind), []).append(f)
    return [FindingGroup(level, kind, tuple(fs)) for (level, kind), fs in groups.items()]


@dataclass
class CheckReport:
    source: str
    format: str
    examples: int
    findings: list[Finding] = field(default_factory=list)
    tokens: dict[str, Any] | None = None
    hosted: dict[str, Any] | None = None
    model: str | None = None
    seconds: float = 0.0

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors

    def by_kind(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.findings:
            out[f.kind] = out.get(f.kind, 0) + 1
        return dict(sorted(out.items()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "format": self.format,
            "examples": self.examples,
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "by_kind": self.by_kind(),
            "findings": [f.to_dict() for f in self.findings],
            "tokens": self.tokens,
            "hosted": self.hosted,
            "model": self.model,
            "seconds": round(self.seconds, 3),
        }

    def text(self, every_finding: bool = False) -> str:
        """The report for a terminal; a finding that repeats is one line unless `every_finding`."""
        lines = [f"{self.source}: {self.examples} examples ({self.format})"]
        t = self.tokens
        if t and t.get("count"):
            lines.append(
                f"tokens ({self.model}): min {t['min']}, mean {t['mean']:.1f}, max {t['max']}; "
                f"{len(t['truncated'])} over max length {t['max_length']}"
            )
            peak = max(b["count"] for b in t["histogram"]) or 1
            for b in t["histogram"]:
                bar = "#" * round(30 * b["count"] / peak)
                lines.append(f"  {b['lo']:>6}-{b['hi']:<6} {b['count']:>6} {bar}")
        if self.hosted:
            h = self.hosted
            lines.append(
                f"hosted estimate: {h['epochs']} epochs x {h['tokens_per_epoch']:,} tokens = "
                f"{h['billed_tokens']:,} billed tokens ({h['note']})"
            )
        if every_finding:
            lines += [str(f) for f in self.findings]
        else:
            groups = group_findings(self.findings)
            lines += [g.line() for g in groups]
            if any(g.count > 1 for g in groups):
                lines.append("(repeated findings are grouped: --all lists every one, --json gives them all)")
        lines.append(f"{len(self.errors)} errors, {len(self.warnings)} warnings in {self.seconds:.2f} s")
        return "\n".join(lines)


class Ctx:
    """The findings of one check run as they are found, and the rows that already have an error."""

    def __init__(self, label: str, rows: list[dict[str, Any]], pattern: re.Pattern[str] | None = DEFAULT_PATTERN):
        self.label = label
        self.pattern = pattern
        self.findings: list[Finding] = []
        self.bad: set[int] = set()  # rows with errors: not tokenised, not compared

    def where(self, row_or_line: Any) -> str:
        if isinstance(row_or_line, dict):
            line = row_or_line.get("line")
            if self.label and line:
                return f"{self.label}:{line}"
            return str(row_or_line.get("id"))
        return f"{self.label}:{row_or_line}" if self.label else f"row {row_or_line}"

    def add(self, level: str, kind: str, where: str, message: str, rid: str | None = None) -> None:
        self.findings.append(Finding(level, kind, where, message, rid))
