"""What every detached engine child reports when it fails: its events file is its only voice."""

from __future__ import annotations

import sys
import traceback
from typing import Any

# Enough of the traceback to place the error; the whole of it is in the child's log file.
TRACEBACK_LINES = 15


def failure_fields(exc: BaseException, hint: str | None = None) -> dict[str, Any]:
    """The `failed` event's fields for the exception being handled; the full traceback goes to stderr
    (the child's log)."""
    tail = traceback.format_exc().rstrip().splitlines()[-TRACEBACK_LINES:]
    traceback.print_exc(file=sys.stderr)
    return {"error": f"{type(exc).__name__}: {exc}"[:2000], "traceback_tail": tail, "hint": hint}
