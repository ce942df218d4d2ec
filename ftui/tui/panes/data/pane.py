"""Data: build the training set from the corrections and check it before any GPU time is spent."""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Static

from ftui.core.build import builder, checks, formats, freshness
from ftui.core.build import store as build_store
from ftui.core.build import texts as build_texts
from ftui.tui import keymap
from ftui.tui.messages import BuildReady
from ftui.tui.panes.base import Pane
from ftui.tui.session import Session
from ftui.tui.widgets.row_table import Column, RowTable

LEVEL_MARK = {"error": "✘ error", "warning": "! warning", "discarded": "– discarded"}


def histogram_text(tokens: dict | None, width: int = 14) -> str:
    if not tokens or not tokens.get("count"):
        return ""
    lines = [
        f"tokens: min {tokens['min']} · mean {tokens['mean']:.0f} · max {tokens['max']}",
        f"over max length {tokens['max_length']}: {len(tokens.get('truncated', []))}",
    ]
    peak = max(b["count"] for b in tokens["histogram"]) or 1
    for b in tokens["histogram"]:
        bar = "█" * round(width * b["count"] / peak)
        lines.append(f"{b['lo']:>5}-{b['hi']:<5}{b['count']:>5} {bar}")
    return "\n".join(lines)


def counts_text(build) -> str:
    return "\n".join(build_texts.counts_lines(build.manifest))


def _short(where: str) -> str:
    return where.rsplit("/", 1)[-1]


def finding_rows(findings: list[checks.Finding], every_finding: bool = False) -> list[tuple]:
    """(level, kind, where, message, detail line) per finding, or per group of repeats, as `ftui check`."""
    if every_finding:
        return [(f.level, f.kind, _short(f.where), f.message, f"{_short(f.where)}: {f.message}") for f in findings]
    rows = []
    for g in checks.group_findings(findings):
        first = g.findings[0]
        if g.count == 1:
            rows.append(
                (g.level, g.kind, _short(first.where), first.message, f"{_short(first.where)}: {first.message}")
            )
        else:
            detail = f"×{g.count}: {g.message} — {g.places()} (f: every finding)"
            rows.append((g.level, g.kind, _short(first.where), f"×{g.count} {g.message}", detail))
    return rows


def discarded(build) -> list[checks.Finding]:
    """The build's left-out items, listed with the check's findings and grouped like them."""
    return [
        checks.Finding("discarded", d.get("reason", ""), d.get("id", ""), "not in training")
        for d in build.manifest.get("discarded", [])
    ]


