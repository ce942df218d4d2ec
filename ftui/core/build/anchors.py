"""Anchor selection: the passing items a build trains on beside the corrections, spread across
kinds of item so that what the model already handles keeps a few examples in training."""

from __future__ import annotations

from collections import defaultdict

from ftui.core.logs.items import Item
from ftui.core.logs.seeded_order import largest_remainder, seeded


def length_bucket(question: str) -> str:
    n = len(question.split())
    if n < 12:
        return "short"
    if n < 40:
        return "medium"
    return "long"


def anchor_stratum(item: Item) -> str:
    """Labels first; then the question type; then question length, so every kind of item the
    model already handles keeps a few examples in training."""
    if item.label:
        return item.label
    if item.task:
        return f"task:{item.task}"
    return f"length:{length_bucket(item.question)}"


def select_anchors(passing: list[Item], n: int, seed: int) -> list[Item]:
    """`n` passing items spread across strata: one per stratum first, the rest in proportion."""
    if n <= 0 or not passing:
        return []
    n = min(n, len(passing))
    strata: dict[str, list[Item]] = defaultdict(list)
    for it in passing:
        strata[anchor_stratum(it)].append(it)
    for key in strata:
        strata[key] = seeded(strata[key], seed, "anchor")
    keys = sorted(strata, key=lambda k: (-len(strata[k]), k))
    if n < len(keys):
        alloc = {k: (1 if i < n else 0) for i, k in enumerate(keys)}
    else:
        rest = n - len(keys)
        spare = {k: len(strata[k]) - 1 for k in keys}
        pool = sum(spare.values())
        quotas = {k: (rest * spare[k] / pool if pool else 0.0) for k in keys}
        extra = largest_remainder(quotas, rest, spare)
        alloc = {k: 1 + extra[k] for k in keys}
    chosen: list[Item] = []
    for k in keys:
        chosen.extend(strata[k][: alloc[k]])
    return chosen
