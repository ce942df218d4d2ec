"""This process's resident memory: now, and its high-water mark since the last reset.

An export reports its peak next to the model's size, so the claim that the merge holds about one
shard at a time is a figure, not a promise. Linux keeps the peak in /proc/self/status (VmHWM) and
lets a process reset it (writing 5 to /proc/self/clear_refs), so the peak can be taken over the
export alone, after the libraries are imported; elsewhere getrusage's lifetime peak is the answer.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

STATUS = Path("/proc/self/status")


def _status_kb(field: str) -> int | None:
    try:
        for line in STATUS.read_text(encoding="ascii").splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def rss_bytes() -> int | None:
    kb = _status_kb("VmRSS")
    return None if kb is None else kb * 1024


def peak_rss_bytes() -> int:
    kb = _status_kb("VmHWM")
    if kb is not None:
        return kb * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # bytes on macOS, KiB elsewhere


def reset_peak() -> bool:
    """Start a new high-water mark at the current RSS; False where the system cannot."""
    try:
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")
    except OSError:
        return False
    return True
