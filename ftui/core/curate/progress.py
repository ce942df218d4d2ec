"""How far the correction of a set of failures has got: the one count `ftui status`, `ftui clusters`
and the workbench's panes all show.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    total: int = 0
    corrected: int = 0
    skipped: int = 0
    needs_review: int = 0

    @property
    def to_do(self) -> int:
        """Items with no correction at all."""
        return self.total - self.corrected - self.skipped - self.needs_review

    @property
    def remaining(self) -> int:
        """Items not settled yet. One flagged for review is still work: the build leaves it out."""
        return self.total - self.corrected - self.skipped

    def to_dict(self) -> dict[str, int]:
        return {
            "corrected": self.corrected,
            "skipped": self.skipped,
            "needs_review": self.needs_review,
            "remaining": self.remaining,
        }


def count_progress(ids: Iterable[str], status_of: Callable[[str], str | None]) -> Progress:
    """Count `ids` by their correction status (`status_of` gives None, or "pending", for none)."""
    counts = {"corrected": 0, "skipped": 0, "needs_review": 0}
    total = 0
    for item_id in ids:
        total += 1
        status = status_of(item_id)
        if status in counts:
            counts[status] += 1
    return Progress(total=total, **counts)
