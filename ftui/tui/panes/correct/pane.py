"""Correct: write the output the model should have given, item by item, saved as you type."""

from __future__ import annotations

import threading
from collections import defaultdict

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.timer import Timer
from textual.widgets import Static, TextArea

from ftui.core.base.toolcalls import parse_calls
from ftui.core.curate import toolcall_edit
from ftui.core.workspace.prompts import tools_of
from ftui.tui import keymap
from ftui.tui.panes.base import Pane
from ftui.tui.panes.correct.drafts import DraftingMixin
from ftui.tui.panes.correct.tool_pick import ToolPickScreen
from ftui.tui.session import CORRECTED, PENDING, REVIEW, SKIPPED, Session, json_error, looks_like_json
from ftui.tui.widgets.item_view import item_content

# Quiet time after the last keystroke before the text is written to the store.
AUTOSAVE_DELAY = 0.8


class CorrectPane(DraftingMixin, Pane):
    PANE = "correct"
    CSS_PATH = "correct.tcss"
    HELP = """\
# Correct

Write the answer the model **should** have given for each failure of a cluster. These become the
training targets; the original answer becomes the *rejected* side of DPO pairs.

* **e** or **enter** starts editing; **esc** stops. Text is saved by itself a moment after you stop
  typing, and again when you leave the item — there is no save key to forget.
* **o** fills the editor with the original answer to edit from.
* **n** / **p** go to the next / previous item still to do; **]** / **[** to the next / previous item.
* **s** skips an item (it will not be trained on), **h** holds it for review (*needs review*),
  **u** undoes its correction (back to *to do*).
* **t** applies the editor's text as a **template** to every item of the cluster still to do, and
  asks you to accept or reject each result. Placeholders: `{question}`, `{answer}`, `{expected}`,
  `{id}`, `{label}`, and `{expected.FIELD}` for a field of a JSON expected answer.
* When the expected answer is JSON, the line above the editor says whether your text parses.
* When the request declares **tools**, the correction is a tool call: **T** picks the tool from the
  declared ones and fills in its arguments (the ones you typed are kept); the line above the editor
  checks the call against the tool's JSON schema as you type.

The status line counts corrected / skipped / review / to do in this cluster.

## Drafts from a teacher

* **d** drafts every item of the cluster still to do with a teacher: the workspace's model, with the
  cluster's accepted corrections as examples, or the endpoint last given to `ftui draft run`. It shows
  the teacher prompt (your instruction for the cluster and the template) to edit first; **ctrl+d**
  starts the job, which runs in the background (**x** stops it; finished drafts are kept).
* Each draft is graded with the grader that will judge the fine-tune. A waiting draft appears in the
  editor, unsaved, under a line with its grade: **a** accepts it, **e** edits it (saving your text
  accepts it as edited), **z** rejects it.
* **A** accepts every waiting draft of the cluster that passes its grader, after listing them.
* Only accepted drafts become corrections, and only corrections enter builds.
"""
    BINDINGS = keymap.bindings("correct")
    # Shown in the footer only while the editor has focus (the other keys then type text).
    EDITING_ACTIONS = {"stop_edit", "save_now"}

    def __init__(self) -> None:
        super().__init__()
        self.cluster = None
        self.index = 0
        self._loaded_text = ""
        self._timer: Timer | None = None
        self._dirty = False
        self._gen: dict[str, int] = defaultdict(int)
        self._save_lock = threading.Lock()
        self._save_state = ""
        self._start_text, self._start_status = "", PENDING
        self._template_source = None
        self._header_status = ""

    def compose(self) -> ComposeResult:
        yield from self.compose_bar()
        yield Static("Loading…", id="co-status", classes="status-line")
        with Horizontal(id="co-body"):
            with VerticalScroll(id="co-item-scroll"):
                yield Static(id="co-item")
            with Vertical(id="co-edit"):
                yield Static("", id="co-json")
                yield TextArea(id="editor", soft_wrap=True, show_line_numbers=False, tab_behavior="indent")
        yield from self.compose_footer()

    @property
    def editor(self) -> TextArea:
        return self.query_one("#editor", TextArea)

    @property
    def item(self):
        if self.cluster is None or not self.cluster.items:
            return None
        return self.cluster.items[self.index]

    # -- session / navigation --------------------------------------------------------------
    def on_session(self, session: Session) -> None:
        if self.ftui.correct_target is not None:
            self.take_target()
            return
        if self.cluster is not None:
            self.flush()
            fresh = session.cluster(self.cluster.label)
            if fresh is not None:
                current = self.item
                self.cluster = fresh
                ids = [it.id for it in fresh.items]
                self._show(ids.index(current.id) if current is not None and current.id in ids else 0)
                return
        # First visit: the largest cluster that still has work, else the largest.
        clusters = session.clusters
        target = next((c for c in clusters if session.progress(c).to_do), clusters[0] if clusters else None)
        if target is None:
            self.query_one("#co-status", Static).update("No model failures to correct in this run log.")
            self.query_one("#co-item", Static).update("")
            return
        self._open_cluster(target, None)

    def on_screen_resume(self) -> None:
        if self.ftui.correct_target is not None and self.session is not None:
            self.take_target()

    def take_target(self) -> None:
        label, item_id = self.ftui.correct_target or ("", None)
        self.ftui.correct_target = None
        cluster = self.session.cluster(label) if self.session else None
        if cluster is not None:
            self._open_cluster(cluster, item_id)

    def _open_cluster(self, cluster, item_id: str | None) -> None:
        self.flush()
        self.cluster = cluster
        index = 0
        ids = [it.id for it in cluster.items]
        if item_id in ids:
            index = ids.index(item_id)
        else:
            todo = self._first_todo()
            index = todo if todo is not None else 0
        self.find_running_job()
        self._show(index)

    def _show(self, index: int) -> None:
        if self.cluster is None or not self.cluster.items:
            return
        self.index = max(0, min(len(self.cluster.items) - 1, index))
        item = self.item
        corr = self.session.correction(item.id)
        draft = self.pending_draft()
        self._load_editor(corr.output if corr is not None else draft.output if draft is not None else "")
        # What the item was when shown: an edit undone back to it, on an item without a
        # correction, is no correction at all.
        self._start_text, self._start_status = self.editor.text, self.session.status(item.id)
        self._save_state = ""
        stale = corr is not None and corr.is_stale(item)
        self._render_item()
        self.query_one("#co-item-scroll", VerticalScroll).scroll_home(animate=False)
        if stale:
            self.notify(
                f"{item.id}: the run log's answer changed after this correction was written", severity="warning"
            )
        self._update_json()
        self._update_status()

    def _first_todo(self) -> int | None:
        for i, it in enumerate(self.cluster.items):
            if self.session.status(it.id) == PENDING:
                return i
        return None

    def _render_item(self) -> None:
        self._header_status = self.session.status(self.item.id)
        content = item_content(self.item, status=self._header_status, answers_first=True)
        self.query_one("#co-item", Static).update(content)

    # -- status ----------------------------------------------------------------------------
    def _update_status(self) -> None:
        if self.cluster is None or self.item is None:
            return
        p = self.session.progress(self.cluster)
        st = self.session.status(self.item.id)
        if st != self._header_status:
            self._render_item()  # the item's header names its status too
        word = "to do" if st == PENDING else st.replace("_", " ")
        text = (
            f"{self.cluster.label} {self.item.id} {self.index + 1}/{len(self.cluster.items)} {word} │ "
            f"{p.corrected} corrected · {p.skipped} skipped · {p.needs_review} review · {p.to_do} to do"
        )
        drafting = self.draft_status()
        if drafting:
            text += f" │ {drafting}"
        if self._save_state:
            text += f" │ {self._save_state}"
        self.query_one("#co-status", Static).update(text)

    def _update_json(self) -> None:
        label = self.query_one("#co-json", Static)
        item = self.item
        drafted = self.draft_label()
        if drafted is not None:
            label.update(drafted)
            label.set_classes("-ok" if self.pending_draft().passes else "-bad")
            return
        tools = tools_of(item) if item is not None else []
        if tools:
            ok, line = toolcall_edit.verdict(self.editor.text, tools)
            label.update(f"Correction · {line}")
            label.set_classes("" if ok is None else "-ok" if ok else "-bad")
            return
        if item is None or not looks_like_json(item.expected):
            label.update("Correction")
            label.set_classes("")
            return
        text = self.editor.text
        if not text.strip():
            label.update("Correction · JSON expected")
            label.set_classes("")
            return
        err = json_error(text)
        label.update("Correction · JSON ✔ valid" if err is None else f"Correction · JSON ✘ {err}")
        label.set_classes("-ok" if err is None else "-bad")

    # -- editing and autosave --------------------------------------------------------------
    def _load_editor(self, text: str) -> None:
        # TextArea.Changed arrives later as a message; comparing with the loaded text (rather
        # than a flag) is what tells a user's edit from a programmatic load.
        self._loaded_text = text
        self._dirty = False
        self.editor.load_text(text)

    @on(TextArea.Changed, "#editor")
    def _changed(self) -> None:
        self._update_json()
        if self.editor.text == self._loaded_text and not self._dirty:
            return
        self._dirty = True
        self._save_state = "editing…"
        self._update_status()
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(AUTOSAVE_DELAY, self.flush)

    def on_descendant_blur(self, event) -> None:
        self.refresh_bindings()
        if event.widget is self.query_one("#editor"):
            self.flush()

    def flush(self) -> None:
        """Write the editor's text for the current item if it changed since the last save."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        item = self.item
        if not self._dirty or item is None:
            return
        self._dirty = False
        text = self.editor.text
        self._loaded_text = text
        current = self.session.status(item.id)
        unchanged = self._start_status == PENDING and text == self._start_text
        if not text.strip() or unchanged or text.strip() == (item.answer or "").strip():
            why = "empty" if not text.strip() else "unchanged" if unchanged else "same as the original answer"
            if self._start_status == PENDING and current != PENDING:
                # Saved earlier in this edit, then undone: take the saved correction back.
                self._store(item, None, PENDING)
            self._save_state = f"{why}: not saved"
            self._update_status()
            return
        status = REVIEW if current == REVIEW else CORRECTED
        self._store(item, text, status)

    def _store(self, item, text: str | None, status: str) -> None:
        self._gen[item.id] += 1
        self._save_state = "saving…"
        self._update_status()
        self._save(item, text, status, self._gen[item.id])

    @work(thread=True, exit_on_error=False, group="save", description="Saving a correction")
    def _save(self, item, text: str | None, status: str, gen: int) -> None:
        with self._save_lock:
            if gen != self._gen[item.id]:
                # A newer save of this item exists; each save carries the whole state (text and
                # status), so only the newest may be written, whichever thread gets here first.
                return
            if status == PENDING:
                self.session.revert(item)
            elif status == SKIPPED:
                self.session.skip(item, text)
            elif status == REVIEW:
                self.session.mark_review(item, text)
            else:
                self.session.save(item, text)
                self.note_saved_text(item, text)
        self.app.call_from_thread(self._saved, item.id, status)

    def _saved(self, item_id: str, status: str) -> None:
        word = {CORRECTED: "saved", SKIPPED: "skipped", REVIEW: "marked for review", PENDING: "reverted"}[status]
        undone = status == PENDING and self._save_state.endswith("not saved")
        if self.item is not None and self.item.id == item_id and not undone:
            self._save_state = f"✔ {word}"
            self._update_status()
        self.ftui.corrections_changed(item_id)

    def corrections_changed(self, item_id: str) -> None:
        self._update_status()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action in ("pane", "help", "quit", "command_palette"):
            return True
        try:
            editing = self.editor.has_focus
        except NoMatches:  # not composed yet
            return True
        if action in self.EDITING_ACTIONS:
            return editing
        if action == "pick_tool":  # only offered where the request declares tools
            return not editing and self.item is not None and bool(tools_of(self.item))
        return not editing if action in {b.action.split("(")[0] for b in self._pane_bindings()} else True

    def on_descendant_focus(self, event) -> None:
        self.refresh_bindings()

    # -- actions ---------------------------------------------------------------------------
    def action_edit(self) -> None:
        if self.item is not None:
            self.editor.focus()

    def action_stop_edit(self) -> None:
        if self.editor.has_focus:
            self.flush()
            self.query_one("#co-item-scroll").focus()

    def action_save_now(self) -> None:
        self.flush()

    def action_next_todo(self) -> None:
        self._go_todo(1)

    def action_prev_todo(self) -> None:
        self._go_todo(-1)

    def _go_todo(self, step: int) -> None:
        if self.cluster is None:
            return
        self.flush()
        items = self.cluster.items
        n = len(items)
        for k in range(1, n):
            i = (self.index + step * k) % n
            if self.session.status(items[i].id) == PENDING:
                self._show(i)
                return
        self.notify(f"Nothing left to do in {self.cluster.label}", title="Cluster done")

    def action_step(self, step: int) -> None:
        if self.cluster is None:
            return
        self.flush()
        self._show((self.index + step) % len(self.cluster.items))

    def action_pick_tool(self) -> None:
        item = self.item
        tools = tools_of(item) if item is not None else []
        if not tools:
            self.notify("this request declares no tools", severity="warning")
            return
        calls = parse_calls(self.editor.text, lenient=True)
        current = calls[0]["name"] if calls else None

        def chosen(name: str | None) -> None:
            if name:
                self.editor.load_text(toolcall_edit.skeleton(name, tools, self.editor.text))
                self.editor.focus()

        self.app.push_screen(ToolPickScreen(tools, current), chosen)

    def action_prefill(self) -> None:
        item = self.item
        if item is None:
            return
        # Saved only once edited: the original answer is the failure, not a correction.
        self._load_editor(item.answer)
        self.editor.focus()

    def action_skip(self) -> None:
        item = self.item
        if item is None:
            return
        self._cancel_pending()
        self._store(item, self.editor.text, SKIPPED)
        self.session.set_status(item.id, SKIPPED)
        self._go_todo(1)

    def action_review(self) -> None:
        item = self.item
        if item is None:
            return
        self._cancel_pending()
        self._store(item, self.editor.text if self.editor.text.strip() else None, REVIEW)
        self.session.set_status(item.id, REVIEW)
        self._update_status()

    def action_revert(self) -> None:
        item = self.item
        if item is None:
            return
        self._cancel_pending()
        self._store(item, None, PENDING)
        self.session.set_status(item.id, PENDING)
        self._load_editor("")
        self._update_json()
        self._update_status()

    def _cancel_pending(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._dirty = False

    def action_template(self) -> None:
        if self.cluster is None:
            return
        template = self.editor.text
        if not template.strip():
            self.notify(
                "Write the template in the editor first: {expected}, {expected.FIELD}, {question}, {answer}, {id}",
                title="Template",
                severity="warning",
            )
            return
        # The editor held the template, not this item's answer: any autosave of it is undone, and
        # the item gets the filled-in text like the others.
        self._cancel_pending()
        current = self.item
        corr = self.session.correction(current.id) if current is not None else None
        holds_template = corr is not None and corr.output == template
        todo = [
            it
            for it in self.cluster.items
            if self.session.status(it.id) == PENDING or (holds_template and it.id == current.id)
        ]
        if not todo:
            self.notify(f"Nothing left to do in {self.cluster.label}", title="Template")
            return
        from ftui.tui.panes.correct.template import TemplateScreen

        self._template_source = current if holds_template else None
        self.app.push_screen(TemplateScreen(self.cluster.label, template, todo), self._template_done)

    def _template_done(self, accepted: list | None) -> None:
        source, self._template_source = self._template_source, None
        if not accepted and source is None:
            return
        self._save_many(accepted or [], source)

    @work(thread=True, exit_on_error=False, group="save", description="Saving template corrections")
    def _save_many(self, accepted: list, source) -> None:
        with self._save_lock:
            if source is not None and source.id not in {it.id for it, _ in accepted}:
                self.session.revert(source)
            for item, text in accepted:
                self.session.save(item, text)
        self.app.call_from_thread(self._many_saved, len(accepted))

    def _many_saved(self, n: int) -> None:
        self.notify(f"{n} correction{'s' if n != 1 else ''} saved from the template", title="Template")
        self.ftui.corrections_changed("")
        self._show(self.index)

    def palette(self):
        yield from super().palette()
        if self.session is not None:
            for c in self.session.clusters:
                yield (
                    f"Correct cluster {c.label}",
                    f"{c.count} items, {self.session.progress(c).to_do} to do",
                    lambda label=c.label: self.ftui.open_correct(label, None),
                )
