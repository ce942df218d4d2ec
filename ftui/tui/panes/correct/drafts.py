"""The Correct pane's drafting: start a teacher on the cluster, follow it, accept/edit/reject its drafts.

A waiting draft is loaded into the editor (unsaved) under a line with its grade, right below the
failed answer; `a` saves it as the correction, `e` edits it first (the saved text then counts as an
edited draft), `x` rejects it. Nothing here writes a correction the person did not ask for.
"""

from __future__ import annotations

from textual import work

from ftui.core.base import jobs
from ftui.core.base.formatting import clip, plural
from ftui.core.curate.drafts import (
    decisions as draft_decisions,
)
from ftui.core.curate.drafts import (
    job as draft_job,
)
from ftui.core.curate.drafts import (
    store as draft_store,
)
from ftui.core.curate.drafts import (
    teacher as draft_teacher,
)
from ftui.core.curate.drafts import (
    trust as draft_trust,
)
from ftui.tui.panes.job_watch import JobWatch


class DraftingMixin:
    """Mixed into CorrectPane; uses its `session`, `cluster`, `item`, `editor` and `_show`."""

    _draft_store: draft_store.DraftStore | None = None
    _draft_job = None  # the running job's folder, for this pane's cluster
    _draft_watch: JobWatch | None = None
    _draft_st: jobs.JobState | None = None  # its latest state
    _draft_seen = -1

    # -- reading ----------------------------------------------------------------------------
    @property
    def draft_store(self) -> draft_store.DraftStore:
        if self._draft_store is None:
            self._draft_store = draft_store.DraftStore(self.session.ws)
        return self._draft_store

    def draft(self, item_id: str):
        return self.draft_store.get(item_id) if self.session is not None else None

    def pending_draft(self):
        """The current item's draft when it still waits and the item has no correction yet."""
        item = self.item
        if item is None:
            return None
        d = self.draft(item.id)
        if d is None or not d.pending or self.session.correction(item.id) is not None:
            return None
        return d

    def draft_label(self) -> str | None:
        """The line above the editor while it holds an unsaved draft."""
        d = self.pending_draft()
        if d is None or self.editor.text != d.output:
            return None
        mark = f"⚠ passes but {d.flag}" if d.flag else "✔ passes" if d.passed else "✘ fails"
        # Keys first: at 80 columns the reason is what gets cut.
        return f"Draft {mark} · a accept · e edit · z reject · {d.grader}: {d.reason}"

    def draft_status(self) -> str:
        if self.cluster is None or self.session is None:
            return ""
        c = draft_decisions.cluster_counts(self.draft_store.all(), self.cluster)
        parts = []
        if self._draft_job is not None and self._draft_st is not None:
            st = self._draft_st
            parts.append(f"drafting {st.overall.get('done', 0)}/{st.overall.get('total', st.items or '?')}")
        if c["draft"]:
            parts.append(f"{c['draft']} drafts ({c['passing']} pass)")
        return " · ".join(parts)

    # -- starting and following a job ------------------------------------------------------
    def action_draft_cluster(self) -> None:
        if self.cluster is None:
            return
        if self._draft_job is not None:
            self.notify(f"{self.cluster.label} is being drafted: x stops it", title="Draft")
            return
        ws = self.session.ws
        settings = draft_teacher.prompt_settings(ws, self.cluster.label)
        teacher = settings.teacher_for(ws)
        plan = draft_job.plan_drafts(ws, self.cluster, teacher, settings)
        warning = draft_trust.teacher_warning(ws, teacher)
        summary = (
            (f"⚠ {warning}\n" if warning else "")
            + f"Teacher {teacher.name} · {len(plan.items)} items to draft · {len(plan.examples)} accepted "
            f"corrections as examples · placeholders {{instruction}} {{system}} {{user}} {{answer}} {{expected}}"
        )
        from ftui.tui.panes.correct.draft_prompt import DraftPromptScreen

        label = self.cluster.label
        self.app.push_screen(
            DraftPromptScreen(label, settings, summary), lambda s: self._draft_confirmed(label, teacher, s)
        )

    def _draft_confirmed(self, label: str, teacher, settings) -> None:
        if settings is None:
            return
        self._start_drafting(label, teacher, settings)

    @work(thread=True, exit_on_error=False, group="draft", description="Starting a drafting job")
    def _start_drafting(self, label: str, teacher, settings) -> None:
        ws = self.session.ws
        cluster = self.session.cluster(label)
        try:
            draft_teacher.save_prompt_settings(ws, label, settings)
            job_dir, plan = draft_job.start_drafting(ws, cluster, teacher, settings)
        except draft_store.DraftError as exc:
            self.app.call_from_thread(self.notify, str(exc), title="Draft", severity="error")
            return
        self.app.call_from_thread(self._follow_job, job_dir, f"drafting {len(plan.items)} items of {label}")

    def _follow_job(self, job_dir, message: str | None = None) -> None:
        self._draft_job = job_dir
        self._draft_st = None
        self._draft_seen = -1
        if message:
            self.notify(message, title="Draft")
        if self._draft_watch is not None:
            self._draft_watch.stop()
        self._draft_watch = JobWatch(
            self, lambda: jobs.job_state(job_dir), lambda st: self._draft_progress(job_dir, st)
        )
        self._update_status()

    def find_running_job(self) -> None:
        """On opening a cluster: follow a job that is already drafting it (started elsewhere, or before)."""
        self._draft_job = None
        if self._draft_watch is not None:
            self._draft_watch.stop()
        if self.cluster is None:
            return
        for j in draft_job.list_jobs(self.session.ws):
            if j["cluster"] == self.cluster.label and j["state"] == "running":
                self._follow_job(draft_job.find_job(self.session.ws, j["dir"]))
                return

    def _draft_progress(self, job_dir, st: jobs.JobState) -> None:
        if job_dir != self._draft_job:  # the pane moved on to another cluster
            return
        self._draft_st = st
        done = st.overall.get("done", 0)
        if done != self._draft_seen:
            self._draft_seen = done
            self.drafts_changed()
        if st.state != "running":
            self._draft_job = None
            text = f"{st.state}: {draft_job.progress_text(st.overall, st.items)}"
            if st.error:
                text += f" ({st.error})"
            self.notify(text, title="Draft", severity="error" if st.state in ("failed", "dead") else "information")
            self.drafts_changed()

    def action_cancel_draft(self) -> None:
        if self._draft_job is None:
            self.notify("No drafting job running for this cluster", title="Draft")
            return
        draft_job.stop_job(self._draft_job)
        self.notify("Stop requested: finished drafts are kept", title="Draft")

    def drafts_changed(self) -> None:
        """New drafts arrived or were decided: show the current item's afresh unless the person is typing."""
        if self.item is not None and not self.editor.has_focus and not self._dirty:
            self._show(self.index)
        else:
            self._update_status()

    # -- deciding --------------------------------------------------------------------------
    def action_accept_draft(self) -> None:
        d = self.pending_draft()
        if d is None:
            self.notify("This item has no draft waiting", title="Draft")
            return
        self._decide([d.id], "accept")

    def action_reject_draft(self) -> None:
        d = self.pending_draft()
        if d is None:
            self.notify("This item has no draft waiting", title="Draft")
            return
        self._decide([d.id], "reject")

    def action_accept_passing(self) -> None:
        if self.cluster is None:
            return
        passing = draft_decisions.passing_pending(self.session.ws, self.cluster)
        ids = [d.id for d in passing]
        if not ids:
            self.notify(f"No waiting draft in {self.cluster.label} passes its grader", title="Draft")
            return
        from ftui.tui.dialogs.confirm import ConfirmScreen

        c = draft_decisions.cluster_counts(self.draft_store.all(), self.cluster)
        question = f"Accept {len(ids)} drafts that pass the grader in {self.cluster.label}?"
        # What will be accepted, shown before the yes: each item and the start of its draft.
        shown = "\n".join(f"  {d.id}: {clip(' '.join(d.output.split()), 60)}" for d in passing[:8])
        more = f"\n  … and {len(ids) - 8} more" if len(ids) > 8 else ""
        detail = f"{shown}{more}\n{c['draft'] - len(ids)} waiting drafts fail their grader and stay for you to edit or reject."
        self.app.push_screen(ConfirmScreen(question, detail), lambda yes: yes and self._decide(ids, "accept"))

    @work(thread=True, exit_on_error=False, group="save", description="Deciding drafts")
    def _decide(self, ids: list[str], what: str) -> None:
        ws = self.session.ws
        try:
            with self._save_lock:
                done = (
                    draft_decisions.accept(ws, self.session.by_id, ids)
                    if what == "accept"
                    else draft_decisions.reject(ws, ids)
                )
        except draft_store.DraftError as exc:
            self.app.call_from_thread(self.notify, str(exc), title="Draft", severity="error")
            return
        self.session.refresh_status()
        self.app.call_from_thread(self._decided, len(done), what)

    def _decided(self, n: int, what: str) -> None:
        word = "accepted" if what == "accept" else "rejected"
        self.notify(f"{plural(n, 'draft')} {word}", title="Draft")
        self.ftui.corrections_changed("")
        self._show(self.index)

    def note_saved_text(self, item, text: str) -> None:
        """Called from the save worker: a person's own save of a drafted item marks the draft edited."""
        draft_decisions.mark_edited(self.session.ws, item.id, text)
