"""What the Train pane shows about one run, folded from its events (live or replayed alike)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ftui.core.base.formatting import clip, duration
from ftui.core.runs.fold import FoldDelta, Point, ProbePoint, RunFold
from ftui.core.runs.text import probe_text, reward_parts


@dataclass
class RunView(RunFold):
    """The one fold of the run's events, plus the chart's points and the pane's lines."""

    run_id: str = ""
    train_points: list[Point] = field(default_factory=list)
    eval_points: list[Point] = field(default_factory=list)
    probe_points: list[ProbePoint] = field(default_factory=list)
    reward_points: list[Point] = field(default_factory=list)

    def apply(self, events: Iterable[dict[str, Any]]) -> FoldDelta:
        """Fold new events in; returns the new loss points and probe rates for the chart."""
        delta = super().apply(events)
        self.train_points.extend(delta.train)
        self.eval_points.extend(delta.eval)
        self.probe_points.extend(delta.probes)
        self.reward_points.extend(delta.rewards)
        return delta

    def stats_line(self) -> str:
        parts = [f"{self.run_id} · {self.state}"]
        if self.max_steps:
            parts.append(f"step {self.step}/{self.max_steps}")
        if self.state == "running" and not self.step:
            # Before the first step the model is still loading: no ETA, no rate can be true yet.
            parts.append("loading")
        elif self.state == "running":
            parts.append(f"ETA {duration(self.eta_s)}")
        r = self.reward_stats
        if r:
            # GRPO: the reward is the curve that moves (with no KL weight the loss is ~0 by design).
            parts += reward_parts(r)
        elif self.loss is not None:
            parts.append(f"loss {self.loss:.4f}")
        if self.tokens_per_s is not None:
            parts.append(f"{self.tokens_per_s:,.0f} tok/s")
        if self.dtype:
            parts.append(f"{self.dtype} weights")
        if self.best_eval is not None:
            parts.append(f"best eval {self.best_eval:.4f} @ {self.best_step}")
        if self.last_probe:
            parts.append(probe_text(self.last_probe))
        if self.lr is not None:
            parts.append(f"lr {self.lr:.2e}")
        return " · ".join(parts)

    def samples_lines(self, width: int = 100) -> list[str]:
        """The strip of the latest sampled answers: reward, cluster, the answer, the grader's reason."""
        if not self.samples:
            return []
        lines = [f"latest answers @ step {self.samples.get('step')} (reward · item · answer — grader)"]
        for s in self.samples.get("samples") or []:
            mark = "✔" if s.get("reward", 0) >= 1 else "✘" if not s.get("reward") else "~"
            answer = "".join(ch if ch.isprintable() else "�" for ch in str(s.get("answer") or ""))
            lines.append(clip(f"{mark} {s.get('reward', 0):.2f} · {s.get('id')} · {answer} — {s.get('reason')}", width))
        return lines

    def detail_line(self) -> str:
        if self.error:
            first = self.error.strip().splitlines()[0] if self.error.strip() else "failed"
            return f"✘ {first}" + (f" — {self.hint}" if self.hint else "") + "  (l: log)"
        return self.message or ""
