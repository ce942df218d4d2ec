"""Train: start a LoRA run in a detached child, watch its loss live, reattach, cancel."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Log, ProgressBar, Static

from ftui.core.base import jobs
from ftui.core.base.errors import FtuiError
from ftui.core.base.formatting import num
from ftui.core.hosted import hosted, where
from ftui.core.runs import runs
from ftui.tui import keymap
from ftui.tui.messages import BuildReady
from ftui.tui.panes.base import Pane
from ftui.tui.panes.train.run_view import RunView
from ftui.tui.widgets.loss_chart import LossChart
from ftui.tui.widgets.row_table import Column, RowTable

STATE_MARK = {
    "running": "● running",
    "finished": "✔ finished",
    "failed": "✘ failed",
    "cancelled": "■ cancelled",
    "dead": "† dead",
}
LOG_TAIL_LINES = 200
# Seconds between re-reading the runs list (states, liveness) from disk.
LIST_EVERY = 3.0
# Seconds between polls of the service for an attached hosted run (its events file only grows then).
HOSTED_POLL_EVERY = 5.0


class TrainPane(Pane):
    PANE = "train"
    CSS_PATH = "train.tcss"
    HELP = """\
# Train

Fine-tune with LoRA (or QLoRA) on the newest dataset build. The run is a separate process: it keeps
going if you quit ftui or lose the SSH connection, and you can come back to it from here.

* **N** opens the run form with the workspace's defaults (ftui.yaml `train:`) filled in.
  **ctrl+r** in the form starts the run.
* The list shows every run of the workspace: running, finished, failed, cancelled, or dead
  (its process is gone without a final event). **enter** on a run reattaches: the whole loss
  curve is read back from its event file and then follows it live.
* The chart shows train loss and eval loss (validation split) by step, and, when the run probes,
  the targeted cluster's and the anchors' pass rates on the validation probe set (right axis,
  0–1). Below the list: progress, time left, tokens/s, the best eval loss with its step, the
  last probe's pass counts and the learning rate.
