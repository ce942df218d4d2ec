"""Clusters: the model's own failures grouped by label, each cluster's items, one item in full."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Static

from ftui.core.formatting import pct
from ftui.core.progress import Progress
from ftui.tui.screens.base import Pane
from ftui.tui.session import CORRECTED, PENDING, REVIEW, SKIPPED, Session
from ftui.tui.widgets.item_view import ItemView
from ftui.tui.widgets.row_table import Column, RowTable

STATUS_MARK = {CORRECTED: "✔ corrected", SKIPPED: "⤼ skipped", REVIEW: "? review", PENDING: "· to do"}


class ClustersPane(Pane):
    PANE = "clusters"
    CSS_PATH = "clusters.tcss"
    HELP = """\
# Clusters

The model's own failures (retrieval found the evidence, the grade does not pass), grouped by
failure label, largest first. A **candidate** cluster has enough items to be worth fine-tuning.

* **Top table**: one row per cluster with its size, its share of all failures, the candidate
  flag, and how many of its items are corrected and how many are left.
* **Middle table**: the failures in the selected cluster and their correction status.
* **Bottom**: the selected item in full — question, evidence, original and expected answer.

Press **enter** on an item (or **c** anywhere) to correct it in the Correct pane.
Retrieval misses are counted apart: fine-tuning cannot fix the retriever.
"""
    BINDINGS = [
        Binding(
            "c", "correct", "Correct", id="clusters.correct", tooltip="Correct the selected item in the Correct pane"
        ),
        Binding(
            "tab",
            "focus_next",
            "Next table",
            id="clusters.next",
            tooltip="Move between the cluster and item tables",
            show=False,
        ),
        Binding("R", "reload", "Reload", id="clusters.reload", tooltip="Read the run log and corrections again"),
    ]

    def compose(self) -> ComposeResult:
        yield from self.compose_bar()
        yield Static("Loading the run log…", id="cl-summary")
        with Horizontal(id="cl-body"):
            with Vertical(id="cl-left"):
                yield RowTable(
                    [
                        Column("cluster", 0),
                        Column("n", 5, "right"),
                        Column("share", 6, "right"),
                        Column("cand", 4),
                        Column("done/left", 9, "right"),
                    ],
                    self._cluster_cells,
                    empty="no model failures",
                    id="cluster-table",
                )
                yield RowTable(
                    [Column("id", 6, fit=24), Column("status", 11), Column("question", 0)],
                    self._item_cells,
                    empty="select a cluster",
                    id="item-table",
                )
            with VerticalScroll(id="cl-detail"):
                yield ItemView(id="cl-item")
        yield from self.compose_footer()

    # -- data ------------------------------------------------------------------------------
    def _cluster_cells(self, c) -> list[str]:
        p = self.session.progress(c) if self.session else Progress()
        # Several runs: how often the cluster's answers failed (failed answers / answers).
        label = f"{c.label} ({c.failed_attempts}/{c.attempts} runs)" if c.attempts > c.count else c.label
        return [
            label,
            str(c.count),
            pct(c.share_of_failures, 0),
            "★" if c.candidate else "",
            f"{p.corrected}/{p.remaining}",
        ]

    def _item_cells(self, it) -> list[str]:
        st = self.session.status(it.id) if self.session else PENDING
        return [it.id, STATUS_MARK.get(st, st), it.question]

    def on_session(self, session: Session) -> None:
        r = session.report
        cands = sum(1 for c in r.clusters if c.candidate)
        text = (
            f"{r.total_items} items · {r.failures} model failures in {len(r.clusters)} clusters "
            f"({cands} candidate{'s' if cands != 1 else ''}) · {r.retrieval_misses} retrieval misses · {r.passing} passing"
        )
        if r.clusters and any(c.attempts > c.count for c in r.clusters):
            text += " · answered in several runs"
        if getattr(r, "retrieval_unknown", 0):
            text += f" · {r.retrieval_unknown} without retrieval info"
        if session.retrieval_note:
            text += f"\n{session.retrieval_note}"
        self.query_one("#cl-summary", Static).update(text)
        table = self.query_one("#cluster-table", RowTable)
        table.set_rows(session.clusters, keep=table.current)
        table.focus()

    def corrections_changed(self, item_id: str) -> None:
        self.query_one("#cluster-table", RowTable).refresh_rows()
        self.query_one("#item-table", RowTable).refresh_rows()
        self._show_item(self.query_one("#item-table", RowTable).current)

    @on(RowTable.Highlighted, "#cluster-table")
    def _cluster_highlighted(self, event: RowTable.Highlighted) -> None:
        self.query_one("#item-table", RowTable).set_rows(event.row.items)

    @on(RowTable.Highlighted, "#item-table")
    def _item_highlighted(self, event: RowTable.Highlighted) -> None:
        self._show_item(event.row)

    @on(RowTable.Selected, "#item-table")
    def _item_selected(self, event: RowTable.Selected) -> None:
        self.action_correct()

    @on(RowTable.Selected, "#cluster-table")
    def _cluster_selected(self, event: RowTable.Selected) -> None:
        self.query_one("#item-table", RowTable).focus()

    def _show_item(self, item) -> None:
        st = self.session.status(item.id) if (self.session and item is not None) else ""
        self.query_one("#cl-item", ItemView).show(item, status=st)

    # -- actions ---------------------------------------------------------------------------
    def action_correct(self) -> None:
        if self.session is None:
            return
        item = self.query_one("#item-table", RowTable).current
        cluster = self.query_one("#cluster-table", RowTable).current
        if cluster is None:
            self.notify("No cluster selected", severity="warning")
            return
        self.ftui.open_correct(cluster.label, item.id if item is not None else None)

    def action_reload(self) -> None:
        self.query_one("#cl-summary", Static).update("Reloading…")
        self.ftui.load_session()
