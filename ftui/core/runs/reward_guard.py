"""The reward-hacking guard of a GRPO run: the training reward rising while the probes fall.

A reward is only the grader of the training items; a model can learn what satisfies that grader
without learning the task (an answer the grader's pattern accepts, a format it checks and nothing
more). The validation probes are graded items the run never trains on, and anchors are items the
base gets right: when the reward climbs while either passes fewer of them than at the start, the
reward is being earned some other way than the one the run is for.
"""

from __future__ import annotations

from typing import Any

# How much the mean reward must have risen (on a 0–1 grader reward) to count as rising.
RISE = 0.1

Point = tuple[int, float]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def check(rewards: list[Point], probes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The `warning` events' fields for the latest probe: one per fallen measure (validation items
    of the cluster, anchors), when the mean reward since the probe before it is at least RISE above
    the mean reward of the first stretch (up to the second probe). The first probe is the baseline."""
    if len(probes) < 2:
        return []
    first, prev, last = probes[0], probes[-2], probes[-1]
    s_first, s_second = int(first.get("step") or 0), int(probes[1].get("step") or 0)
    s_prev, s_last = int(prev.get("step") or 0), int(last.get("step") or 0)
    early = _mean([r for s, r in rewards if s_first < s <= s_second])
    late = _mean([r for s, r in rewards if s_prev < s <= s_last])
    if early is None or late is None or late - early < RISE:
        return []
    out = []
    for what, passed, total, reason in (
        ("validation items of the cluster", "cluster_passed", "cluster_total", "validation_fell"),
        ("anchors", "anchors_passed", "anchors_total", "anchors_fell"),
    ):
        was, now = int(first.get(passed) or 0), int(last.get(passed) or 0)
        if last.get(total) and now < was:
            out.append(
                {
                    "step": s_last,
                    "reason": reason,
                    "reward_before": round(early, 4),
                    "reward_now": round(late, 4),
                    "message": (
                        f"training reward rose {early:.2f} → {late:.2f} while the probes' {what} fell "
                        f"{was}/{first.get(total)} → {now}/{last.get(total)}: the reward may be earned without "
                        "the task (check the samples and the grader)"
                    ),
                }
            )
    return out