* The train loss is drawn smoothed (an exponential moving average, TensorBoard's 0.6) over the
  raw per-step curve in a faint colour; **~** switches the smoothing off and on.
* A GRPO run draws its mean reward (each item's grader passing its sampled answers) instead of
  the loss, and shows the share of groups with no signal, the answers' length and the KL to the
  base; under the chart, the latest sampled answers with their reward and the grader's reason.
  A warning in the detail line means the reward rose while the validation probes fell.
* **x** stops the attached run after a confirmation; it stops at the next step, saves a
  checkpoint and ends as *cancelled*.
* **U** resumes a cancelled, failed or dead run from its last checkpoint, in the same curve.
* **l** shows or hides, beside the chart, the tail of the run's own log (train.log): errors and warnings land there.
* With a `hosted:` section in ftui.yaml the form's *Target* can be **hosted**: the build goes to
  that OpenAI-compatible service (`ftui service` on a GPU box, or any other), and the attached
  hosted run is polled every few seconds and drawn like a local one; **x** cancels the job.
"""
    BINDINGS = keymap.bindings("train")

    def __init__(self) -> None:
        super().__init__()
        self.run_dir: Path | None = None
        self.view: RunView | None = None
        self.tail: jobs.Tail | None = None
        self._log_offset = 0
        self._since_list = 0.0
        self._since_hosted = HOSTED_POLL_EVERY
        self._syncing = False

    def compose(self) -> ComposeResult:
        yield from self.compose_bar()
        with Horizontal(id="tr-body"):
            with Vertical(id="tr-side"):
                yield RowTable(
                    [Column("run", 0), Column("state", 11), Column("step", 9, "right"), Column("best", 7, "right")],
                    self._run_cells,
                    empty="no runs yet: N starts one",
                    id="run-table",
                )
            with Vertical(id="tr-main"):
                yield Static(
                    "No run attached. N: new run · enter on a run: attach", id="tr-stats", classes="status-line"
                )
                yield ProgressBar(total=None, show_eta=False, id="tr-progress")
                yield Static("", id="tr-detail", classes="muted")
                # The log opens beside the chart, never instead of it.
                with Horizontal(id="tr-plots"):
                    yield LossChart(id="tr-chart")
                    yield Log(id="tr-log", max_lines=2000, classes="-hidden")
                yield Static("", id="tr-samples", classes="muted -hidden")
        yield from self.compose_footer()

    def on_mount(self) -> None:
        self.set_interval(self.ftui.watch_interval, self._tick)
        self.load_runs()

    # -- runs list -------------------------------------------------------------------------
    def _run_cells(self, info) -> list[str]:
        step = f"{info.step or 0}/{info.max_steps}" if info.max_steps else num(info.step or None, "")
        best = num(info.best_eval_loss, ".3f")
        return [info.id, STATE_MARK.get(info.state, info.state), step, best]

    @work(thread=True, exclusive=True, exit_on_error=False, group="runs", description="Reading runs")
    def load_runs(self) -> list:
        found = runs.list_runs(self.ftui.ws)
        self.app.call_from_thread(self._runs_loaded, found)
        return found

    def _runs_loaded(self, found: list) -> None:
        table = self.query_one("#run-table", RowTable)
        current = table.current
        keep = None
        if current is not None:
            keep = next((r for r in found if r.id == current.id), None)
        table.set_rows(found, keep=keep)
        if self.view is None and found:
            # Coming back to the pane (or to ftui) shows the live run, else the newest one.
            self.attach(next((r for r in found if r.state == "running"), found[0]).dir)
        self._mark_dead(found)

    def _mark_dead(self, infos: list) -> None:
        # The list knows liveness (dead = no heartbeat, process gone); the event fold cannot.
        if self.view is None:
            return
        mine = next((r for r in infos if r.id == self.view.run_id), None)
        if mine is not None and mine.state == "dead" and self.view.state == "running":
            self.view.state = "dead"
            self._render_stats()

    @on(RowTable.Selected, "#run-table")
    def _run_selected(self, event: RowTable.Selected) -> None:
        self.attach(event.row.dir)

    # -- attaching and following -----------------------------------------------------------
    def attach(self, run_dir: Path) -> None:
        """Show `run_dir`: read its whole event file (the full curve), then follow new lines."""
        run_dir = Path(run_dir)
        self.run_dir = run_dir
        self.view = RunView(run_id=run_dir.name)
        self.tail = jobs.Tail(run_dir / "events.jsonl")
        chart = self.query_one("#tr-chart", LossChart)
        chart.clear(title=f"loss · {run_dir.name}")
        self.query_one("#tr-samples", Static).add_class("-hidden")
        log = self.query_one("#tr-log", Log)
        log.clear()
        self._log_offset = 0
        self._poll(quiet=True)
        self._render_stats()
        self._mark_dead(self.query_one("#run-table", RowTable).rows)
        chart.flush_now()
        if not log.has_class("-hidden"):
            self._read_log()

    def _tick(self) -> None:
        self._since_list += self.ftui.watch_interval
        if self._since_list >= LIST_EVERY:
            self._since_list = 0.0
            self.load_runs()
        if self.tail is not None:
            self._since_hosted += self.ftui.watch_interval
            due = self._since_hosted >= HOSTED_POLL_EVERY and not self._syncing
            if due and self.view.state == "running" and self._hosted():
                self._since_hosted = 0.0
                self._syncing = True
                self.sync_hosted(self.run_dir)
            self._poll()
            if not self.query_one("#tr-log", Log).has_class("-hidden"):
                self._read_log()

    def _hosted(self) -> bool:
        return self.run_dir is not None and hosted.is_hosted(self.run_dir)

    @work(thread=True, exit_on_error=False, group="hosted", description="Polling the hosted job")
    def sync_hosted(self, run_dir: Path) -> None:
        # sync() appends what the service reports to events.jsonl; the tail draws it on the next tick.
        # One poll at a time: a slow service must not pile requests up.
        try:
            hosted.sync(run_dir)
        except hosted.HostedError as exc:  # the service is down or refused: say so where the run's state is
            self.app.call_from_thread(self.query_one("#tr-detail", Static).update, f"✘ polling the job: {exc}")
        finally:
            self._syncing = False

    def _poll(self, quiet: bool = False) -> None:
        # Reading by byte offset returns only what was appended since the last tick.
        events = self.tail.poll()
        if not events:
            return
        before = self.view.state
        delta = self.view.apply(events)
        chart = self.query_one("#tr-chart", LossChart)
        if delta.rewards and not chart.rewards:
            chart.title = f"reward · {self.view.run_id}"
        chart.add(delta.train, delta.eval, delta.probes, delta.rewards)
        self._render_stats()
        if self.view.state != before and not quiet:
            self.load_runs()
            if self.view.state == "failed":
                self.notify(
                    self.view.detail_line(), title=f"Run {self.view.run_id} failed", severity="error", timeout=20
                )
            elif self.view.state == "finished":
                self.notify(
                    f"best eval loss {self.view.best_eval} @ step {self.view.best_step}",
                    title=f"Run {self.view.run_id} finished",
                )

    def _render_stats(self) -> None:
        v = self.view
        self.query_one("#tr-stats", Static).update(v.stats_line())
        self.query_one("#tr-detail", Static).update(v.detail_line())
        lines = v.samples_lines()
        strip = self.query_one("#tr-samples", Static)
        # Plain text: answers hold brackets that markup would read as tags.
        strip.update(Text("\n".join(lines)))
        strip.set_class(not lines, "-hidden")
        bar = self.query_one("#tr-progress", ProgressBar)
        # Without a step count yet the bar reads 0%, never the previous run's figure.
        bar.update(total=v.max_steps or 1, progress=min(v.step, v.max_steps) if v.max_steps else 0)

    # -- log tail --------------------------------------------------------------------------
    def _read_log(self) -> None:
        if self.run_dir is None:
            return
        path = self.run_dir / "train.log"
        log = self.query_one("#tr-log", Log)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return
        if size < self._log_offset:
            self._log_offset = 0
            log.clear()
        if size == self._log_offset:
            return
        with open(path, "rb") as fh:
            if self._log_offset == 0 and size > 64_000:
                self._log_offset = size - 64_000  # the tail is what matters on a long run
            fh.seek(self._log_offset)
            data = fh.read(size - self._log_offset)
        end = data.rfind(b"\n")
        if end < 0:
            return
        self._log_offset += end + 1
        # Progress bars redraw one line with carriage returns; keep what the terminal would show.
        lines = [ln.rsplit("\r", 1)[-1] for ln in data[: end + 1].decode("utf-8", "replace").split("\n")[:-1]]
        log.write_lines(lines[-LOG_TAIL_LINES:] if log.line_count == 0 else lines)

    def action_toggle_log(self) -> None:
        log = self.query_one("#tr-log", Log)
        log.toggle_class("-hidden")
        if not log.has_class("-hidden"):
            if self.run_dir is None:
                self.notify("Attach a run first (enter on a run)", severity="warning")
            self._read_log()

    # -- actions ---------------------------------------------------------------------------
    def action_attach(self) -> None:
        row = self.query_one("#run-table", RowTable).current
        if row is None:
            self.notify("No run selected", severity="warning")
            return
        self.attach(row.dir)

    def action_toggle_smoothing(self) -> None:
        on = self.query_one("#tr-chart", LossChart).toggle_smoothing()
        self.notify("train loss smoothed (EMA) over the raw curve" if on else "train loss raw", title="Chart")

    def action_refresh_runs(self) -> None:
        self.load_runs()

    def action_new_run(self) -> None:
        from ftui.tui.panes.train.run_form import RunFormScreen

        self.app.push_screen(RunFormScreen(self.ftui.ws), self._form_done)

    def _form_done(self, overrides: dict | None) -> None:
        if overrides is None:
            return
        self.query_one("#tr-stats", Static).update("Starting a run…")
        self.start_run(overrides)

    @work(thread=True, exit_on_error=False, group="start", description="Starting training")
    def start_run(self, overrides: dict) -> None:
        from ftui.core.build.store import load_build

        build = load_build(self.ftui.ws, None)
        target = overrides.pop("target", where.LOCAL)
        try:
            run_dir, _pid = where.start(self.ftui.ws, build, overrides, target)
        except FtuiError as exc:  # refused before a child was started: say why and the fix
            self.app.call_from_thread(self._refused, str(exc))
            return
        self.app.call_from_thread(self._started, run_dir)

    def _refused(self, why: str) -> None:
        # Plain text: the fix holds brackets (`ftui[train]`) that markup would eat.
        self.query_one("#tr-stats", Static).update(Content(f"✘ not started: {why}"))
        self.notify(why, title="Training not started", severity="error", timeout=20, markup=False)

    def _started(self, run_dir: Path) -> None:
        self.notify(f"{run_dir.name} started in the background", title="Training")
        self.attach(run_dir)
        self.load_runs()

    def action_cancel_run(self) -> None:
        if self.run_dir is None or self.view is None:
            self.notify("Attach a run first", severity="warning")
            return
        if self.view.state != "running":
            self.notify(f"{self.view.run_id} is {self.view.state}; nothing to cancel", severity="warning")
            return
        from ftui.tui.dialogs.confirm import ConfirmScreen

        run_dir = self.run_dir
        self.app.push_screen(
            ConfirmScreen(f"Cancel run {run_dir.name}?", "It stops at the next step and saves a checkpoint."),
            lambda ok: self._cancel(run_dir) if ok else None,
        )

    def _cancel(self, run_dir: Path) -> None:
        self.stop_run(run_dir)

    @work(thread=True, exit_on_error=False, group="stop", description="Stopping a run")
    def stop_run(self, run_dir: Path) -> None:
        done = where.stop(run_dir)
        self.app.call_from_thread(self.notify, done.text, title=f"Cancel {run_dir.name}")

    def action_resume(self) -> None:
        if self.run_dir is None or self.view is None:
            self.notify("Attach a run first", severity="warning")
            return
        if self._hosted():
            self.notify("a hosted job cannot be resumed; start a new one (n)", severity="warning")
            return
        if self.view.state not in ("cancelled", "failed", "dead"):
            self.notify(
                f"{self.view.run_id} is {self.view.state}; only a stopped run can be resumed", severity="warning"
            )
            return
        self.resume_run(self.run_dir)

    @work(thread=True, exit_on_error=False, group="start", description="Resuming training")
    def resume_run(self, run_dir: Path) -> None:
        runs.start_training(run_dir, resume=True)
        self.app.call_from_thread(self._resumed, run_dir)

    def _resumed(self, run_dir: Path) -> None:
        self.notify(f"{run_dir.name} resumed in the background", title="Training")
        self.view.state = "running"
        self._render_stats()
        self.load_runs()

    def on_build_ready(self, message: BuildReady) -> None:
        self.notify(f"build {message.build_id} is ready to train on (N: new run)", title="Dataset")

    def palette(self):
        yield from super().palette()
        for info in self.query_one("#run-table", RowTable).rows:
            yield (f"Attach run {info.id}", f"{info.state}", lambda d=info.dir: self.attach(d))
