"""The Train pane's chart: loss on one plot, pass rates in their own strip, the legend above both.

Redrawn a few times a second however fast points arrive. The per-step train loss of small
batches jumps too much to read a trend from, so by default the chart draws its moving average
over the raw curve, which stays behind it in a faint colour, as training dashboards do; a step
whose raw loss leaps far above the trend is marked as a spike. The y-range never shrinks below
half the loss's size, so noise on a flat curve is not drawn as a climb.

A GRPO run draws its mean reward instead of the train loss (with no KL weight its loss is ~0 by
design, and it is the reward that should rise), on the same plot with its own axis label.

Graded probes, when the run has them, get their own strip under the loss (0 to 1 on its own
axis): the targeted cluster's pass rate and the anchors' at each eval step. More strips (a reward,
say) go the same way: a series list drawn in `_draw_rates`, named in the legend.
"""

from __future__ import annotations

from collections.abc import Iterable
from statistics import median

from textual.app import ComposeResult
from textual.color import Color
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Static
from textual_plotext import PlotextPlot

# Redraws per second at most; a fast run can log many steps a second and a redraw costs ~5 ms.
MAX_FPS = 4
# TensorBoard's default smoothing weight: it steadies a small-batch loss and still follows a run
# of a few dozen steps closely.
SMOOTHING = 0.6
# Plotext's first two series colours, kept for train and eval whatever else is drawn.
TRAIN_COLOR = (0, 130, 200)
EVAL_COLOR = (60, 180, 75)
# Probe pass rates (their strip), fixed too so they never take the train or eval colour.
CLUSTER_COLOR = (245, 130, 48)
ANCHORS_COLOR = (145, 30, 180)
SPIKE_COLOR = (230, 25, 75)
# How much of the train colour the faint raw curve keeps over the background.
RAW_ALPHA = 0.35
# The loss axis spans at least this share of the largest loss shown (W&B and TensorBoard keep a
# floor too): 0.43 to 0.49 is drawn as the flat line it is.
MIN_SPAN = 0.5
# A spike: the raw loss above the trend before it by SPIKE_MADS typical deviations, and by SPIKE_RATIO.
SPIKE_MADS = 6.0
SPIKE_RATIO = 1.3
SPIKE_MIN_POINTS = 5


def ema(values: Iterable[float], weight: float = SMOOTHING) -> list[float]:
    """The exponential moving average TensorBoard draws: debiased, so the first points are not
    pulled toward zero."""
    out: list[float] = []
    last = 0.0
    for n, v in enumerate(values, start=1):
        last = last * weight + (1 - weight) * v
        out.append(last / (1 - weight**n))
    return out


def spikes(values: list[float]) -> list[int]:
    """Indexes of raw losses that leap above the trend before them (a bad batch, a diverging step)."""
    trend = ema(values)
    jumps = [values[i] - trend[i - 1] for i in range(1, len(values))]
    out = []
    for i in range(SPIKE_MIN_POINTS, len(values)):
        typical = median(abs(j) for j in jumps[: i - 1]) or 1e-9
        if jumps[i - 1] > SPIKE_MADS * typical and values[i] > SPIKE_RATIO * trend[i - 1]:
            out.append(i)
    return out


def y_limits(values: Iterable[float], min_span: float = MIN_SPAN) -> tuple[float, float]:
    """The loss axis: the values' range, widened about its middle to at least `min_span` of the
    largest value, and never below zero when no value is."""
    vals = list(values)
    lo, hi = min(vals), max(vals)
    need = min_span * max(abs(lo), abs(hi), 1e-9)
    if hi - lo < need:
        mid = (hi + lo) / 2
        lo, hi = mid - need / 2, mid + need / 2
        if lo < 0 <= min(vals):
            lo, hi = 0.0, need
    return lo, hi


