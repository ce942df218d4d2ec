"""Clusters: the model's own failures grouped by label, each cluster's items, one item in full."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Static

from ftui.core.base.formatting import pct
from ftui.core.curate.edits import describe_run
from ftui.core.curate.progress import Progress
from ftui.tui.dialogs.name_input import NameScreen
from ftui.tui.panes.base import Pane
from ftui.tui.session import CORRECTED, PENDING, REVIEW, SKIPPED, Session
from ftui.tui.widgets.item_view import ItemView
from ftui.tui.widgets.row_table import Column, RowTable

STATUS_MARK = {CORRECTED: "✔ corrected", SKIPPED: "⤼ skipped", REVIEW: "? review", PENDING: "· to do"}


class ClustersPane(Pane):
    _last_run: dict | None = None
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

## Discovered clusters

When the log has no failure labels, **D** groups the failures: a failure signature that decides a
grade on its own ("prose where JSON was expected", a refusal) makes a cluster of exactly the
failures that have it, and the rest are grouped by topic (the words of question, answer and
grader reason). **+** and **-** discover again with one topic cluster more or fewer; the summary
shows k and its stability (how much clusterings under different seeds agree, 0 to 1). On a
labeled cluster, **D** splits it into sub-clusters. Discovered
clusters end in an asterisk and their description shows above the items. Nothing is written to the
run log: the clusters live in the workspace's state folder.

The clusters are yours to change, and your changes survive a new discovery:
**n** renames the selected cluster, **m** merges it into another, **s** splits it,
**v** moves the selected item to another cluster (or a new one).
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
        Binding(
            "D",
            "discover",
            "Discover",
            id="clusters.discover",
            tooltip="Group unlabeled failures into clusters (or split the selected labeled cluster)",
        ),
        # Off the footer to keep it within 80 columns; in the help (?) and the palette (ctrl+p).
        Binding("n", "rename", "Rename", id="clusters.rename", tooltip="Rename the selected cluster", show=False),
        Binding(
            "m", "merge", "Merge", id="clusters.merge", tooltip="Merge the selected cluster into another", show=False
        ),
        Binding(
            "s",
            "split",
            "Split",
            id="clusters.split",
            tooltip="Split the selected cluster into sub-clusters",
            show=False,
        ),
        Binding(
            "v", "move", "Move", id="clusters.move", tooltip="Move the selected item to another cluster", show=False
        ),
        Binding(
            "plus",
            "granularity(1)",
            "Finer",
            id="clusters.finer",
            tooltip="Discover again with one more topic cluster (k+1); the stability figure shows beside k",
            show=False,
        ),
        Binding(
            "minus",
            "granularity(-1)",
            "Coarser",
            id="clusters.coarser",
            tooltip="Discover again with one topic cluster fewer (k-1)",
            show=False,
        ),
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
        label = f"{c.label} *" if getattr(c, "discovered", False) else c.label
        # Several runs: how often the cluster's answers failed (failed answers / answers).
        if c.attempts > c.count:
            label += f" ({c.failed_attempts}/{c.attempts} runs)"
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

    def _summary(self, session: Session, cluster=None) -> str:
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
        found = sum(1 for c in r.clusters if getattr(c, "discovered", False))
        if found:
            text += f"\n* {found} discovered (not from the log's labels)"
            if cluster is not None and getattr(cluster, "discovered", False) and cluster.description:
                text += f" · {cluster.label}: {cluster.description}"
            if self._last_run:
                text += f"\n{describe_run(self._last_run)} · + finer, - coarser"
        elif r.clusters and all(c.label == "unlabeled" for c in r.clusters):
            text += "\nNo failure labels in this log: D discovers the clusters."
        return text

    def on_session(self, session: Session) -> None:
        from ftui.core.curate.overlay import Overlay

        # The last discovery over unlabeled failures: its k and how sure it is, beside the key that changes k.
        self._last_run = Overlay.load(self.ftui.ws).runs.get("") or None
        self.query_one("#cl-summary", Static).update(self._summary(session))
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
        if self.session is not None:
            self.query_one("#cl-summary", Static).update(self._summary(self.session, event.row))

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
        cluster = self.query_one("#cluster-table", RowTable).current
        self.query_one("#cl-item", ItemView).show(item, status=st, cluster=cluster.label if cluster else None)

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

    # -- discovery and edits ---------------------------------------------------------------
    def _selected_cluster(self):
        cluster = self.query_one("#cluster-table", RowTable).current
        if self.session is None or cluster is None:
            self.notify("No cluster selected", severity="warning")
            return None
        return cluster

    def action_discover(self) -> None:
        if self.session is None:
            return
        cluster = self.query_one("#cluster-table", RowTable).current
        # On a labeled cluster D splits it; anywhere else it groups the failures with no label.
        within = None
        if cluster is not None and not getattr(cluster, "discovered", False) and cluster.label != "unlabeled":
            within = cluster.label
        self.query_one("#cl-summary", Static).update("Discovering clusters…")
        self.run_edit("discover", within=within)

    def action_granularity(self, step: int) -> None:
        if self.session is None:
            return
        run = self._last_run
        if not run or not run.get("topic_k"):
            self.notify("Discover first (D): k is the number of topic clusters", severity="warning")
            return
        k = max(1, int(run["topic_k"]) + step)
        self.query_one("#cl-summary", Static).update(f"Discovering {k} topic clusters…")
        self.run_edit("discover", k=k, seed=int(run.get("seed", 0)), view=str(run.get("view", "mixed")))

    def action_rename(self) -> None:
        cluster = self._selected_cluster()
        if cluster is None:
            return
        self.app.push_screen(
            NameScreen(f"Rename cluster {cluster.label} to:", cluster.label),
            lambda new: new and new != cluster.label and self.run_edit("rename", old=cluster.label, new=new),
        )

    def action_merge(self) -> None:
        cluster = self._selected_cluster()
        if cluster is None:
            return
        others = [c.label for c in self.session.clusters if c.label != cluster.label]
        if not others:
            self.notify("There is no other cluster to merge with", severity="warning")
            return
        self.app.push_screen(
            NameScreen(f"Merge {cluster.label} into cluster:", others[0], "clusters: " + ", ".join(others)),
            lambda into: into and self.run_edit("merge", names=[into, cluster.label], into=into),
        )

    def action_split(self) -> None:
        cluster = self._selected_cluster()
        if cluster is None:
            return
        self.query_one("#cl-summary", Static).update(f"Splitting {cluster.label}…")
        self.run_edit("split", name=cluster.label)

    def action_move(self) -> None:
        cluster = self._selected_cluster()
        item = self.query_one("#item-table", RowTable).current
        if cluster is None or item is None:
            if cluster is not None:
                self.notify("No item selected", severity="warning")
            return
        others = [c.label for c in self.session.clusters if c.label != cluster.label]
        self.app.push_screen(
            NameScreen(
                f"Move {item.id} to cluster (an existing one or a new name):",
                others[0] if others else "",
                "clusters: " + (", ".join(others) or "none"),
            ),
            lambda to: to and to != cluster.label and self.run_edit("move", ids=[item.id], to=to),
        )

    @work(thread=True, exclusive=True, exit_on_error=False, group="cluster-edit", description="Editing clusters")
    def run_edit(self, op: str, **kwargs) -> None:
        from ftui.core.curate import edits as cluster_edits

        ws = self.ftui.ws
        if op == "discover":
            res = cluster_edits.run_discovery(ws, **kwargs)
            where = f"in {kwargs['within']}" if kwargs.get("within") else "among unlabeled failures"
            msg = f"{len(res.names)} clusters discovered {where}: {describe_run(res.run)} ({res.run['seconds']:.1f} s)"
        elif op == "split":
            _, names = cluster_edits.split(ws, kwargs["name"])
            msg = f"{kwargs['name']} split into {len(names)}: {', '.join(names)}"
        else:
            getattr(cluster_edits, op)(ws, **kwargs)
            msg = {
                "rename": lambda: f"Renamed {kwargs.get('old')} to {kwargs.get('new')}",
                "merge": lambda: f"Merged into {kwargs.get('into')}",
                "move": lambda: f"Moved {', '.join(kwargs.get('ids') or [])} to {kwargs.get('to')}",
            }[op]()
        self.app.call_from_thread(self.notify, msg, title="Clusters")
        self.app.call_from_thread(self.ftui.load_session)
