"""How numbers and text read wherever ftui shows them: the CLI, the workbench, reports.

One spelling per kind of value, so a rate, a change or a duration reads the same in `ftui status`,
a pane and a postmortem. A missing value reads as "n/a" everywhere. Narrow table cells ask for
fewer digits, never for another spelling.
"""

from __future__ import annotations

from typing import Any

MISSING = "n/a"


def pct(x: float | None, digits: int = 1) -> str:
    """A share or a pass rate in [0, 1] as a percentage: 0.667 -> "66.7%"."""
    return MISSING if x is None else f"{100 * x:.{digits}f}%"


def pts(x: float | None, digits: int = 1) -> str:
    """A change between two rates, in percentage points with its sign: 0.5 -> "+50.0 pts"."""
    if x is None:
        return MISSING
    text = f"{100 * x:+.{digits}f}"
    # A change that rounds to nothing reads "+0.0", never "-0.0".
    return f"+{text[1:]} pts" if float(text) == 0 else f"{text} pts"


def num(x: Any, spec: str = ".4f") -> str:
    """A measured number (a loss, a learning rate, a step) or "n/a" when it was not measured."""
    return MISSING if x is None else format(x, spec)


def clip(text: Any, width: int) -> str:
    """One line of at most `width` characters: whitespace runs collapse, a cut ends with "…"."""
    s = " ".join(str(text or "").split())
    return s if len(s) <= width else s[: width - 1] + "…"


def duration(seconds: float | None) -> str:
    """Wall time at the precision a person reads it: "42s", "4m24s", "1h05m"."""
    if seconds is None or seconds < 0:
        return MISSING
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def plural(count: int, word: str) -> str:
    """ "1 item", "2 items"."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def size(n_bytes: int | None) -> str:
    """A size in decimal units, as `ls -h --si` and model hubs give it: 538123456 -> "538 MB"."""
    if n_bytes is None:
        return MISSING
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= scale:
            v = n_bytes / scale
            return f"{v:.1f} {unit}" if v < 10 else f"{v:.0f} {unit}"
    return f"{n_bytes} B"
