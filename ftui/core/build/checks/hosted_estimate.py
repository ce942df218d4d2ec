"""The epochs and billed tokens a hosted fine-tuning job would use, by OpenAI's rule."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# OpenAI's hosted-job defaults for the epoch estimate.
TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25
DEFAULT_CONTEXT_LIMIT = 16_385


def hosted_estimate(
    token_counts: Sequence[int], context_limit: int = DEFAULT_CONTEXT_LIMIT, epochs: int | None = None
) -> dict[str, Any]:
    """OpenAI's rule: 3 epochs unless that gives fewer than 100 or more than 25,000 example passes;
    each example is billed up to the context limit."""
    n = len(token_counts)
    if epochs is None:
        epochs = TARGET_EPOCHS
        if n and n * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
            epochs = min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n)
        elif n * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
            epochs = max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n)
    per_epoch = sum(min(context_limit, c) for c in token_counts)
    return {
        "examples": n,
        "epochs": epochs,
        "context_limit": context_limit,
        "tokens_per_epoch": per_epoch,
        "billed_tokens": per_epoch * epochs,
        "capped_examples": sum(c > context_limit for c in token_counts),
    }
