"""Graders: decide pass/fail for one answer and say why.

Every grade carries a reason a reader can check against the answer; a bare boolean hides the
difference between "wrong field" and "not JSON at all", which is what a postmortem needs.
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ftui.core.base.errors import FtuiError
from ftui.core.base.formatting import clip

if TYPE_CHECKING:
    from ftui.core.workspace.workspace import Workspace

KINDS = ("exact", "normalized", "contains", "regex", "json_fields", "judge", "tool_call")

# Reasons quote answers; a few hundred characters is enough to recognise one in a table.
_QUOTE = 60


class GradingError(FtuiError):
    """A grader that cannot run at all (bad spec, no judge configured): not a failed answer."""


@dataclass(frozen=True)
class Grade:
    passed: bool
    reason: str
    grader: str

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "reason": self.reason, "grader": self.grader}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Grade:
        return cls(bool(d["passed"]), str(d.get("reason", "")), str(d.get("grader", "")))


class JudgeLike(Protocol):
    def verdict(self, question: str, answer: str, expected: str | None) -> tuple[bool, str]: ...


def _q(text: str) -> str:
    return json.dumps(clip(text, _QUOTE), ensure_ascii=False)


def _jq(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _QUOTE else text[: _QUOTE - 1] + "…"


_PUNCT = str.maketrans({c: " " for c in string.punctuation + "“”‘’…–—"})


def normalize(text: str) -> str:
    """Lower case, punctuation as spaces, whitespace collapsed: `Foo.bar()` == `foo bar`."""
    return " ".join(text.lower().translate(_PUNCT).split())


def _no_expected(kind: str) -> Grade:
    return Grade(False, "no expected answer to compare with", kind)


def grade_exact(answer: str, expected: str | None) -> Grade:
    if not expected:
        return _no_expected("exact")
    if answer.strip() == expected.strip():
        return Grade(True, "answer equals the expected answer", "exact")
    return Grade(False, f"answer {_q(answer)} differs from expected {_q(expected)}", "exact")


def grade_normalized(answer: str, expected: str | None) -> Grade:
    if not expected:
        return _no_expected("normalized")
    if normalize(answer) == normalize(expected):
        return Grade(True, "answer equals the expected answer (ignoring case, spacing, punctuation)", "normalized")
    return Grade(False, f"answer {_q(answer)} differs from expected {_q(expected)} after normalizing", "normalized")


def grade_contains(answer: str, expected: str | None) -> Grade:
    if not expected:
        return _no_expected("contains")
    if expected.lower() in answer.lower():
        return Grade(True, f"answer contains {_q(expected)}", "contains")
    return Grade(False, f"answer does not contain {_q(expected)}", "contains")


def grade_regex(answer: str, expected: str | None, spec: dict[str, Any]) -> Grade:
    pattern = spec.get("pattern") or expected
    if not pattern:
        return Grade(False, "regex grader has no `pattern` and the item has no expected answer", "regex")
    flags = re.DOTALL | (re.IGNORECASE if spec.get("ignore_case") else 0)
    try:
        rx = re.compile(pattern, flags)
    except re.error as exc:
        raise GradingError(f"regex grader: invalid pattern {pattern!r}: {exc}") from None
    m = rx.search(answer)
    if m:
        return Grade(True, f"matches /{pattern}/ at {_q(m.group(0))}", "regex")
    return Grade(False, f"no match for /{pattern}/", "regex")


_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


def extract_json(text: str) -> tuple[Any, str | None]:
    """The first JSON object in `text` (inside a ```json fence or among prose), and an error if none.

    Small models wrap JSON in fences and chatter around it; a grader that demands bare JSON
    measures the wrapping, not the fields.
    """
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    first_error = None
    for chunk in candidates:
        start = chunk.find("{")
        while start >= 0:
            try:
                obj, _ = decoder.raw_decode(chunk, start)
            except json.JSONDecodeError as exc:
                if first_error is None:
                    first_error = f"{exc.msg} at char {exc.pos}"
                start = chunk.find("{", start + 1)
                continue
            if isinstance(obj, dict):
                return obj, None
            start = chunk.find("{", start + 1)
    if first_error is None:
        return None, "no JSON object found"
    return None, f"invalid JSON ({first_error})"


def _same_value(got: Any, want: Any) -> bool:
    if isinstance(got, str) and isinstance(want, str):
        return got.strip() == want.strip()
    if isinstance(got, bool) or isinstance(want, bool):
        return got is want
    if isinstance(got, (int, float)) and isinstance(want, (int, float)):
        return float(got) == float(want)
    return bool(got == want)


def grade_json_fields(answer: str, expected: str | None, spec: dict[str, Any]) -> Grade:
    if not expected:
        return _no_expected("json_fields")
    try:
        want = json.loads(expected)
    except json.JSONDecodeError:
        want, err = extract_json(expected)
        if want is None:
            return Grade(False, f"expected answer is not JSON ({err})", "json_fields")
    if not isinstance(want, dict):
        return Grade(False, "expected answer is not a JSON object", "json_fields")
    got, err = extract_json(answer)
    if got is None:
        return Grade(False, f"answer is not JSON: {err}", "json_fields")
    fields = list(spec.get("fields") or want.keys())
    problems = []
    for name in fields:
        if name not in want:
            problems.append(f"`{name}` not in the expected answer")
        elif name not in got:
            problems.append(f"missing field `{name}`")
        elif not _same_value(got[name], want[name]):
            problems.append(f"`{name}` is {_jq(got[name])}, expected {_jq(want[name])}")
    if problems:
        return Grade(False, "; ".join(problems), "json_fields")
    return Grade(True, f"fields match: {', '.join(fields)}", "json_fields")


def grade(
    answer: str,
    expected: str | None,
    spec: dict[str, Any] | str,
    *,
    question: str = "",
    judge: JudgeLike | None = None,
    tools: Any = None,
) -> Grade:
    """Grade one answer with the grader `spec` ({"kind": ..., "pattern"/"fields": ...}); `tools` are
    the request's tool definitions, for the tool_call grader."""
    if isinstance(spec, str):
        spec = {"kind": spec}
    kind = spec.get("kind", "contains")
    answer = answer or ""
    if kind == "exact":
        return grade_exact(answer, expected)
    if kind == "normalized":
        return grade_normalized(answer, expected)
    if kind == "contains":
        return grade_contains(answer, expected)
    if kind == "regex":
        return grade_regex(answer, expected, spec)
    if kind == "json_fields":
        return grade_json_fields(answer, expected, spec)
    if kind == "tool_call":
        from ftui.core.base import toolcalls
        from ftui.core.grade.toolgrade import grade_tool_call

        passed, reason = grade_tool_call(answer, expected, spec, toolcalls.load_tools(tools))
        return Grade(passed, reason, "tool_call")
    if kind == "judge":
        if judge is None:
            raise GradingError("the judge grader needs an `eval.judge` section (base_url, model, api_key_env)")
        passed, reason = judge.verdict(question, answer, expected)
        return Grade(bool(passed), reason or ("judge: pass" if passed else "judge: fail"), "judge")
    raise GradingError(f"unknown grader {kind!r}; one of {', '.join(KINDS)}")


def spec_for(ws: Workspace, item: Any) -> dict[str, Any]:
    """The grader for an item: its failure label's, else its task type's, else the workspace default."""
    ev = ws.eval
    label = getattr(item, "label", None) if not isinstance(item, dict) else item.get("label")
    task = getattr(item, "task", None) if not isinstance(item, dict) else item.get("task")
    if label and label in ev.by_label:
        spec = ev.by_label[label]
    elif task and task in ev.by_task:
        spec = ev.by_task[task]
    else:
        spec = ev.grader
    return {"kind": spec} if isinstance(spec, str) else dict(spec)
