"""Every key of the workbench, as data: bindings, footers, help and the palette are built from here.

One letter means one verb in every pane (`x` always stops a job, `X` always exports, `a` always
accepts, `n` always goes to the next item), so a key learned in one pane works in the next.
Each key has an id (`pane.verb`); users remap keys by id in ~/.config/ftui/keys.yaml.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.binding import Binding


@dataclass(frozen=True)
class Key:
    id: str  # what a user remaps: "clusters.split"
    keys: str  # Textual key names, comma-separated: "S", "e,enter"
    action: str
    label: str  # the footer's word
    help: str  # one line for the help screen and the palette
    footer: bool = True  # False: in the help (?) and the palette only, which keeps footers in 80 columns
    priority: bool = False


K = Key
KEYMAP: dict[str, tuple[Key, ...]] = {
    "app": (
        K("pane.clusters", "1", "pane('clusters')", "Clusters", "Show the Clusters pane"),
        K("pane.correct", "2", "pane('correct')", "Correct", "Show the Correct pane"),
        K("pane.data", "3", "pane('data')", "Data", "Show the Data pane"),
        K("pane.train", "4", "pane('train')", "Train", "Show the Train pane"),
        K("pane.compare", "5", "pane('compare')", "Compare", "Show the Compare pane"),
        K("app.next_table", "tab", "app.focus_next", "Next table", "Move to the next table or box", footer=False),
        K("app.prev_table", "shift+tab", "app.focus_previous", "Prev table", "Move to the previous table", False),
        K("app.help", "question_mark", "help", "Help", "Help and every key of this pane"),
        K("app.quit", "q", "quit", "Quit", "Quit (runs keep going)"),
    ),
    "table": (
        K("table.up", "up,k", "cursor(-1)", "Up", "Previous row", footer=False),
        K("table.down", "down,j", "cursor(1)", "Down", "Next row", footer=False),
        K("table.page_up", "pageup", "page(-1)", "Page up", "One screen up", footer=False),
        K("table.page_down", "pagedown", "page(1)", "Page down", "One screen down", footer=False),
        K("table.first", "home", "first", "First", "First row", footer=False),
        K("table.last", "end", "last", "Last", "Last row", footer=False),
        K("table.select", "enter", "select", "Open", "Open the row", footer=False),
    ),
    "clusters": (
        K("clusters.correct", "c", "correct", "Correct", "Correct the selected item in the Correct pane"),
        K("clusters.discover", "D", "discover", "Discover", "Group unlabeled failures (or split a labeled cluster)"),
        K("clusters.rename", "r", "rename", "Rename", "Rename the selected cluster"),
        K("clusters.merge", "m", "merge", "Merge", "Merge the selected cluster into another (pick from a list)"),
        K("clusters.split", "S", "split", "Split", "Split the selected cluster in sub-clusters (asks first)", False),
        K("clusters.move", "M", "move", "Move", "Move the selected item to another cluster", footer=False),
        K("clusters.undo", "u", "undo", "Undo", "Undo the last rename, merge, split, move or discovery"),
        K("clusters.reload", "R", "reload", "Reload", "Read the run log and corrections again", footer=False),
        K("clusters.back", "escape", "back", "Back", "From the items back to the clusters", footer=False),
        K(
            "clusters.finer",
            "plus",
            "granularity(1)",
            "Finer",
            "Discover again with one more topic cluster (k+1)",
            False,
        ),
        K(
            "clusters.coarser",
            "minus",
            "granularity(-1)",
            "Coarser",
            "Discover again with one topic cluster fewer",
            False,
        ),
    ),
    "correct": (
        K("correct.edit", "e,enter", "edit", "Edit", "Edit the correction (esc to stop; it saves by itself)"),
        K("correct.done", "escape", "stop_edit", "Done", "Stop editing (saves)"),
        K("correct.next", "n", "next_todo", "Next", "Next item without a correction"),
        K("correct.prev", "p", "prev_todo", "Prev", "Previous item without a correction", footer=False),
        K("correct.step_next", "right_square_bracket", "step(1)", "Next item", "Next item, done or not", False),
        K("correct.step_prev", "left_square_bracket", "step(-1)", "Prev item", "Previous item, done or not", False),
        K("correct.prefill", "o", "prefill", "Orig", "Fill the editor with the original answer", footer=False),
        K("correct.skip", "s", "skip", "Skip", "Skip this item (not trained on)"),
        K("correct.review", "h", "review", "Hold", "Hold for review (marks the item as needs review)"),
        K("correct.revert", "u", "revert", "Undo", "Undo this item's correction (back to to do)", footer=False),
        K("correct.template", "t", "template", "Template", "Apply one template to the whole cluster", False),
        K("correct.save", "ctrl+s", "save_now", "Save", "Save now", footer=False, priority=True),
        K("correct.draft", "d", "draft_cluster", "Draft", "Draft this cluster with a teacher model"),
        K("correct.accept_draft", "a", "accept_draft", "Accept", "Accept this item's draft"),
        K("correct.reject_draft", "z", "reject_draft", "Reject", "Reject this item's draft", footer=False),
        K(
            "correct.accept_passing",
            "A",
            "accept_passing",
            "Accept all",
            "Accept the drafts that pass (shows them)",
            False,
        ),
        K("correct.cancel_draft", "x", "cancel_draft", "Stop", "Stop drafting", footer=False),
        K("correct.pick_tool", "T", "pick_tool", "Tool", "Correct as a tool call: pick the tool", footer=False),
    ),
    "data": (
        K("data.build", "b", "build", "Build", "Build the dataset from the corrections"),
        K("data.check", "K", "check", "Check", "Run the pre-flight check on the newest build"),
        K("data.export", "X", "export", "Export", "Export the build in another format"),
        K("data.all", "f", "every_finding", "Filter", "Filter the check's findings: every one, or grouped by kind"),
    ),
    "train": (
        K("train.new", "N", "new_run", "New run", "Open the run form (defaults from ftui.yaml)"),
        K("train.cancel", "x", "cancel_run", "Stop", "Stop the attached run (asks first; saves a checkpoint)"),
        K("train.resume", "U", "resume", "Resume", "Resume the attached run from its last checkpoint", False),
        K("train.log", "l", "toggle_log", "Log", "Show or hide the run's log beside the chart"),
        K("train.smooth", "tilde", "toggle_smoothing", "Smooth", "Smooth the train loss, or show it raw"),
        K("train.reload", "R", "refresh_runs", "Reload", "Read the list of runs again", footer=False),
    ),
    "compare": (
        K("compare.filter", "f", "next_filter", "Filter", "Cycle the bucket filter: all, fixed, regressed, …"),
        K("compare.cluster", "F", "next_cluster", "Cluster", "Cycle the cluster filter", footer=False),
        K("compare.postmortem", "w", "postmortem", "Postmortem", "Read the postmortem (write-up)"),
        K("compare.eval", "E", "evaluate", "Evaluate", "Evaluate the shown run (base vs fine-tuned)"),
        K("compare.ship", "X", "ship", "Export", "Export the run and check the export's answers"),
        K("compare.versus", "v", "versus", "Versus", "Set the next evaluated run beside this one", footer=False),
        K("compare.run_next", "right_square_bracket", "step_run(1)", "Next run", "Show the next run", False),
        K("compare.run_prev", "left_square_bracket", "step_run(-1)", "Prev run", "Show the previous run", False),
        K("compare.forgetting", "g", "forgetting", "General", "Check general tasks (forgetting)", footer=False),
    ),
    "ship": (
        K("ship.close", "escape", "close", "Close", "Back to Compare"),
        K("ship.export", "X", "export_menu", "Export", "Export the run: pick merged, adapter, GGUF or Ollama"),
        K("ship.parity", "P", "parity", "Parity", "Check the selected export again"),
    ),
    "template": (
        K("template.accept", "a", "decide(True)", "Accept", "Accept this result"),
        K("template.reject", "z", "decide(False)", "Reject", "Reject this result"),
        K("template.accept_rest", "A", "accept_rest", "Accept rest", "Accept this and every result left"),
        K("template.back", "p", "back", "Prev", "Go back to the previous result"),
        K("template.finish", "escape", "finish", "Finish", "Save what was accepted so far"),
    ),
}


def bindings(scope: str) -> list[Binding]:
    """The Textual bindings of `scope`, each with its id (remappable) and its help as tooltip."""
    return [
        Binding(k.keys, k.action, k.label, show=k.footer, id=k.id, tooltip=k.help, priority=k.priority)
        for k in KEYMAP[scope]
    ]


def all_ids() -> dict[str, Key]:
    return {k.id: k for keys in KEYMAP.values() for k in keys}


def scope_keys(scope: str) -> tuple[Key, ...]:
    return KEYMAP[scope]


# Key names users write, as Textual names them: "?" is question_mark, "[" left_square_bracket.
_NAMES = {
    "?": "question_mark",
    "[": "left_square_bracket",
    "]": "right_square_bracket",
    "~": "tilde",
    "+": "plus",
    "-": "minus",
    "/": "slash",
    " ": "space",
}
# And back, for footers, help and the palette.
_DISPLAY = {v: k for k, v in _NAMES.items() if k != " "} | {
    "escape": "esc",
    "enter": "enter",
    "space": "space",
    "pageup": "PgUp",
    "pagedown": "PgDn",
    "shift+tab": "shift+tab",
}


def display(keys: str) -> str:
    """`right_square_bracket` → `]`, `e,enter` → `e/enter`: what a person reads."""
    return "/".join(_DISPLAY.get(k.strip(), k.strip()) for k in keys.split(","))


def user_keymap_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ftui" / "keys.yaml"


class KeymapError(ValueError):
    """A keys.yaml that cannot be used: the one-line message names the file, the key and the nearest id."""


def load_user_keymap(path: Path | None = None) -> dict[str, str]:
    """The user's remapped keys by id ({} when there is no file); KeymapError names what is wrong."""
    import yaml

    path = path or user_keymap_path()
    if not path.is_file():
        return {}
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise KeymapError(f"{path}{line}: not YAML ({getattr(exc, 'problem', exc)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise KeymapError(f"{path}: expected `id: key` lines, e.g. `clusters.split: ctrl+s`")
    known = all_ids()
    out = {}
    for kid, keys in data.items():
        if str(kid) not in known:
            near = difflib.get_close_matches(str(kid), list(known), n=1, cutoff=0.5)
            hint = f"; nearest valid id: {near[0]}" if near else "; the ids are listed under Keys in the help (?)"
            raise KeymapError(f"{path}: {kid!r} is not a key id{hint}")
        if not isinstance(keys, str) or not keys.strip():
            raise KeymapError(f"{path}: {kid}: expected a key name such as `ctrl+s` or `S`, got {keys!r}")
        out[str(kid)] = ",".join(_NAMES.get(k.strip(), k.strip()) for k in keys.split(","))
    return out