class LossChart(Vertical):
    DEFAULT_CSS = """
    LossChart { height: 1fr; min-height: 8; }
    LossChart > #lc-legend { height: auto; max-height: 2; padding: 0 1; color: $text-muted; }
    LossChart > #lc-loss { height: 1fr; min-height: 6; }
    LossChart > #lc-rates { height: 6; display: none; }
    LossChart.-rates > #lc-rates { display: block; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.train: list[tuple[float, float]] = []
        self.eval: list[tuple[float, float]] = []
        self.probes: list[tuple[int, float | None, float | None]] = []
        self.rewards: list[tuple[float, float]] = []
        self.title = "loss"
        self.smooth = True
        self.spikes: list[int] = []  # steps whose raw loss spiked
        self._dirty = True
        # Counted so tests can check the throttle.
        self.redraws = 0

    def compose(self) -> ComposeResult:
        yield Static("", id="lc-legend")
        yield PlotextPlot(id="lc-loss")
        yield PlotextPlot(id="lc-rates")

    @property
    def plt(self):
        """The loss plot's plotext object."""
        return self.query_one("#lc-loss", PlotextPlot).plt

    @property
    def rates_plt(self):
        return self.query_one("#lc-rates", PlotextPlot).plt

    def on_mount(self) -> None:
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
        legend: list[tuple[str, tuple[int, int, int], str]] = []
        self._draw_loss(legend)
        self._draw_rates(legend)
        self.query_one("#lc-legend", Static).update(self._legend([("", (0, 0, 0), self.title), *legend]))
        self.redraws += 1
        for plot in self.query(PlotextPlot):
            plot.refresh()

    def _draw_loss(self, legend: list) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        # No title inside the plot: the legend line above names the run, which leaves a row for data.
        plt.xlabel("step")
        plt.ylabel("reward" if self.rewards else "loss")
        shown: list[float] = []
        self.spikes = []
        if self.rewards:
            xs, ys = (list(v) for v in zip(*self.rewards, strict=False))
            if self.smooth and len(ys) > 1:
                plt.plot(xs, ys, marker="braille", color=self._faint(TRAIN_COLOR))
                plt.plot(xs, ema(ys), marker="braille", color=TRAIN_COLOR)
                legend += [("━", TRAIN_COLOR, f"reward (EMA {SMOOTHING})"), ("━", self._faint(TRAIN_COLOR), "raw")]
            else:
                plt.plot(xs, ys, marker="braille", color=TRAIN_COLOR)
                legend.append(("━", TRAIN_COLOR, "reward"))
            shown += ys
        elif self.train:
            xs, ys = (list(v) for v in zip(*self.train, strict=False))
            if self.smooth and len(ys) > 1:
                plt.plot(xs, ys, marker="braille", color=self._faint(TRAIN_COLOR))
                plt.plot(xs, ema(ys), marker="braille", color=TRAIN_COLOR)
                legend += [("━", TRAIN_COLOR, f"train (EMA {SMOOTHING})"), ("━", self._faint(TRAIN_COLOR), "raw")]
            else:
                plt.plot(xs, ys, marker="braille", color=TRAIN_COLOR)
                legend.append(("━", TRAIN_COLOR, "train"))
            shown += ys
            found = spikes(ys)
            if found:
                self.spikes = [xs[i] for i in found]
                plt.scatter(self.spikes, [ys[i] for i in found], marker="▲", color=SPIKE_COLOR)
                legend.append(("▲", SPIKE_COLOR, f"spike @{', '.join(f'{s:g}' for s in self.spikes[-3:])}"))
        if self.eval:
            xs, ys = zip(*self.eval, strict=False)
            plt.plot(list(xs), list(ys), marker="dot", color=EVAL_COLOR)
            legend.append(("•", EVAL_COLOR, "eval"))
            shown += list(ys)
        if shown:
            plt.ylim(*y_limits(shown))
        else:
            # An empty canvas with a note, rather than axes around nothing.
            plt.title("waiting for the first step")
            plt.plot([0, 1], [0, 0], marker=" ")
            plt.yticks([])
            plt.xticks([])

    def _draw_rates(self, legend: list) -> None:
        plt = self.rates_plt
        plt.clear_data()
        plt.clear_figure()
        self.set_class(bool(self.probes), "-rates")
        if not self.probes:
            return
        plt.ylabel("pass rate")
        plt.ylim(0, 1)
        plt.xticks([])  # the steps are read on the loss plot's axis just above
        plt.yticks([0, 0.5, 1], ["0.00", "0.50", "1.00"])  # as wide as the loss ticks: the x axes line up
        for col, label, marker, color in (
            (1, "cluster", "+", CLUSTER_COLOR),
            (2, "anchors", "x", ANCHORS_COLOR),
        ):
            pts = [(p[0], p[col]) for p in self.probes if p[col] is not None]
            if pts:
                xs, ys = zip(*pts, strict=True)
                plt.plot(list(xs), list(ys), marker=marker, color=color)
                legend.append((marker, color, label))
        # The strip shares the loss plot's steps, so one point reads against the other.
        steps = [p[0] for p in self.train] + [p[0] for p in self.probes]
        if steps:
            plt.xlim(min(steps), max(steps))

    def _legend(self, entries: list[tuple[str, tuple[int, int, int], str]]) -> Content:
        if not entries:
            return Content("")
        parts = []
        for glyph, rgb, label in entries:
            if not glyph:
                parts.append(Content.from_markup("[b]$label[/b]", label=label))
                continue
            parts.append(
                Content.from_markup(f"[rgb({rgb[0]},{rgb[1]},{rgb[2]})]$glyph[/] $label", glyph=glyph, label=label)
            )
        return Content("  ").join(parts)

    def _faint(self, rgb: tuple[int, int, int]) -> tuple[int, int, int]:
        background = Color.parse(self.app.theme_variables.get("surface", "black"))
        return background.blend(Color(*rgb), RAW_ALPHA).rgb
