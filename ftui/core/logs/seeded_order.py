"""Seeded, order-free choices: which items a split or a sample takes depends only on (seed, id),
never on the order lines happen to have in a log; quotas are shared out by largest remainder."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from typing import TypeVar

from ftui.core.logs.items import Item


def rank(seed: int, salt: str, item_id: str) -> str:
    # A seeded hash per id: the order depends only on (seed, id), never on the log's line order.
    return hashlib.sha256(f"{seed}\x00{salt}\x00{item_id}".encode()).hexdigest()


def seeded(items: Iterable[Item], seed: int, salt: str) -> list[Item]:
    return sorted(items, key=lambda it: rank(seed, salt, it.id))


# Quota keys: a cluster, or (cluster, length bucket) when an evaluation is trimmed by stratum.
_Key = TypeVar("_Key", str, tuple[str, str])


def largest_remainder(quotas: dict[_Key, float], total: int, caps: dict[_Key, int]) -> dict[_Key, int]:
    """Integer shares summing to `total` (as far as caps allow), closest to the real quotas."""
    alloc = {k: min(caps[k], math.floor(q)) for k, q in quotas.items()}
    left = total - sum(alloc.values())
    order = sorted(quotas, key=lambda k: (-(quotas[k] - math.floor(quotas[k])), -caps[k], k))
    while left > 0:
        progressed = False
        for k in order:
            if left == 0:
                break
            if alloc[k] < caps[k]:
                alloc[k] += 1
                left -= 1
                progressed = True
        if not progressed:
            break
    return alloc


def round_half_up(x: float) -> int:
    return math.floor(x + 0.5)
