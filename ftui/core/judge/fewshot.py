"""The prompt rung: the base model shown a few of the cluster's corrections before the question.

Before fine-tuning, the cheaper fix is to put worked examples in the prompt. The evaluation tries
it for real: each evaluated item gets the K training corrections of the targeted cluster most
similar to it (word overlap of question and evidence), never the item itself and never one whose
evidence shares code with it (that would hand over the answer, as the held-out split by evidence
prevents for training).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ftui.core.build.heldout_split import evidence_keys

if TYPE_CHECKING:
    from ftui.core.logs.items import Item, RunLog

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text or "")}


def similarity(a: set[str], b: set[str]) -> float:
    """Jaccard overlap of two word sets."""
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def pool(build_rows: list[dict[str, Any]], target: str | None, log: RunLog) -> list[dict[str, Any]]:
    """The build's training corrections of the targeted cluster, with what selection needs."""
    out: list[dict[str, Any]] = []
    for row in build_rows:
        if row.get("kind") != "correction" or row.get("cluster") != target:
            continue
        item = log.by_id.get(row["id"])
        msgs = row["messages"]
        user = next((m["content"] for m in msgs if m["role"] == "user"), "")
        out.append(
            {
                "id": row["id"],
                "user": user,
                "answer": msgs[-1]["content"],
                "words": _words(user),
                "evidence": evidence_keys(item) if item is not None else set(),
            }
        )
    return out


def choose(item: Item, messages: list[dict[str, Any]], examples: list[dict[str, Any]], k: int) -> list[dict[str, Any]]:
    """The `k` examples most similar to one evaluated item (ties: by id), none sharing its evidence."""
    user = next((m["content"] for m in messages if m["role"] == "user"), "")
    words = _words(user)
    keys = evidence_keys(item)
    fair = [ex for ex in examples if ex["id"] != item.id and not (ex["evidence"] & keys)]
    fair.sort(key=lambda ex: (-similarity(words, ex["words"]), ex["id"]))
    return fair[: max(0, k)]


def with_examples(messages: list[dict[str, Any]], examples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The item's chat with the examples as earlier user/assistant turns after the system prompt."""
    head = [m for m in messages[:1] if m["role"] == "system"]
    shots = []
    for ex in examples:
        shots += [{"role": "user", "content": ex["user"]}, {"role": "assistant", "content": ex["answer"]}]
    return head + shots + messages[len(head) :]
