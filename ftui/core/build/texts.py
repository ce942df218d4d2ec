"""A build's counts as `ftui build` prints them and the Data pane shows them, written once."""

from __future__ import annotations

from typing import Any


def dpo_pairs(c: dict[str, Any]) -> int:
    """Preference pairs over the three roles (training, validation, held-out)."""
    return int(c.get("dpo_train", 0) + c.get("dpo_validation", 0) + c.get("dpo_eval", 0))


def train_line(c: dict[str, Any], preserve_asked: bool = False) -> str:
    kept = f" + {c['preserve']} preserved (KL)" if c.get("preserve") else ""
    if not kept and preserve_asked:
        # Asked for, none kept (e.g. every candidate shares evidence with a held-out item): say so.
        dropped = c.get("preserve_dropped_shared_evidence", 0)
        kept = (
            f" + 0 preserved (KL; {dropped} shared evidence with held-out items)" if dropped else " + 0 preserved (KL)"
        )
    return (
        f"train {c.get('train', 0)}: {c.get('train_corrections', 0)} corrections"
        f" + {c.get('train_anchors', 0)} anchors{kept}"
    )


def roles_line(c: dict[str, Any]) -> str:
    """The rows of the other roles: validation chooses the checkpoint, test (held out) judges the run."""
    return f"valid {c.get('validation', 0)} · test {c.get('eval', 0)} · DPO pairs {dpo_pairs(c)}"


def discarded_line(c: dict[str, Any]) -> str | None:
    """`discarded: 3 (1 stale, 2 uncorrected)`, or None when nothing was."""
    if not c.get("discarded"):
        return None
    by = c.get("discarded_by_reason") or {}
    reasons = ", ".join(f"{n} {r.replace('_', ' ')}" for r, n in sorted(by.items()))
    return f"discarded: {c['discarded']}" + (f" ({reasons})" if reasons else "")


def cluster_table(
    manifest: dict[str, Any], label_width: int = 28, limit: int | None = None, discarded: bool = True
) -> list[str]:
    """One line a cluster: items corrected of all, and the rows each role got (and the items discarded)."""
    per = manifest.get("per_cluster") or {}
    if not per:
        return []
    w = label_width
    tail = f" {'discarded':>9}" if discarded else ""
    lines = [f"{'cluster':<{w}} {'done':>5} {'train':>5} {'valid':>5} {'test':>4}{tail}"]
    for label, s in list(per.items())[:limit]:
        done = f"{s.get('corrected', 0)}/{s.get('items', 0)}"
        tail = f" {s.get('discarded', 0):>9}" if discarded else ""
        lines.append(
            f"{label[:w]:<{w}} {done:>5} {s.get('train', 0):>5} {s.get('validation', 0):>5} {s.get('eval', 0):>4}{tail}"
        )
    return lines


def counts_lines(manifest: dict[str, Any], label_width: int = 14, limit: int | None = 12) -> list[str]:
    """What a build holds, in a narrow panel: its training rows, the other roles, each cluster's share
    (the first `limit`), what was discarded and why."""
    c = manifest.get("counts", {})
    asked = bool((manifest.get("options") or {}).get("preserve"))
    lines = [train_line(c, asked), roles_line(c), *cluster_table(manifest, label_width, limit, discarded=False)]
    why = discarded_line(c)
    return [*lines, why] if why else lines
