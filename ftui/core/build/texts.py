"""A build's counts as `ftui build` prints them and the Data pane shows them, written once."""

from __future__ import annotations

from typing import Any


def dpo_pairs(c: dict[str, Any]) -> int:
    """Preference pairs over the three roles (training, validation, held-out)."""
    return int(c.get("dpo_train", 0) + c.get("dpo_validation", 0) + c.get("dpo_eval", 0))


def train_line(c: dict[str, Any]) -> str:
    kept = f" + {c['preserve']} preserved (KL)" if c.get("preserve") else ""
    return (
        f"train {c.get('train', 0)}: {c.get('train_corrections', 0)} corrections"
        f" + {c.get('train_anchors', 0)} anchors{kept}"
    )


def roles_line(c: dict[str, Any]) -> str:
    return (
        f"validation {c.get('validation', 0)} · held out {c.get('eval', 0)} · DPO {dpo_pairs(c)}"
        f" · discarded {c.get('discarded', 0)}"
    )


def discarded_line(c: dict[str, Any]) -> str | None:
    """`discarded: 3 (1 stale, 2 uncorrected)`, or None when nothing was."""
    if not c.get("discarded"):
        return None
    by = c.get("discarded_by_reason") or {}
    reasons = ", ".join(f"{n} {r.replace('_', ' ')}" for r, n in sorted(by.items()))
    return f"discarded: {c['discarded']}" + (f" ({reasons})" if reasons else "")


def cluster_table(manifest: dict[str, Any], label_width: int = 28, limit: int | None = None) -> list[str]:
    """One line a cluster: items corrected of all, and the rows each role got."""
    per = manifest.get("per_cluster") or {}
    if not per:
        return []
    w = label_width
    lines = [f"{'cluster':<{w}} {'done':>7} {'train':>5} {'valid':>5} {'test':>5} {'discarded':>9}"]
    for label, s in list(per.items())[:limit]:
        done = f"{s.get('corrected', 0)}/{s.get('items', 0)}"
        lines.append(
            f"{label[:w]:<{w}} {done:>7} {s.get('train', 0):>5} {s.get('validation', 0):>5}"
            f" {s.get('eval', 0):>5} {s.get('discarded', 0):>9}"
        )
    return lines


def counts_lines(manifest: dict[str, Any], label_width: int = 28, limit: int | None = None) -> list[str]:
    """What a build holds: its training rows, the other roles, each cluster's share, what was discarded."""
    c = manifest.get("counts", {})
    lines = [train_line(c), roles_line(c), *cluster_table(manifest, label_width, limit)]
    discarded = discarded_line(c)
    return [*lines, discarded] if discarded else lines
