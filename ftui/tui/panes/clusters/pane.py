"""Clusters: the model's own failures grouped by label, each cluster's items, one item in full."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Static

from ftui.core.base.formatting import pct
from ftui.core.curate.edits import describe_run
from ftui.core.curate.progress import Progress
from ftui.tui import keymap
from ftui.tui.dialogs.confirm import ConfirmScreen
from ftui.tui.dialogs.name_input import NameScreen
from ftui.tui.dialogs.pick import PickScreen
from ftui.tui.panes.base import Pane
from ftui.tui.session import CORRECTED, PENDING, REVIEW, SKIPPED, Session
from ftui.tui.widgets.item_view import ItemView
from ftui.tui.widgets.row_table import Column, RowTable

# The pick list's last choice when moving an item: a cluster that does not exist yet.
NEW_CLUSTER = "\x00new"
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
**r** renames the selected cluster, **m** merges it into another (picked from a list), **S**
splits it (after asking), **M** moves the selected item to another cluster. **u** undoes the last
of these (and a discovery), one at a time. The cursor stays on the cluster you changed.

**tab** moves between the two tables; **j**/**k** (or the arrows) move in a table.
"""
    BINDINGS = keymap.bindings("clusters")

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

    _keep_label: str | None = None
    _keep_item: str | None = None

    def on_session(self, session: Session) -> None:
        from ftui.core.curate.overlay import Overlay

        # The last discovery over unlabeled failures: its k and how sure it is, beside the key that changes k.
        self._last_run = Overlay.load(self.ftui.ws).runs.get("") or None
        self.query_one("#cl-summary", Static).update(self._summary(session))
        table = self.query_one("#cluster-table", RowTable)
        items = self.query_one("#item-table", RowTable)
        # After an edit the cursor stays on the cluster (and item) it was on, by name: the
        # reloaded clusters are new objects with new counts.
        label = self._keep_label or (table.current.label if table.current is not None else None)
        item_id = self._keep_item or (items.current.id if items.current is not None else None)
        items_had_focus = items.has_focus
        self._keep_label = self._keep_item = None
        if label and label.endswith("/"):  # after a split: its first part
            label = next((c.label for c in session.clusters if c.label.startswith(label)), label)
        table.set_rows(session.clusters, keep=label, key=lambda c: c.label)
        if table.current is not None:
            items.set_rows(table.current.items, keep=item_id, key=lambda it: it.id)
        (items if items_had_focus else table).focus()

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

    def action_back(self) -> None:
        self.query_one("#cluster-table", RowTable).focus()

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

        def renamed(new: str | None) -> None:
            if new and new != cluster.label:
                self._keep_label = new
                self.run_edit("rename", old=cluster.label, new=new)

        self.app.push_screen(NameScreen(f"Rename cluster {cluster.label} to:", cluster.label), renamed)

    def _other_clusters(self, cluster) -> list[tuple[str, str]]:
        return [(c.label, f"{c.label}  ({c.count} items)") for c in self.session.clusters if c.label != cluster.label]

    def action_merge(self) -> None:
        cluster = self._selected_cluster()
        if cluster is None:
            return
        others = self._other_clusters(cluster)
        if not others:
            self.notify("There is no other cluster to merge with", severity="warning")
            return

        def merged(into: str | None) -> None:
            if into:
                self._keep_label = into
                self.run_edit("merge", names=[into, cluster.label], into=into)

        self.app.push_screen(
            PickScreen(f"Merge {cluster.label} ({cluster.count} items) into:", others, "u undoes it"), merged
        )

    def action_split(self) -> None:
        cluster = self._selected_cluster()
        if cluster is None:
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.query_one("#cl-summary", Static).update(f"Splitting {cluster.label}…")
                self._keep_label = f"{cluster.label}/"  # the first part, matched by prefix below
                self.run_edit("split", name=cluster.label)

        self.app.push_screen(
            ConfirmScreen(
                f"Split {cluster.label} ({cluster.count} items) into sub-clusters?",
                "Its items are grouped by how they failed; u undoes it.",
            ),
            confirmed,
        )

    def action_move(self) -> None:
        cluster = self._selected_cluster()
        item = self.query_one("#item-table", RowTable).current
        if cluster is None or item is None:
            if cluster is not None:
                self.notify("No item selected", severity="warning")
            return
        choices = [*self._other_clusters(cluster), (NEW_CLUSTER, "a new cluster…")]

        def moved(to: str | None) -> None:
            if to == NEW_CLUSTER:
                self.app.push_screen(NameScreen(f"Move {item.id} to a new cluster named:", ""), moved)
            elif to and to != cluster.label:
                self._keep_label = cluster.label
                self.run_edit("move", ids=[item.id], to=to)

        self.app.push_screen(PickScreen(f"Move {item.id} from {cluster.label} to:", choices, "u undoes it"), moved)

    def action_undo(self) -> None:
        if self.session is None:
            return
        cluster = self.query_one("#cluster-table", RowTable).current
        self._keep_label = cluster.label if cluster is not None else None
        self.run_edit("undo")

    @work(thread=True, exclusive=True, exit_on_error=False, group="cluster-edit", description="Editing clusters")
    def run_edit(self, op: str, **kwargs) -> None:
        from ftui.core.curate import edits as cluster_edits

        ws = self.ftui.ws
        if op == "discover":
            res = cluster_edits.run_discovery(ws, **kwargs)
            where = f"in {kwargs['within']}" if kwargs.get("within") else "among unlabeled failures"
            msg = f"{len(res.names)} clusters discovered {where}: {describe_run(res.run)} ({res.run['seconds']:.1f} s)"
        elif op == "undo":
            cluster_edits.undo(ws)
            msg = "The last cluster edit is undone"
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
