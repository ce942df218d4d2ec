"""What the Train pane shows about one run, folded from its events (live or replayed alike)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ftui.core.events import FINAL_TYPES
from ftui.core.probes import rates as probe_rates


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "—"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


@dataclass
class RunView:
    run_id: str
    state: str = "running"
    step: int = 0
    max_steps: int | None = None
    epoch: float | None = None
    loss: float | None = None
    lr: float | None = None
    tokens_per_s: float | None = None
    best_eval: float | None = None
    best_step: int | None = None
    message: str = ""
    error: str = ""
    hint: str = ""
    model: str = ""
    method: str = ""
    adapter: str = ""
    first_log: tuple[float, int] | None = None  # (t, step) of the first log event
    last_log: tuple[float, int] | None = None
    train_points: list = field(default_factory=list)
    eval_points: list = field(default_factory=list)
    # (step, cluster pass rate, anchors pass rate) from `probe` events; the last event as it came.
    probe_points: list = field(default_factory=list)
    last_probe: dict | None = None

    def apply(self, events: list[dict]) -> tuple[list, list]:
        """Fold new events in; returns the new (train, eval) loss points for the chart."""
        new_train, new_eval = [], []
        for ev in events:
            kind = ev.get("type")
            if kind == "started":
                self.model = str(ev.get("model") or self.model)
                self.method = str(ev.get("method") or self.method)
                self.state = "running"
                self.error = self.hint = ""
                sizes = f"{ev.get('train_size', '?')} train / {ev.get('eval_size', '?')} eval examples"
                params = ev.get("trainable_params")
                self.message = (
                    f"{self.method.upper()} on {self.model}: "
                    + (f"{params:,} trainable params, " if isinstance(params, int) else "")
                    + sizes
                )
            elif kind == "log":
                step = int(ev.get("step") or 0)
                self.step = step
                self.max_steps = ev.get("max_steps") or self.max_steps
                self.epoch = ev.get("epoch", self.epoch)
                self.loss = ev.get("loss")
                self.lr = ev.get("learning_rate", self.lr)
                self.tokens_per_s = ev.get("tokens_per_s", self.tokens_per_s)
                t = ev.get("t")
                if isinstance(t, (int, float)):
                    if self.first_log is None:
                        self.first_log = (t, step)
                    self.last_log = (t, step)
                if isinstance(self.loss, (int, float)):
                    new_train.append((step, float(self.loss)))
                self.state = "running"
            elif kind == "eval":
                loss = ev.get("eval_loss")
                if isinstance(loss, (int, float)):
                    new_eval.append((int(ev.get("step") or 0), float(loss)))
                    if self.best_eval is None or loss < self.best_eval:
                        self.best_eval, self.best_step = float(loss), ev.get("step")
            elif kind == "probe":
                self.last_probe = ev
                self.probe_points.append((int(ev.get("step") or 0), *probe_rates(ev)))
            elif kind == "status":
                self.message = str(ev.get("message", ""))
                if self.state in FINAL_TYPES:
                    self.state = "running"  # a resume appends to a finished stream
            elif kind == "early_stop":
                self.message = (
                    f"early stop at step {ev.get('step')} (best {ev.get('best_eval_loss')} @ {ev.get('best_step')})"
                )
            elif kind == "finished":
                self.state = "finished"
                self.adapter = str(ev.get("adapter") or "")
                if ev.get("best_eval_loss") is not None:
                    self.best_eval, self.best_step = ev.get("best_eval_loss"), ev.get("best_step")
                self.message = f"finished in {fmt_duration(ev.get('runtime_s'))}"
            elif kind == "failed":
                self.state = "failed"
                self.error = str(ev.get("error", ""))
                self.hint = str(ev.get("hint") or "")
            elif kind == "cancelled":
                self.state = "cancelled"
                self.step = ev.get("step", self.step) or self.step
                self.message = f"cancelled at step {self.step}" + (
                    " (checkpoint saved)" if ev.get("checkpoint") else ""
                )
        self.train_points.extend(new_train)
        self.eval_points.extend(new_eval)
        return new_train, new_eval

    @property
    def eta_s(self) -> float | None:
        if self.state != "running" or not self.max_steps or self.first_log is None or self.last_log is None:
            return None
        (t0, s0), (t1, s1) = self.first_log, self.last_log
        if s1 <= s0 or t1 <= t0:
            return None
        return (t1 - t0) / (s1 - s0) * max(0, self.max_steps - s1)

    def stats_line(self) -> str:
        parts = [f"{self.run_id} · {self.state}"]
        if self.max_steps:
            parts.append(f"step {self.step}/{self.max_steps}")
        if self.state == "running":
            parts.append(f"ETA {fmt_duration(self.eta_s)}")
        if self.loss is not None:
            parts.append(f"loss {self.loss:.4f}")
        if self.tokens_per_s is not None:
            parts.append(f"{self.tokens_per_s:,.0f} tok/s")
        if self.best_eval is not None:
            parts.append(f"best eval {self.best_eval:.4f} @ {self.best_step}")
        p = self.last_probe
        if p:
            parts.append(
                f"probes @{p.get('step')}: cluster {p.get('cluster_passed')}/{p.get('cluster_total')}"
                f", anchors {p.get('anchors_passed')}/{p.get('anchors_total')}"
            )
        if self.lr is not None:
            parts.append(f"lr {self.lr:.2e}")
        return " · ".join(parts)

    def detail_line(self) -> str:
        if self.error:
            first = self.error.strip().splitlines()[0] if self.error.strip() else "failed"
            return f"✘ {first}" + (f" — {self.hint}" if self.hint else "") + "  (l: log)"
        return self.message
