"""How long a run has worked, counted over every process that trained it (a resume adds one).

The child writes an event at least every heartbeat, so a gap longer than a dead run's silence is
time no process was at work (a cancelled run waiting for its resume), and so is the gap after a
final event. The engine writes the total in the `finished` event of a resumed run
(`total_runtime_s`, next to the last process's own `runtime_s`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ftui.core.base.events import FINAL_TYPES
from ftui.core.base.jobs import DEAD_AFTER_S


def worked_seconds(events: Iterable[dict[str, Any]], until: float | None = None) -> float:
    """Seconds some process of the run was at work, from its events (and up to `until`, if given)."""
    total, last_t, after_final = 0.0, None, False
    for ev in events:
        t = ev.get("t")
        if not isinstance(t, (int, float)):
            continue
        if last_t is not None and not after_final and 0 <= t - last_t <= DEAD_AFTER_S:
            total += t - last_t
        last_t, after_final = t, ev.get("type") in FINAL_TYPES
    if until is not None and last_t is not None and not after_final and until >= last_t:
        total += until - last_t
    return total
