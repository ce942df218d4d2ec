"""Compare: base vs fine-tuned per benchmark item, what got fixed, what broke, and the verdict."""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from ftui.core.base.formatting import MISSING, pct, pts
from ftui.core.judge import compare, evalrun, forgetting, side_by_side
from ftui.core.judge import texts as judge_texts
from ftui.core.runs import runs
from ftui.tui.panes.base import Pane
from ftui.tui.panes.job_watch import JobWatch
from ftui.tui.widgets.row_table import Column, RowTable
from ftui.tui.widgets.word_diff import WordDiff

BUCKET_FILTERS = ("all", "fixed", "regressed", "still_failing", "still_passing")
BUCKET_MARK = {
    "fixed": "✔ fixed",
    "regressed": "✘ regressed",
    "still_failing": "· still failing",
    "still_passing": "= still passing",
}
VERDICT_WORD = {
    "ship": "SHIP",
    "investigate": "INVESTIGATE",
    "data_quality": "DATA QUALITY",
    "stop": "STOP",
    "inconclusive": "INCONCLUSIVE",
    "not_needed": "FINE-TUNING NOT NEEDED",
}


METRIC_COLUMNS = (
    Column("cluster", 0),
    Column("n", 4, "right"),
    Column("base → tuned", 13, "right"),
    Column("change", 8, "right"),
    Column("fix", 4, "right"),
    Column("reg", 4, "right"),
    Column("p", 6, "right"),
)
# Under 120 columns, with the forgetting table beside it, the benchmark's table keeps its first four
# (the fix/reg counts are the bucket filters' and the cluster's p is in the banner).
WIDE = 120


def metric_rows(report: dict) -> list[tuple[str, dict]]:
    """Targeted cluster, the rest, then each cluster of the benchmark (from the per-item grades)."""
    rows = []
    target = report.get("targeted_cluster")
    if report.get("targeted"):
        rows.append((f"▶ {target or 'targeted'}", report["targeted"]))
    fewshot = report.get("fewshot")
    if fewshot and fewshot.get("targeted", {}).get("total"):
        # The prompt rung on the same items: base → base with the cluster's corrections in the prompt.
        rows.append((f"  ↳ few-shot ×{fewshot.get('k')} (base)", fewshot["targeted"]))
    if report.get("rest"):
        rows.append(("rest of benchmark", report["rest"]))
    by_cluster: dict[str, list] = {}
    for it in report.get("items", []):
        by_cluster.setdefault(it.get("cluster") or "—", []).append(it)
    for name in sorted(by_cluster, key=lambda n: (-len(by_cluster[n]), n)):
        if name == target:
            continue
        rows.append((f"  {name}", compare.rates(by_cluster[name])))
    return rows


def metric_cells(row: tuple[str, dict]) -> list[str]:
    name, m = row
    b = m.get("buckets", {})
    return [
        name,
        str(m.get("total", 0)),
        f"{pct(m.get('base_rate'), 0)} → {pct(m.get('tuned_rate'), 0)}",
        pts(m.get("change"), 0),
        str(b.get("fixed", 0)),
        str(b.get("regressed", 0)),
        MISSING if m.get("mcnemar_p") is None else p_text(m["mcnemar_p"]),
    ]


def interval_cell(m: dict) -> str:
    """The cluster's change with its 95% interval, in one short line for the banner."""
    if "ci" not in m or not m.get("total"):
        return ""
    lo, hi = (round(100 * x) + 0 for x in m["ci"])
    mdc = m.get("detectable_change")
    text = f"cluster {pts(m['change'], 0)} (95% CI {lo:+d} to {hi:+d}) · mid-p {p_text(m['mid_p'])}"
    return text + (f" · {m['total']} items detect ≥{mdc * 100:.0f} pts" if mdc is not None else " · too few items")


def forgetting_cells(row: dict) -> list[str]:
    """A general task of the forgetting check: base → tuned, and its change (✘ past eval.forgetting.max_drop)."""

    def share(x: float | None) -> str:
        return MISSING if x is None else f"{100 * x:.0f}"

    change = row.get("change")
    return [
        row["task"],
        f"{share(row.get('base'))}→{share(row.get('tuned'))}",
        (MISSING if change is None else f"{100 * change:+.0f}") + ("✘" if row.get("flagged") else ""),
    ]


def forgetting_of(report: dict | None, run_dir: Path | None) -> dict | None:
    """The forgetting table of a run: from its report, or from the check alone when not evaluated yet."""
    if report and report.get("forgetting"):
        return report["forgetting"]
    result = forgetting.read_result(run_dir) if run_dir is not None else None
    return forgetting.summary(result) if result else None


def p_text(p: float) -> str:
    # Six cells wide: small p-values keep their exponent, which is what a reader compares.
    return f"{p:.2g}" if p >= 1e-3 else f"{p:.0e}".replace("e-0", "e-")


