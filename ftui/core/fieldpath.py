"""Dotted and indexed field paths (`doc.question`, `choices.0.turns.0`, `messages.-1.content`).

A name that is a key of the record as written wins over its reading as a path, so logs whose keys
contain dots keep working. A path that does not resolve says which segment is missing.
"""

from __future__ import annotations

import json
from typing import Any


class PathMissing(Exception):
    """The path does not resolve on this record; the message names the first missing segment."""


def compile_path(spec: str) -> tuple | None:
    """The segments of a dotted path (ints for list indexes), or None for a plain key."""
    if "." not in spec:
        return None
    segs: list = []
    for part in spec.split("."):
        if part.lstrip("-").isdigit():
            segs.append(int(part))
        else:
            segs.append(part)
    return tuple(segs)


def resolve(obj: Any, spec: str, segs: tuple) -> Any:
    cur = obj
    for i, seg in enumerate(segs):
        where = ".".join(str(s) for s in segs[:i]) or "the record"
        if type(seg) is int:
            if type(cur) is list:
                if -len(cur) <= seg < len(cur):
                    cur = cur[seg]
                    continue
                raise PathMissing(f"`{spec}`: no item {seg} in `{where}` (a list of {len(cur)})")
            if type(cur) is dict and str(seg) in cur:
                cur = cur[str(seg)]
                continue
            raise PathMissing(f"`{spec}`: `{where}` is {_kind(cur)}, not a list, so it has no item {seg}")
        if type(cur) is dict:
            if seg in cur:
                cur = cur[seg]
                continue
            raise PathMissing(f"`{spec}`: no `{seg}` in `{where}`")
        raise PathMissing(f"`{spec}`: `{where}` is {_kind(cur)}, so it has no `{seg}`")
    return cur


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
