"""Train and eval loss on one plot, redrawn a few times a second however fast points arrive.

A GRPO run draws its mean reward instead of the train loss (with no KL weight its loss is ~0 by
design, and it is the reward that should rise). Graded probes, when the run has them, share the plot on a right-hand axis: the targeted cluster's
pass rate and the anchors' pass rate (0 to 1) at each eval step.

The per-step train loss of small batches jumps too much to read a trend from, so by default the
chart draws its moving average over the raw curve, which stays behind it in a faint colour, as
training dashboards do. Probe rates are drawn as they are: one point per evaluation.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.color import Color
from textual_plotext import PlotextPlot

# Redraws per second at most; a fast run can log many steps a second and a redraw costs ~5 ms.
MAX_FPS = 4
# TensorBoard's default smoothing weight: it steadies a small-batch loss and still follows a run
# of a few dozen steps closely.
SMOOTHING = 0.6
# Plotext's first two series colours, kept for train and eval whatever else is drawn.
TRAIN_COLOR = (0, 130, 200)
EVAL_COLOR = (60, 180, 75)
# Probe pass rates (right axis), fixed too so they never take the train or eval colour.
CLUSTER_COLOR = (245, 130, 48)
ANCHORS_COLOR = (145, 30, 180)
# How much of the train colour the faint raw curve keeps over the background.
RAW_ALPHA = 0.35


def ema(values: Iterable[float], weight: float = SMOOTHING) -> list[float]:
    """The exponential moving average TensorBoard draws: debiased, so the first points are not
    pulled toward zero."""
    out: list[float] = []
    last = 0.0
    for n, v in enumerate(values, start=1):
        last = last * weight + (1 - weight) * v
        out.append(last / (1 - weight**n))
    return out


class LossChart(PlotextPlot):
    DEFAULT_CSS = """
    LossChart { height: 1fr; min-height: 8; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.train: list[tuple[float, float]] = []
        self.eval: list[tuple[float, float]] = []
        self.probes: list[tuple[int, float | None, float | None]] = []
        self.rewards: list[tuple[float, float]] = []
        self.title = "loss"
        self.smooth = True
        self._dirty = True
        # Counted so tests can check the throttle.
        self.redraws = 0

    def on_mount(self) -> None:
        super().on_mount()
        self.set_interval(1 / MAX_FPS, self._flush)
        # The faint colour is mixed with the theme's background: a new theme needs a new mix.
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.flush_now())
        self._replot()

    def clear(self, title: str = "loss") -> None:
        self.train.clear()
        self.eval.clear()
        self.probes.clear()
        self.rewards.clear()
        self.title = title
        self._dirty = True

    def add(self, train=(), eval=(), probes=(), rewards=()) -> None:
        """Buffer points; the next tick of the throttle draws them."""
        self.train.extend(train)
        self.eval.extend(eval)
        self.probes.extend(probes)
        self.rewards.extend(rewards)
        if train or eval or probes or rewards:
            self._dirty = True

    def toggle_smoothing(self) -> bool:
        self.smooth = not self.smooth
        self.flush_now()
        return self.smooth

    def flush_now(self) -> None:
        self._dirty = True
        self._flush()

    def _flush(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        self._replot()

    def _replot(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(self.title)
        plt.xlabel("step")
        if self.rewards:
            xs, ys = (list(v) for v in zip(*self.rewards, strict=False))
            if self.smooth and len(ys) > 1:
                plt.plot(xs, ys, marker="braille", color=self._faint(TRAIN_COLOR))
                plt.plot(xs, ema(ys), label=f"reward (EMA {SMOOTHING})", marker="braille", color=TRAIN_COLOR)
            else:
                plt.plot(xs, ys, label="reward", marker="braille", color=TRAIN_COLOR)
        elif self.train:
            xs, ys = (list(v) for v in zip(*self.train, strict=False))
            if self.smooth and len(ys) > 1:
                plt.plot(xs, ys, marker="braille", color=self._faint(TRAIN_COLOR))
                plt.plot(xs, ema(ys), label=f"train (EMA {SMOOTHING})", marker="braille", color=TRAIN_COLOR)
            else:
                plt.plot(xs, ys, label="train", marker="braille", color=TRAIN_COLOR)
        if self.eval:
            xs, ys = zip(*self.eval, strict=False)
            plt.plot(list(xs), list(ys), label="eval", marker="dot", color=EVAL_COLOR)
        for col, label, marker, color in (
            (1, "cluster pass", "+", CLUSTER_COLOR),
            (2, "anchors pass", "x", ANCHORS_COLOR),
        ):
            pts = [(p[0], p[col]) for p in self.probes if p[col] is not None]
            if pts:
                xs, ys = zip(*pts, strict=True)
                plt.plot(list(xs), list(ys), label=label, marker=marker, color=color, yside="right")
        if self.probes:
            plt.ylim(0, 1, yside="right")
        if not self.train and not self.eval and not self.rewards:
            # An empty canvas with a note, rather than axes around nothing.
            plt.title(f"{self.title} · waiting for the first step")
            plt.plot([0, 1], [0, 0], marker=" ")
            plt.yticks([])
            plt.xticks([])
        self.redraws += 1
        self.refresh()

    def _faint(self, rgb: tuple[int, int, int]) -> tuple[int, int, int]:
        background = Color.parse(self.app.theme_variables.get("surface", "black"))
        return background.blend(Color(*rgb), RAW_ALPHA).rgb
