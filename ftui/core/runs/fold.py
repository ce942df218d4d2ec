"""A run's state, folded from its event stream: the one reading of `events.jsonl`.

The runs list, the Train pane and the trainer's resume all fold the same events through this
class, live or replayed, so they cannot disagree about a run's step, best evaluation or state.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ftui.core.base.events import FINAL_TYPES
from ftui.core.runs.probes import rates as probe_rates
from ftui.core.runs.text import event_message

Point = tuple[int, float]
# A GRPO log event's figures beside the loss (ftui.core.base.events.LogEvent).
GRPO_LOG_FIELDS = ("reward", "reward_std", "frac_reward_zero_std", "completion_length", "kl", "cluster_reward")
# (step, targeted cluster's pass rate, anchors' pass rate) of one graded probe
ProbePoint = tuple[int, float | None, float | None]


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


@dataclass
class FoldDelta:
    """What one `apply` added: the loss points and probe pass rates a live chart draws next."""

    train: list[Point] = field(default_factory=list)
    eval: list[Point] = field(default_factory=list)
    probes: list[ProbePoint] = field(default_factory=list)
    rewards: list[Point] = field(default_factory=list)


@dataclass
class RunFold:
    # running until a final event; an event after a final one (a resume) makes the run current again
    state: str = "running"
    final: dict[str, Any] | None = None
    step: int = 0
    max_steps: int | None = None
    epoch: float | None = None
    loss: float | None = None
    lr: float | None = None
    tokens_per_s: float | None = None
    eval_loss: float | None = None
    best_eval: float | None = None
    best_step: int | None = None
    # evaluations since the best one that did not beat it: early stopping's patience counter
    evals_since_best: int = 0
    # every evaluation's (step, eval loss) and every `probe` event, in order: a resume choosing the
    # best checkpoint by probes replays them
    evals: list[Point] = field(default_factory=list)
    probes: list[dict[str, Any]] = field(default_factory=list)
    last_checkpoint: str | None = None
    # GRPO: every logged step's mean reward, the latest `samples` event, and the warnings so far
    rewards: list[Point] = field(default_factory=list)
    reward_stats: dict[str, Any] = field(default_factory=dict)  # the latest log's GRPO figures
    samples: dict[str, Any] | None = None
    warnings: list[dict[str, Any]] = field(default_factory=list)
    adapter: str | None = None
    error: str | None = None
    hint: str | None = None
    message: str | None = None
    model: str | None = None
    method: str | None = None
    dtype: str | None = None  # the frozen weights' precision, from the `started` event
    last_event_t: float | None = None
    first_log: tuple[float, int] | None = None  # (t, step) of the first log event
    last_log: tuple[float, int] | None = None

    def apply(self, events: Iterable[dict[str, Any]]) -> FoldDelta:
        delta = FoldDelta()
        for ev in events:
            self._one(ev, delta)
        return delta

    def _one(self, ev: dict[str, Any], delta: FoldDelta) -> None:
        kind = ev.get("type")
        self.last_event_t = _num(ev.get("t")) or self.last_event_t
        if kind in FINAL_TYPES:
            self.final, self.state = ev, str(kind)
        elif kind != "heartbeat" and self.final is not None:
            self.final, self.state = None, "running"
        if kind == "started":
            self.model = str(ev.get("model") or self.model or "") or None
            self.method = str(ev.get("method") or self.method or "") or None
            self.dtype = str(ev.get("dtype") or self.dtype or "") or None
            self.error = self.hint = None
        elif kind == "log":
            self._log(ev, delta)
        elif kind == "eval":
            self._eval(ev, delta)
        elif kind == "probe":
            self.probes.append(ev)
            delta.probes.append((int(ev.get("step") or 0), *probe_rates(ev)))
        elif kind == "samples":
            self.samples = ev
        elif kind == "warning":
            self.warnings.append(ev)
        elif kind == "checkpoint":
            self.last_checkpoint = ev.get("path") or self.last_checkpoint
        elif kind == "finished":
            self.adapter = ev.get("adapter") or self.adapter
            if ev.get("best_eval_loss") is not None:
                self.best_eval, self.best_step = _num(ev.get("best_eval_loss")), ev.get("best_step")
            self.step = int(ev.get("step") or self.step)
        elif kind == "failed":
            self.error, self.hint = str(ev.get("error") or ""), (str(ev["hint"]) if ev.get("hint") else None)
        elif kind == "cancelled":
            self.step = int(ev.get("step") or self.step)
            self.last_checkpoint = ev.get("checkpoint") or self.last_checkpoint
        line = event_message(ev)
        if line is not None:
            self.message = line

    def _log(self, ev: dict[str, Any], delta: FoldDelta) -> None:
        step = int(ev.get("step") or 0)
        self.step = step
        self.max_steps = ev.get("max_steps") or self.max_steps
        self.epoch = _num(ev.get("epoch")) if "epoch" in ev else self.epoch
        self.loss = _num(ev.get("loss"))
        self.lr = _num(ev.get("learning_rate")) if "learning_rate" in ev else self.lr
        self.tokens_per_s = _num(ev.get("tokens_per_s")) if "tokens_per_s" in ev else self.tokens_per_s
        t = _num(ev.get("t"))
        if t is not None:
            if self.first_log is None:
                self.first_log = (t, step)
            self.last_log = (t, step)
        if self.loss is not None:
            delta.train.append((step, self.loss))
        reward = _num(ev.get("reward"))
        if reward is not None:
            self.reward_stats = {k: ev[k] for k in GRPO_LOG_FIELDS if k in ev}
            self.rewards.append((step, reward))
            delta.rewards.append((step, reward))

    def _eval(self, ev: dict[str, Any], delta: FoldDelta) -> None:
        loss = _num(ev.get("eval_loss"))
        self.eval_loss = loss
        if loss is None:
            return
        step = int(ev.get("step") or 0)
        delta.eval.append((step, loss))
        self.evals.append((step, loss))
        if self.best_eval is None or loss < self.best_eval:
            self.best_eval, self.best_step, self.evals_since_best = loss, step, 0
        else:
            self.evals_since_best += 1

    @property
    def last_probe(self) -> dict[str, Any] | None:
        return self.probes[-1] if self.probes else None

    def probe_at(self, step: int) -> dict[str, Any] | None:
        """The last probe event graded at `step` (a resume may have probed the same step again)."""
        return next((p for p in reversed(self.probes) if int(p.get("step") or 0) == step), None)

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the pace of the logged steps so far (None until two steps are logged)."""
        if self.state != "running" or not self.max_steps or self.first_log is None or self.last_log is None:
            return None
        (t0, s0), (t1, s1) = self.first_log, self.last_log
        if s1 <= s0 or t1 <= t0:
            return None
        return (t1 - t0) / (s1 - s0) * max(0, self.max_steps - s1)


def fold_run(events: Iterable[dict[str, Any]]) -> RunFold:
    """A training run's events folded; a job of another kind folds through `jobs.fold`."""
    f = RunFold()
    f.apply(events)
    return f
