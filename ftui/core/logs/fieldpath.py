"""Dotted and indexed field paths (`doc.question`, `choices.0.turns.0`, `messages.-1.content`).

A name that is a key of the record as written wins over its reading as a path, so logs whose keys
contain dots keep working. A path that does not resolve says which segment is missing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


class PathMissing(Exception):
    """The path does not resolve on this record; the message names the first missing segment."""


def compile_path(spec: str) -> tuple[str | int, ...] | None:
    """The segments of a dotted path (ints for list indexes), or None for a plain key."""
    if "." not in spec:
        return None
    segs: list[str | int] = []
    for part in spec.split("."):
        if part.lstrip("-").isdigit():
            segs.append(int(part))
        else:
            segs.append(part)
    return tuple(segs)


def resolve(obj: Any, spec: str, segs: tuple[str | int, ...]) -> Any:
    cur = obj
    for i, seg in enumerate(segs):
        # The common case first and without building any message: this runs for every field of
        # every line of a large log.
        t = type(cur)
        if t is dict:
            if seg in cur:
                cur = cur[seg]
                continue
        elif t is list and type(seg) is int and -len(cur) <= seg < len(cur):
            cur = cur[seg]
            continue
        if t is dict and type(seg) is int and str(seg) in cur:
            cur = cur[str(seg)]
            continue
        raise PathMissing(_missing(spec, segs, i, cur))
    return cur


def _missing(spec: str, segs: tuple[str | int, ...], i: int, cur: Any) -> str:
    seg = segs[i]
    where = ".".join(str(s) for s in segs[:i]) or "the record"
    if type(seg) is int:
        if type(cur) is list:
            return f"`{spec}`: no item {seg} in `{where}` (a list of {len(cur)})"
        return f"`{spec}`: `{where}` is {_kind(cur)}, not a list, so it has no item {seg}"
    if type(cur) is dict:
        return f"`{spec}`: no `{seg}` in `{where}`"
    return f"`{spec}`: `{where}` is {_kind(cur)}, so it has no `{seg}`"


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true/false"
    if isinstance(v, str):
        return f"text {json.dumps(v[:20])}"
    if isinstance(v, (int, float)):
        return "a number"
    if isinstance(v, list):
        return "a list"
    return "an object"


class _Miss:
    """A path the fast getter could not follow; the slow `resolve` then says why (or finds it)."""

    __slots__ = ()


MISS = _Miss()


def _not_a_list() -> Any:
    raise TypeError


def compile_getter(specs: list[str]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """One function returning every field of a record as a tuple, MISS where a path broke.

    Generated once per workspace: a million-line log then pays one call and plain subscripts per
    line instead of a loop over path segments per field, about the cost of the hand-written loop
    a user would otherwise write.
    """
    lines = ["def get(obj):"]
    names = []
    for i, spec in enumerate(specs):
        segs = compile_path(spec)
        if segs is None:
            lines.append(f"    v{i} = obj.get({spec!r})")
        else:
            lines.append(f"    if {spec!r} in obj:")
            lines.append(f"        v{i} = obj[{spec!r}]")
            lines.append("    else:")
            lines.append("        try:")
            lines.append("            t = obj")
            for seg in segs:
                if type(seg) is int:
                    lines.append(f"            t = t[{seg}] if type(t) is list else _not_a_list()")
                else:
                    lines.append(f"            t = t[{seg!r}]")
            lines.append(f"            v{i} = t")
            lines.append("        except (KeyError, IndexError, TypeError):")
            lines.append(f"            v{i} = MISS")
        names.append(f"v{i}")
    lines.append(f"    return ({', '.join(names)},)")
    scope: dict[str, Any] = {"MISS": MISS, "_not_a_list": _not_a_list}
    exec(compile("\n".join(lines), "<ftui field getter>", "exec"), scope)
    get: Callable[[dict[str, Any]], tuple[Any, ...]] = scope["get"]
    return get