class ComparePane(Pane):
    PANE = "compare"
    CSS_PATH = "compare.tcss"
    HELP = """\
# Compare

The benchmark answered twice — by the base model and by the fine-tuned one — and graded the same
way. Each item falls in a bucket: **fixed** (base failed, tuned passes), **regressed** (base passed,
tuned fails), **still failing**, **still passing**.

* The banner is the verdict: *ship* (improved, nothing broke), *investigate* (improved, some
  regressions), *data quality* (no improvement, nothing broke), *stop*, or *inconclusive* (improved,
  but the 95% interval of the cluster's change still holds zero). Below it: that interval
  (Newcombe's paired method), the mid-p McNemar p-value and the smallest change the cluster's
  number of items could show.
* The table gives pass rates base → fine-tuned for the targeted cluster, the rest of the benchmark
  and each cluster, with fixed/regressed counts and the exact McNemar p-value.
* A regression marked *~flaky* is an item whose base pass did not hold when re-asked with
  sampling (`eval.flaky_k`); it counts, and `eval.gate_ignores_flaky` lets the gate pass it.
* With `eval.fewshot_k`, the row under the cluster is the prompt rung: the base model given that
  many of the cluster's corrections as examples. When it fixes the cluster as well and breaks
  nothing, the verdict is *fine-tuning not needed*.
* Filters: **a** all, **f** fixed, **r** regressed, **s** still failing, **p** still passing;
  **c** cycles through clusters.
* The two boxes show the selected item's answers with the words that differ highlighted, and each
  side's grade with its reason.
* **x** ships the run: export it (merged, adapter, GGUF, Ollama) and see, item by item, whether
  the export answers like the model judged here.
* **v** sets another evaluated run's report beside this one: each item's bucket here and there
  (✔ fixed, ✘ regressed, · still failing, = still passing) and which run fixed or broke what;
  **v** again moves to the next run, then back to this run alone (`ftui report RUN --vs OTHER`).
* **g** runs the forgetting check (`eval.forgetting`) in the background: general tasks through
  lm-evaluation-harness, base vs fine-tuned, with progress in the banner. Its table sits beside
  the benchmark's: per task base → tuned and the change, ✘ when it dropped by more than
  `eval.forgetting.max_drop` (the verdict then says so). Base results are cached per model and
  task, the tuned ones per adapter, so a second **g** only measures what is missing.
* **w** opens the postmortem (Markdown). **o** switches to another run's report; **e** starts
  the evaluation of the selected run when it has none.
"""
    BINDINGS = [
        Binding("a", "filter('all')", "All", id="compare.all", tooltip="Show every item"),
        Binding("f", "filter('fixed')", "Fixed", id="compare.fixed", tooltip="Items the fine-tune fixed"),
        Binding("r", "filter('regressed')", "Regr", id="compare.regressed", tooltip="Items the fine-tune broke"),
        Binding("s", "filter('still_failing')", "Fail", id="compare.failing", tooltip="Items still failing"),
        Binding(
            "p", "filter('still_passing')", "Passing", id="compare.passing", tooltip="Items still passing", show=False
        ),
        Binding("c", "next_cluster", "Cluster", id="compare.cluster", tooltip="Cycle the cluster filter"),
        Binding("w", "postmortem", "Postmortem", id="compare.postmortem", tooltip="Read the postmortem"),
        Binding(
            "v",
            "versus",
            "Versus",
            id="compare.versus",
            tooltip="Set the next evaluated run beside this one, item by item (again: the one after; then off)",
            show=False,
        ),
        Binding(
            "o", "next_run", "Other run", id="compare.run", tooltip="Show the next run that has a report", show=False
        ),
        Binding(
            "x", "ship", "Ship", id="compare.ship", tooltip="Export the run and check the export's answers", show=False
        ),
        Binding(
            "g",
            "forgetting",
            "General",
            id="compare.forgetting",
            tooltip="Check general tasks base vs fine-tuned (forgetting, lm-evaluation-harness)",
            show=False,
        ),
        Binding(
            "e",
            "evaluate",
            "Evaluate",
            id="compare.eval",
            tooltip="Evaluate the shown run (base vs fine-tuned)",
            show=False,
        ),
    ]

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
        self.app.call_from_thread(self._loaded, dirs, target, report, error, fg)

    def _loaded(
        self, dirs: list, target: Path | None, report: dict | None, error: str | None, fg: dict | None = None
    ) -> None:
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
        if report is None:
            banner.update(f"{target.name} has no evaluation yet: press e to evaluate it (base vs fine-tuned).")
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
            "   (a f r s p: bucket · c: cluster)"
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
    def action_next_run(self) -> None:
        if not self.run_dirs:
            self.notify("No runs yet", severity="warning")
            return
        i = self.run_dirs.index(self.run_dir) if self.run_dir in self.run_dirs else -1
        self.run_dir = self.run_dirs[(i + 1) % len(self.run_dirs)]
        self.report = None
        self.find_reports()

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
        self.start_eval(self.run_dir)

    @work(thread=True, exit_on_error=False, group="eval", description="Starting the evaluation")
    def start_eval(self, run_dir: Path) -> None:
        evalrun.start_eval(self.ftui.ws, run_dir)
        self.app.call_from_thread(self._eval_started, run_dir)

    def _eval_started(self, run_dir: Path) -> None:
        self.notify(f"evaluating {run_dir.name} in the background", title="Evaluation")
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
        self.run_dir = run_dir
        self.report = None
        self.find_reports()