class DataPane(Pane):
    PANE = "data"
    CSS_PATH = "data.tcss"
    HELP = """\
# Data

Turns the corrections into a training set and checks it before training.

* **b** builds: every *corrected* item becomes an SFT example (and a DPO pair: chosen = your
  correction, rejected = the original answer); passing items are added as **anchors** so the
  fine-tune keeps what already works; a held-out split is kept apart for eval loss. Skipped,
  needs-review and uncorrected items are discarded with the reason.
* The pre-flight check runs after each build: token counts with the model's own tokenizer and
  chat template (min / mean / max, histogram, examples over the max length that would be
  truncated), quality checks, exact and near duplicates, and leakage into held-out or benchmark
  items. Errors block nothing here but will hurt training: fix them first.
* A finding that repeats (the same level and kind) is one row with its count and first places;
  **f** lists every finding, and again groups them.
* **K** checks the newest build again. **X** exports it (OpenAI, TRL, LLaMA-Factory formats).
"""
    BINDINGS = keymap.bindings("data")

    def __init__(self) -> None:
        super().__init__()
        self.build = None
        self.report: checks.CheckReport | None = None
        self.every_finding = False

    def compose(self) -> ComposeResult:
        yield from self.compose_bar()
        yield Static(
            "No build yet: press b to build the dataset from the corrections.", id="dt-status", classes="status-line"
        )
        with Horizontal(id="dt-top"):
            with VerticalScroll(id="dt-counts-box"):
                yield Static("", id="dt-counts")
            with VerticalScroll(id="dt-hist-box"):
                yield Static("", id="dt-hist")
        yield RowTable(
            [Column("level", 11), Column("kind", 16), Column("where", 8, fit=24), Column("message", 0)],
            lambda f: [LEVEL_MARK.get(f[0], f[0]), f[1], f[2], f[3]],
            empty="no findings",
            id="dt-findings",
        )
        yield Static("", id="dt-finding", classes="muted")
        yield from self.compose_footer()

    @on(RowTable.Highlighted, "#dt-findings")
    def _finding(self, event: RowTable.Highlighted) -> None:
        self.query_one("#dt-finding", Static).update(event.row[4])

    def on_session(self, session: Session) -> None:
        self.load_latest()

    def corrections_changed(self, item_id: str) -> None:
        # A correction written in another pane makes the shown build stale: say so at once.
        if self.build is not None and self.report is not None:
            self.refresh_stale(self.build)

    @work(
        thread=True, exclusive=True, exit_on_error=False, group="stale", description="Comparing build and corrections"
    )
    def refresh_stale(self, build) -> None:
        stale = freshness.stale_text(self.ftui.ws, build)
        if self.report is not None:
            self.app.call_from_thread(self._show_report, build, self.report, "", stale)

    @work(thread=True, exclusive=True, exit_on_error=False, group="data", description="Reading the newest build")
    def load_latest(self) -> None:
        builds = build_store.list_builds(self.ftui.ws)
        if builds:
            self.app.call_from_thread(self._show_build, builds[0], f"build {builds[0].id}: checking…")
            self._check(builds[0])

    # -- build and check -------------------------------------------------------------------
    def action_build(self) -> None:
        self.query_one("#dt-status", Static).update("Building…")
        self.run_build()

    @work(thread=True, exclusive=True, exit_on_error=False, group="data", description="Building the dataset")
    def run_build(self) -> None:
        build = builder.build(self.ftui.ws)
        self.app.call_from_thread(self._show_build, build, "Checking…", True)
        self._check(build)

    def action_check(self) -> None:
        if self.build is None:
            self.notify("Build first (b)", severity="warning")
            return
        self.query_one("#dt-status", Static).update(f"Checking build {self.build.id}…")
        self.run_check(self.build)

    @work(thread=True, exclusive=True, exit_on_error=False, group="data", description="Checking the dataset")
    def run_check(self, build) -> None:
        self._check(build)

    def _check(self, build) -> None:
        from ftui.core.base.tokens import TokenizerError, load_for_model

        note = ""
        try:
            # No conversion from here: it would start a model conversion behind the user's back.
            tokenizer = load_for_model(self.ftui.ws.model, say=lambda s: None, prepare=False)
        except TokenizerError as exc:
            tokenizer = None
            note = f"token counts skipped: {exc} (`ftui check {build.id}` prepares it)"
        report = checks.check_build(
            build,
            self.ftui.ws,
            tokenizer=tokenizer,
            model=self.ftui.ws.model,
            label=f"{build.id}/{build.train_path.name}",
        )
        stale = freshness.stale_text(self.ftui.ws, build)
        self.app.call_from_thread(self._show_report, build, report, note, stale)

    def _show_build(self, build, status: str | None, fresh: bool = False) -> None:
        self.build = build
        self.query_one("#dt-status", Static).update(status or build.summary_line())
        self.query_one("#dt-counts", Static).update(counts_text(build))
        self.query_one("#dt-findings", RowTable).set_rows(finding_rows(discarded(build), self.every_finding))
        if fresh:
            self.post_message_to_train(build.id)

    def post_message_to_train(self, build_id: str) -> None:
        pane = self.ftui.panes.get("train")
        if pane is not None:
            pane.post_message(BuildReady(build_id))

    def _show_report(self, build, report: checks.CheckReport, note: str, stale: str = "") -> None:
        self.report = report
        verdict = "✔ no errors" if report.ok else f"✘ {len(report.errors)} errors"
        text = f"{build.summary_line()} │ check: {verdict}, {len(report.warnings)} warnings"
        self.query_one("#dt-status", Static).update(f"{stale} · b rebuilds\n{text}" if stale else text)
        hist = histogram_text(report.tokens)
        self.query_one("#dt-hist", Static).update(hist or note or "no token statistics")
        self._show_findings()

    def _show_findings(self) -> None:
        if self.build is None:
            return
        found = self.report.findings if self.report is not None else []
        rows = finding_rows(found, self.every_finding) + finding_rows(discarded(self.build), self.every_finding)
        self.query_one("#dt-findings", RowTable).set_rows(rows)

    def action_every_finding(self) -> None:
        self.every_finding = not self.every_finding
        self._show_findings()
        self.notify("every finding listed" if self.every_finding else "repeated findings grouped by kind")

    # -- export ----------------------------------------------------------------------------
    def action_export(self) -> None:
        if self.build is None:
            self.notify("Build first (b)", severity="warning")
            return
        from ftui.tui.panes.data.export import ExportScreen

        self.app.push_screen(ExportScreen(list(formats.FORMATS.items())), self._export_chosen)

    def _export_chosen(self, fmt: str | None) -> None:
        if fmt:
            self.run_export(self.build, fmt)

    @work(thread=True, exit_on_error=False, group="export", description="Exporting the dataset")
    def run_export(self, build, fmt: str) -> None:
        kind = formats.kind_of(fmt)
        out_dir = Path(self.ftui.ws.state.root) / "exports" / build.id / fmt
        written: list[Path] = []
        total = 0
        for split in ("train", "eval"):
            name = ("dpo_" if kind == formats.PREFERENCE else "") + split
            rows = build.rows(name)
            if rows:
                written += formats.write(rows, out_dir / f"{split}.jsonl", fmt)
                total += len(rows)
        self.app.call_from_thread(self.notify, f"{total} rows → {out_dir}", title=f"Exported as {fmt}", timeout=15)
