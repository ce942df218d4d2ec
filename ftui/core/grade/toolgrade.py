"""The tool-call grader: the right tool, called with the right arguments.

`arguments` says what right means: "equal" (every argument equals the expected one, the default),
"keys" (equal on `keys` only; other arguments may differ) or "schema" (any arguments the tool's JSON
schema accepts). Parallel calls are matched as a set: order does not matter, count does.
"""

from __future__ import annotations

import json
from typing import Any

from ftui.core.base import toolcalls
from ftui.core.base.formatting import clip


def _j(value: Any) -> str:
    return clip(json.dumps(value, ensure_ascii=False), 60)


def _same(got: Any, want: Any) -> bool:
    if isinstance(got, bool) or isinstance(want, bool):
        return got is want
    if isinstance(got, (int, float)) and isinstance(want, (int, float)):
        return float(got) == float(want)
    if isinstance(got, dict) and isinstance(want, dict):
        return got.keys() == want.keys() and all(_same(got[k], want[k]) for k in want)
    if isinstance(got, list) and isinstance(want, list):
        return len(got) == len(want) and all(_same(a, b) for a, b in zip(got, want, strict=True))
    return bool(got == want)


def _one(
    got: toolcalls.Call, want: toolcalls.Call | None, spec: dict[str, Any], tools: list[dict[str, Any]]
) -> list[str]:
    mode = spec.get("arguments", "equal")
    if want is not None and got["name"] != want["name"]:
        return [f"called `{got['name']}`, expected `{want['name']}`"]
    if mode == "schema" or want is None:
        if not tools:
            return ["no tools declared to check the arguments against"]
        return toolcalls.call_problems(got, tools)
    g, w = got["arguments"], want["arguments"]
    if not isinstance(g, dict) or not isinstance(w, dict):
        return [] if _same(g, w) else [f"arguments {_j(g)}, expected {_j(w)}"]
    keys = list(spec.get("keys") or []) if mode == "keys" else sorted(set(g) | set(w))
    problems = []
    for k in keys:
        if k not in w:
            problems.append(f"unexpected argument `{k}`" if mode == "equal" else f"`{k}` not in the expected call")
        elif k not in g:
            problems.append(f"missing argument `{k}`")
        elif not _same(g[k], w[k]):
            problems.append(f"`{k}` is {_j(g[k])}, expected {_j(w[k])}")
    return problems


def grade_tool_call(
    answer: str, expected: str | None, spec: dict[str, Any], tools: list[dict[str, Any]]
) -> tuple[bool, str]:
    """(passed, reason) for one answer."""
    mode = spec.get("arguments", "equal")
    want = toolcalls.parse_calls(expected or "", lenient=True) if expected else None
    if want is None and mode != "schema":
        if expected:
            return False, "the expected answer is not a tool call"
        return False, "no expected answer to compare with"
    got = toolcalls.parse_calls(answer, lenient=True)
    if got is None:
        names = ", ".join(f"`{c['name']}`" for c in want or [])
        return False, f"no tool call in the answer{f' (expected {names})' if names else ''}: {_j(answer)}"
    if want is not None and len(got) != len(want):
        return False, f"{len(got)} call{'s' * (len(got) != 1)}, expected {len(want)}"
    pairs: list[tuple[toolcalls.Call, toolcalls.Call | None]]
    if want is None:
        pairs = [(g, None) for g in got]
    else:
        key = lambda c: (c["name"], json.dumps(c["arguments"], sort_keys=True))  # noqa: E731
        pairs = list(zip(sorted(got, key=key), sorted(want, key=key), strict=True))
    problems = [p for g, w in pairs for p in _one(g, w, spec, tools)]
    if problems:
        return False, "; ".join(problems)
    names = ", ".join(f"`{g['name']}`" for g in got)
    how = {"equal": "with the expected arguments", "keys": "equal on " + ", ".join(spec.get("keys") or [])}
    return True, f"calls {names} " + how.get(mode, "with arguments its schema accepts")
