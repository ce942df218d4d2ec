"""Train and eval loss on one plot, redrawn a few times a second however fast points arrive.

Graded probes, when the run has them, share the plot on a right-hand axis: the targeted cluster's
pass rate and the anchors' pass rate (0 to 1) at each eval step.
"""

from __future__ import annotations

from textual_plotext import PlotextPlot

# Redraws per second at most; a fast run can log many steps a second and a redraw costs ~5 ms.
MAX_FPS = 4


class LossChart(PlotextPlot):
    DEFAULT_CSS = """
    LossChart { height: 1fr; min-height: 8; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.train: list[tuple[float, float]] = []
        self.eval: list[tuple[float, float]] = []
        self.probes: list[tuple[int, float | None, float | None]] = []
        self.title = "loss"
        self._dirty = True
        # Counted so tests can check the throttle.
        self.redraws = 0

    def on_mount(self) -> None:
        super().on_mount()
        self.set_interval(1 / MAX_FPS, self._flush)
        self._replot()

    def clear(self, title: str = "loss") -> None:
        self.train.clear()
        self.eval.clear()
        self.probes.clear()
        self.title = title
        self._dirty = True

    def add(self, train=(), eval=(), probes=()) -> None:
        """Buffer points; the next tick of the throttle draws them."""
        self.train.extend(train)
        self.eval.extend(eval)
        self.probes.extend(probes)
        if train or eval or probes:
            self._dirty = True

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
        if self.train:
            xs, ys = zip(*self.train)
            plt.plot(list(xs), list(ys), label="train", marker="braille")
        if self.eval:
            xs, ys = zip(*self.eval)
            plt.plot(list(xs), list(ys), label="eval", marker="dot")
        for col, label, marker in ((1, "cluster pass", "+"), (2, "anchors pass", "x")):
            pts = [(p[0], p[col]) for p in self.probes if p[col] is not None]
            if pts:
                xs, ys = zip(*pts, strict=True)
                plt.plot(list(xs), list(ys), label=label, marker=marker, yside="right")
        if self.probes:
            plt.ylim(0, 1, yside="right")
        if not self.train and not self.eval:
            # An empty canvas with a note, rather than axes around nothing.
            plt.title(f"{self.title} · waiting for the first step")
            plt.plot([0, 1], [0, 0], marker=" ")
            plt.yticks([])
            plt.xticks([])
        self.redraws += 1
        self.refresh()
