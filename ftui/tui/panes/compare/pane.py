"""Compare: base vs fine-tuned per benchmark item, what got fixed, what broke, and the verdict."""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from ftui.core.base.formatting import duration
from ftui.core.judge import evalrun, forgetting, side_by_side
from ftui.core.judge import texts as judge_texts
from ftui.core.runs import runs
from ftui.tui import keymap
from ftui.tui.panes.base import Pane
from ftui.tui.panes.compare.metrics import (
    BUCKET_FILTERS,
    BUCKET_MARK,
    METRIC_COLUMNS,
    VERDICT_WORD,
    WIDE,
    forgetting_cells,
    forgetting_of,
    interval_cell,
    metric_cells,
    metric_rows,
)
from ftui.tui.panes.job_watch import JobWatch
from ftui.tui.widgets.row_table import Column, RowTable
from ftui.tui.widgets.word_diff import WordDiff

# What E offers besides every item: quick evaluations on a stratified sample.
QUICK_LIMITS = (16, 64)


class ComparePane(Pane):
    PANE = "compare"
    CSS_PATH = "compare.tcss"
    HELP = """\
# Compare

The benchmark answered twice — by the base model and by the fine-tuned one — and graded the same
way. Each item falls in a bucket: **fixed** (base failed, tuned passes), **regressed** (base passed,
tuned fails), **still failing**, **still passing**.

* The banner is the verdict: *ship* (improved, nothing broke), *investigate* (improved, some
  regressions), *data quality* (the interval rules out a real gain, nothing broke), *stop*,
  *fine-tuning not needed* (few-shot examples fix the cluster as well), or *inconclusive*: the
  cluster's items cannot settle it (its 95% interval holds zero, or the mid-p test disagrees).
  Below it: that interval (Newcombe's paired method), the mid-p McNemar p-value with the fixed
  and regressed counts it is computed on, and the smallest change the cluster's items could show.
* The table gives pass rates base → fine-tuned for the targeted cluster, the rest of the benchmark
  and each cluster, with fixed/regressed counts and the exact McNemar p-value (*exact p*).
* A regression marked *~flaky* is an item whose base pass did not hold when re-asked with
  sampling (`eval.flaky_k`); it counts, and `eval.gate_ignores_flaky` lets the gate pass it.
* With `eval.fewshot_k`, the row under the cluster is the prompt rung: the base model given that
  many of the cluster's corrections as examples. When it fixes the cluster as well and breaks
  nothing, the verdict is *fine-tuning not needed*.
* Filters: **f** cycles the bucket (all, fixed, regressed, still failing, still passing);
  **F** cycles through clusters. A filter belongs to its run: the next run opens on all items.
* The two boxes show the selected item's answers with the words that differ highlighted, and each
  side's grade with its reason.
* **X** exports the run: export it (merged, adapter, GGUF, Ollama) and see, item by item, whether
  the export answers like the model judged here.
* **v** sets another evaluated run's report beside this one: each item's bucket here and there
  (✔ fixed, ✘ regressed, · still failing, = still passing) and which run fixed or broke what;
  **v** again moves to the next run, then back to this run alone (`ftui report RUN --vs OTHER`).
* **g** runs the forgetting check (`eval.forgetting`) in the background: general tasks through
  lm-evaluation-harness, base vs fine-tuned, with progress in the banner. Its table sits beside
  the benchmark's: per task base → tuned and the change, ✘ when it dropped by more than
  `eval.forgetting.max_drop` (the verdict then says so). Base results are cached per model and
  task, the tuned ones per adapter, so a second **g** only measures what is missing.
* **w** opens the postmortem (Markdown). **]** / **[** show the next / previous run; **E**
  starts the evaluation of the shown run. An evaluation already running (started here or from
  the CLI) shows its progress in the banner instead.
"""
    BINDINGS = keymap.bindings("compare")

    def __init__(self) -> None:
        super().__init__()
        self.report: dict | None = None
        self.run_dir: Path | None = None
        self.run_dirs: list[Path] = []
        self.bucket = "all"
        self.cluster: str | None = None
        self._eval_watch: JobWatch | None = None
        self._fg_watch: JobWatch | None = None
        # Another run's report set beside this one (`v`): item id -> its row in side_by_side.pair.
        self.vs: dict | None = None
        self.vs_dir: Path | None = None
        self._stale = ""  # the shown report is older than the run's adapter: what to say

    def compose(self) -> ComposeResult:
        yield from self.compose_bar()
        yield Static("Looking for evaluated runs…", id="cmp-banner", classes="banner")
        with Vertical(id="cmp-top"):
            with Horizontal(id="cmp-tables"):
                yield RowTable(
                    list(METRIC_COLUMNS),
                    metric_cells,
                    empty="no report",
                    id="metric-table",
                )
                yield RowTable(
                    [Column("general task", 0), Column("% base→ft", 9, "right"), Column("Δ pts", 5, "right")],
                    forgetting_cells,
                    empty="no task measured",
                    id="fg-table",
                )
            yield Static("", id="cmp-filter", classes="status-line")
            yield RowTable(
                [Column("id", 6, fit=24), Column("bucket", 16), Column("cluster", 16), Column("question", 0)],
                lambda it: [
                    it.get("id", ""),
                    self._bucket_cell(it),
                    it.get("cluster") or "—",
                    it.get("question", ""),
                ],
                empty="no items match this filter",
                id="cmp-items",
            )
        yield WordDiff(id="cmp-diff")
        yield from self.compose_footer()

    def on_mount(self) -> None:
        self.find_reports()

    def on_screen_resume(self) -> None:
        if self.report is None:
            self.find_reports()

    # -- loading ---------------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="reports", description="Finding reports")
    def find_reports(self) -> None:
        found = runs.list_runs(self.ftui.ws)
        dirs = [r.dir for r in found]
        with_report = [d for d in dirs if (evalrun.eval_dir(d) / evalrun.REPORT).is_file()]
        target = (
            self.run_dir if self.run_dir in dirs else (with_report[0] if with_report else (dirs[0] if dirs else None))
        )
        report = None
        error = None
        if target is not None and target in with_report:
            try:
                report = evalrun.read_report(target)
            except Exception as exc:  # a broken report is shown as its one-line reason
                error = str(exc)
        fg = None
        try:
            fg = forgetting_of(report, target)
        except Exception as exc:  # a broken check result is shown, the benchmark's report still is
            error = error or f"forgetting check: {exc}"
        # An evaluation started elsewhere (the CLI, another window) is shown with its progress, so
        # the pane never invites a second one.
        running = target is not None and evalrun.eval_state(target).state == "running"
        stale = evalrun.report_stale_text(target) if report is not None and target is not None else ""
        self.app.call_from_thread(self._loaded, dirs, target, report, error, fg, running, stale)

    def _loaded(
        self,
        dirs: list,
        target: Path | None,
        report: dict | None,
        error: str | None,
        fg: dict | None = None,
        running: bool = False,
        stale: str = "",
    ) -> None:
        self._stale = stale
        self.run_dirs = dirs
        self.run_dir = target
        self.show_forgetting(fg)
        banner = self.query_one("#cmp-banner", Static)
        if target is None:
            banner.update("No training runs yet. Train one in the Train pane (4), then evaluate it here.")
            return
        if error:
            banner.update(f"✘ {error}")
            banner.set_classes("banner -stop")
            return
        if running and (self._eval_watch is None or not self._eval_watch.active):
            self._watch(target)
            banner.update(f"evaluating {target.name}: reading its progress…")
        if report is None:
            if not running:
                banner.update(f"{target.name} has no evaluation yet: press E to evaluate it (base vs fine-tuned).")
            banner.set_classes("banner")
            self.report = None
            self.query_one("#metric-table", RowTable).set_rows([])
            self._apply_filter()
            return
        self.show_report(report, target)

    def show_report(self, report: dict, run_dir: Path | None = None) -> None:
        self.report = report
        self.vs, self.vs_dir = None, None
        self.run_dir = run_dir or self.run_dir
        v = report.get("verdict") or {}
        word = VERDICT_WORD.get(v.get("verdict", ""), str(v.get("verdict", "?")).upper())
        run = report.get("run_id") or (self.run_dir.name if self.run_dir else "")
        text = f"{word} — {v.get('headline', '')}  [{run}]"
        interval = interval_cell(report.get("targeted") or {})
        if interval:
            text += f"\n{interval}"
        gate = v.get("ship_gate") or {}
        if gate and not gate.get("open", True) and gate.get("reason"):
            text += f"\nship gate closed: {gate['reason']}"
        if self._stale:
            text = f"{self._stale}\n{text}"
        banner = self.query_one("#cmp-banner", Static)
        banner.update(text)
        banner.set_classes(f"banner -{v.get('verdict', 'none')}")
        self.query_one("#metric-table", RowTable).set_rows(metric_rows(report))
        self._apply_filter()

    def show_forgetting(self, fg: dict | None) -> None:
        """The forgetting table beside the benchmark's; hidden for a run never checked."""
        table = self.query_one("#fg-table", RowTable)
        table.display = fg is not None
        metrics = self.query_one("#metric-table", RowTable)
        narrow = fg is not None and self.app.size.width < WIDE
        metrics.columns = list(METRIC_COLUMNS[:4] if narrow else METRIC_COLUMNS)
        metrics.refresh()
        if fg is not None:
            table.empty = "; ".join(fg.get("errors") or []) or "no task measured"
            table.set_rows(fg.get("tasks") or [])

    # -- filtering -------------------------------------------------------------------------
    def _clusters(self) -> list[str]:
        if not self.report:
            return []
        return sorted({it.get("cluster") or "—" for it in self.report.get("items", [])})

    def _apply_filter(self) -> None:
        items = (self.report or {}).get("items", [])
        shown = [
            it
            for it in items
            if (self.bucket == "all" or it.get("bucket") == self.bucket)
            and (self.cluster is None or (it.get("cluster") or "—") == self.cluster)
        ]
        line = (
            f"filter: {self.bucket.replace('_', ' ')} · cluster: {self.cluster or 'all'} · {len(shown)} of {len(items)} items"
            "   (f: bucket · F: cluster)"
        )
        if self.vs is not None:
            line = side_by_side.summary_line(self.vs) + "  (v: next run / off)"
        self.query_one("#cmp-filter", Static).update(line)
        table = self.query_one("#cmp-items", RowTable)
        table.set_rows(shown)
        if not shown:
            self.query_one("#cmp-diff", WordDiff).clear()

    def action_filter(self, bucket: str) -> None:
        self.bucket = bucket
        self._apply_filter()

    def action_next_filter(self) -> None:
        """One key for the bucket filter: all → fixed → regressed → still failing → still passing → all."""
        i = BUCKET_FILTERS.index(self.bucket) if self.bucket in BUCKET_FILTERS else -1
        self.action_filter(BUCKET_FILTERS[(i + 1) % len(BUCKET_FILTERS)])

    def action_next_cluster(self) -> None:
        names = self._clusters()
        if not names:
            return
        if self.cluster is None:
            self.cluster = names[0]
        else:
            i = names.index(self.cluster) if self.cluster in names else -1
            self.cluster = names[i + 1] if i + 1 < len(names) else None
        self._apply_filter()

    @on(RowTable.Highlighted, "#cmp-items")
    def _item(self, event: RowTable.Highlighted) -> None:
        it = event.row
        self.query_one("#cmp-diff", WordDiff).show(
            it.get("base_answer", ""), it.get("tuned_answer", ""), it.get("base_grade"), it.get("tuned_grade")
        )

    def _bucket_cell(self, it: dict) -> str:
        mine = (
            "✘ regr. ~flaky"
            if it.get("flaky") and it.get("bucket") == "regressed"
            else BUCKET_MARK.get(it.get("bucket"), it.get("bucket", ""))
        )
        if self.vs is None:
            return mine
        other = self.vs["by_id"].get(it.get("id"))
        theirs = side_by_side.MARK.get(other["other_bucket"], "?") if other else "—"
        return f"{side_by_side.MARK.get(it.get('bucket'), '?')} this · {theirs} other"

    def action_versus(self) -> None:
        """Cycle the other run set beside this one: each evaluated run in turn, then none."""
        others = [d for d in self.run_dirs if d != self.run_dir and (evalrun.eval_dir(d) / evalrun.REPORT).exists()]
        if not others or self.report is None:
            self.notify("No other evaluated run to set beside this one", severity="warning")
            return
        i = others.index(self.vs_dir) + 1 if self.vs_dir in others else 0
        if i >= len(others):
            self.vs, self.vs_dir = None, None
        else:
            self.vs_dir = others[i]
            paired = side_by_side.pair(self.report, evalrun.read_report(self.vs_dir))
            paired["by_id"] = {r["id"]: r for r in paired["items"]}
            self.vs = paired
        self._apply_filter()

    # -- runs, evaluation, postmortem ------------------------------------------------------
    def action_step_run(self, by: int) -> None:
        if not self.run_dirs:
            self.notify("No runs yet", severity="warning")
            return
        i = self.run_dirs.index(self.run_dir) if self.run_dir in self.run_dirs else -1
        self._pick(self.run_dirs[(i + by) % len(self.run_dirs)])

    def action_postmortem(self) -> None:
        if self.run_dir is None:
            self.notify("No run selected", severity="warning")
            return
        self.load_postmortem(self.run_dir)

    @work(thread=True, exclusive=True, exit_on_error=False, group="postmortem", description="Postmortem")
    def load_postmortem(self, run_dir: Path) -> None:
        path = run_dir / "postmortem.md"
        if not path.is_file() and self.report is not None:
            from ftui.core.judge.postmortem import write_postmortem

            path = write_postmortem(run_dir, ws=self.ftui.ws)
        text = path.read_text(encoding="utf-8") if path.is_file() else None
        self.app.call_from_thread(self._show_postmortem, run_dir, text)

    def _show_postmortem(self, run_dir: Path, text: str | None) -> None:
        if text is None:
            self.notify(
                f"{run_dir.name} has no postmortem yet (it is written after the evaluation)", severity="warning"
            )
            return
        from ftui.tui.dialogs.markdown_view import MarkdownScreen

        self.app.push_screen(MarkdownScreen(f"Postmortem · {run_dir.name}", text))

    def action_ship(self) -> None:
        if self.run_dir is None:
            self.notify("No run to ship", severity="warning")
            return
        from ftui.tui.panes.ship.pane import ShipScreen

        self.app.push_screen(ShipScreen(self.ftui.ws, self.run_dir))

    def action_evaluate(self) -> None:
        if self.run_dir is None:
            self.notify("No run to evaluate", severity="warning")
            return
        self.plan_eval(self.run_dir)

    @work(thread=True, exclusive=True, exit_on_error=False, group="eval", description="Planning the evaluation")
    def plan_eval(self, run_dir: Path) -> None:
        # Checked and counted before anything starts: what would run, how many items, how long.
        plan = evalrun.plan_eval(self.ftui.ws, run_dir)
        evalrun.check_stack(plan)
        pace = evalrun.seconds_per_item(self.ftui.ws)
        self.app.call_from_thread(self._choose_items, run_dir, len(plan.items), pace)

    def _choose_items(self, run_dir: Path, n: int, pace: float | None) -> None:
        from ftui.tui.dialogs.pick import PickScreen

        def estimate(k: int) -> str:
            return f"about {duration(k * pace)} at the last evaluation's pace" if pace else "time unknown"

        choices = [(str(k), f"{k} items spread over the clusters · {estimate(k)}") for k in QUICK_LIMITS if k < n]
        choices.insert(0, ("all", f"all {n} items · {estimate(n)}"))

        def chosen(value: str | None) -> None:
            if value:
                self.start_eval(run_dir, None if value == "all" else int(value))

        self.app.push_screen(
            PickScreen(
                f"Evaluate {run_dir.name}: base vs fine-tuned on how many benchmark items?",
                choices,
                "Each item is answered twice (base and fine-tuned) and graded; it runs in the background.",
            ),
            chosen,
        )

    @work(thread=True, exit_on_error=False, group="eval-start", description="Starting the evaluation")
    def start_eval(self, run_dir: Path, limit: int | None = None) -> None:
        evalrun.start_eval(self.ftui.ws, run_dir, limit=limit)
        self.app.call_from_thread(self._eval_started, run_dir)

    def _eval_started(self, run_dir: Path) -> None:
        self.notify(f"evaluating {run_dir.name} in the background", title="Evaluation")
        self._watch(run_dir)

    def _watch(self, run_dir: Path) -> None:
        if self._eval_watch is not None:
            self._eval_watch.stop()
        self._eval_watch = JobWatch(
            self,
            lambda: evalrun.eval_state(run_dir),
            lambda st: self._eval_progress(run_dir, st),
            max(1.0, self.ftui.watch_interval),
        )

    def _eval_progress(self, run_dir: Path, st) -> None:
        banner = self.query_one("#cmp-banner", Static)
        if st.state == "running":
            banner.update(f"evaluating {run_dir.name}: {judge_texts.eval_progress(st)}")
            return
        if st.state == "finished":
            self.run_dir = run_dir
            self.find_reports()
        else:
            banner.update(f"evaluation {st.state}: {st.error or ''} {st.hint or ''}".strip())
            banner.set_classes("banner -stop")

    def action_forgetting(self) -> None:
        if self.run_dir is None:
            self.notify("No run to check", severity="warning")
            return
        self.start_forgetting(self.run_dir)

    @work(thread=True, exit_on_error=False, group="forgetting", description="Starting the forgetting check")
    def start_forgetting(self, run_dir: Path) -> None:
        try:
            forgetting.start(self.ftui.ws, run_dir)
        except Exception as exc:  # no tasks configured, no adapter, already running: one line
            self.app.call_from_thread(self.notify, str(exc), title="Forgetting check", severity="error")
            return
        self.app.call_from_thread(self._forgetting_started, run_dir)

    def _forgetting_started(self, run_dir: Path) -> None:
        self.notify(f"checking general tasks on {run_dir.name} in the background", title="Forgetting check")
        if self._fg_watch is not None:
            self._fg_watch.stop()
        self._fg_watch = JobWatch(
            self,
            lambda: forgetting.state(run_dir),
            lambda st: self._forgetting_progress(run_dir, st),
            max(1.0, self.ftui.watch_interval),
        )

    def _forgetting_progress(self, run_dir: Path, st) -> None:
        banner = self.query_one("#cmp-banner", Static)
        if st.state == "running":
            banner.update(f"checking general tasks on {run_dir.name}: {judge_texts.forgetting_progress(st)}")
            return
        if st.state == "finished":
            self.run_dir = run_dir
            self.find_reports()
        else:
            banner.update(judge_texts.forgetting_outcome(run_dir.name, st, forgetting.read_result(run_dir), "g"))
            banner.set_classes("banner -stop")

    def palette(self):
        yield from super().palette()
        for d in self.run_dirs:
            yield (f"Compare run {d.name}", "Show this run's report", lambda d=d: self._pick(d))

    def _pick(self, run_dir: Path) -> None:
        if run_dir != self.run_dir:
            # A filter belongs to the run it was set on: the next run opens on all of its items.
            self.bucket, self.cluster = "all", None
            self.vs, self.vs_dir = None, None
        self.run_dir = run_dir
        self.report = None
        self.find_reports()
