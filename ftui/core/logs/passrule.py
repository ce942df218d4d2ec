"""Whether a logged grade passes: one rule for text, letter, boolean and numeric grades.

Eval tools grade in their own currency (MT-Bench 1-10, lm-evaluation-harness 0/1 metrics, inspect's
"C"/"I", promptfoo's `success`). The grade is kept as logged and shown as logged; only this rule
turns it into pass or fail, so a 6 stays a 6 in every table while `at_least: 7` says it fails.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PassRuleConfig:
    """`pass_rule:` in ftui.yaml: a threshold (`at_least` / `at_most`) or a set of passing `values`."""

    at_least: float | None = None
    at_most: float | None = None
    values: list[Any] | None = None


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "boolean"
    if _is_number(v):
        return "number"
    if isinstance(v, str):
        return "text"
    return type(v).__name__


@dataclass(frozen=True)
class PassRule:
    at_least: float | None = None
    at_most: float | None = None
    # Passing values; a value's kind (text, boolean, number) is what the log's grades must be.
    values: frozenset[Any] = frozenset()
    # The text grades of `passing_grades`: with no `pass_rule`, a boolean grade is its own verdict.
    legacy: bool = False

    @classmethod
    def from_config(cls, cfg: PassRuleConfig | None, passing_grades: tuple[Any, ...]) -> PassRule:
        if cfg is None:
            return cls(values=frozenset(passing_grades), legacy=True)
        return cls(at_least=cfg.at_least, at_most=cfg.at_most, values=frozenset(_key(v) for v in cfg.values or ()))

    @property
    def numeric(self) -> bool:
        return self.at_least is not None or self.at_most is not None

    def kinds(self) -> set[str]:
        if self.numeric:
            return {"number"}
        kinds = {_kind(v[1] if isinstance(v, tuple) else v) for v in self.values}
        return kinds | ({"boolean", "text"} if self.legacy else set())

    def problem(self, grade: Any) -> str | None:
        """Why this grade cannot be judged by the rule (wrong kind), or None."""
        if grade is None:
            return None
        kind = _kind(grade)
        if self.numeric:
            if kind == "number":
                return None
            return f"grade {_show_raw(grade)} is {kind}, but the pass rule compares numbers ({self.describe()})"
        if kind in self.kinds():
            return None
        if kind == "number" and self.legacy:
            return (
                f"grade {_show_raw(grade)} is a number: set `pass_rule: {{at_least: N}}` (or at_most) "
                "to say which scores pass"
            )
        return f"grade {_show_raw(grade)} is {kind}, but the pass rule lists {self.describe()}"

    def passes(self, grade: Any) -> bool:
        if grade is None:
            return False
        if self.numeric:
            if not _is_number(grade):
                return False
            if self.at_least is not None and grade < self.at_least:
                return False
            return not (self.at_most is not None and grade > self.at_most)
        if isinstance(grade, bool):
            return _key(grade) in self.values or (self.legacy and grade)
        return _key(grade) in self.values

    def predicate(self) -> Callable[[Any], bool]:
        """`passes` as one closure for the hot loops: a text grade costs one set lookup."""
        values, slow = self.values, self.passes
        if self.numeric:
            return slow

        def passes(grade: Any) -> bool:
            if type(grade) is str:
                return grade in values
            return slow(grade)

        return passes

    def describe(self) -> str:
        parts = []
        if self.at_least is not None:
            parts.append(f"grade >= {show_grade(self.at_least)}")
        if self.at_most is not None:
            parts.append(f"grade <= {show_grade(self.at_most)}")
        if parts:
            return " and ".join(parts)
        shown = sorted(show_grade(v[1] if isinstance(v, tuple) else v) for v in self.values)
        text = "grade in {" + ", ".join(shown) + "}"
        return text + " (or true)" if self.legacy else text


def _key(v: Any) -> Any:
    # True == 1 in Python: a set of passing values must not let a 1.0 score pass for `true`.
    return ("bool", v) if isinstance(v, bool) else v


def _show_raw(v: Any) -> str:
    return repr(v) if isinstance(v, str) else show_grade(v)


def show_grade(v: Any) -> str:
    """A grade as logged, for every table and pane: 7, 0.5, true, C; a dash when there is none."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)
