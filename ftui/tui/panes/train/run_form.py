"""The training form: the workspace's defaults filled in, checked before anything starts."""

from __future__ import annotations

import dataclasses

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Checkbox, Input, Label, Static

from ftui.core.workspace.workspace import TRAIN_METHODS, SettingError, TrainConfig, Workspace

# (field, label, kind) — kind: text | int | float | optfloat | optint (blank: unset). The form only
# reads the text; what a value may be is the train section's rule (TrainConfig), checked through it.
FIELDS = (
    ("model", "Model", "text"),
    ("lora_r", "LoRA rank", "int"),
    ("lora_alpha", "LoRA alpha", "int"),
    ("learning_rate", "Learning rate", "float"),
    ("max_steps", "Max steps", "int"),
    ("epochs", "Epochs (blank: steps)", "optfloat"),
    ("eval_steps", "Eval every (steps)", "int"),
    ("patience", "Early-stop patience", "int"),
    ("anchor_kl", "Anchor KL (0 off)", "float"),
    ("rpo_alpha", "RPO alpha (DPO; 0 off)", "float"),
    ("probes", "Probes (items; 0 off)", "int"),
    ("select_by", "Best by eval_loss/probes", "text"),
    ("stop_broken_anchors", "Stop at N broken (0 off)", "int"),
    ("processes", "Processes (0: auto)", "optint"),
)
SELECT_BY = ["eval_loss", "probes"]


TARGETS = ("local", "hosted")


def parse_form(
    values: dict[str, str], method: str, qlora: bool, base: TrainConfig | None = None, target: str = "local"
) -> tuple[dict, list[str]]:
    """Form text -> overrides for `runs.create_run`, and one message per bad field.

    Each value is read as its type here, then the whole set goes through the train section
    (`base`: the workspace's, default settings otherwise), so the form refuses what a workspace
    file or `ftui train` would refuse, with the same reasons. `target: hosted` sends the build to
    the workspace's `hosted:` service instead; of the settings only the method and the epochs (a
    whole number) mean anything there.
    """
    out: dict = {"method": method, "qlora": qlora}
    raws = {"method": method, "target": target}
    bad: dict[str, str] = {}
    if target not in TARGETS:
        bad["target"] = "local or hosted"
    elif target == "hosted":
        out["target"] = "hosted"
        raw = values.get("epochs", "").strip()
        if raw and not (raw.isdigit() and int(raw) >= 1):
            bad["epochs"] = "a whole number of at least 1 for a hosted job"
    for key, _, kind in FIELDS:
        raw = raws[key] = values.get(key, "").strip()
        if kind == "text":
            if raw:
                out[key] = raw
            else:
                bad[key] = "required"
        elif kind in ("optfloat", "optint") and not raw:
            continue
        else:
            try:
                out[key] = int(raw) if kind in ("int", "optint") else float(raw)
            except ValueError:
                bad[key] = "not a number"
    settings = {k: v for k, v in out.items() if k not in ("model", "target")}
    try:
        dataclasses.replace(base or TrainConfig(), **settings)
    except SettingError as exc:
        for key, reason in exc.problems:
            bad.setdefault(key, reason)
    labels = {"target": "Target", "method": "Method", **{key: label for key, label, _ in FIELDS}}
    errors = [f"{labels[key]}: {bad[key]} ({raws[key]!r})" for key in labels if key in bad]
    return out, errors


def qlora_label(on: bool) -> str:
    return "ON: 4-bit base (less memory)" if on else "OFF: full-precision base"


def build_line(ws: Workspace) -> str:
    """The newest build, as the run will train it: id, rows, target clusters; or why there is none."""
    from ftui.core.build.store import list_builds

    builds = list_builds(ws)
    if not builds:
        return "✘ no build yet: build one in the Data pane (3) first"
    b = builds[0]
    c = b.manifest.get("counts", {})
    targets = b.manifest.get("target_clusters") or []
    text = (
        f"Build {b.id}: {c.get('train', 0)} train ({c.get('train_corrections', 0)} corrections + "
        f"{c.get('train_anchors', 0)} anchors), {c.get('eval', 0)} held out, "
        f"{c.get('dpo_train', 0)} DPO pairs\nCluster{'s' if len(targets) != 1 else ''}: "
        f"{', '.join(targets) if targets else 'every failure cluster'}"
    )
    if not c.get("train_corrections"):
        text += "\n✘ no corrections in this build: write corrections first (Correct pane, 2)"
    return text


class RunFormScreen(ModalScreen[dict | None]):
    BINDINGS = [
        Binding(
            "ctrl+r", "start", "Start", id="form.start", tooltip="Start training with these settings", priority=True
        ),
        Binding("escape", "cancel", "Cancel", id="form.cancel", tooltip="Close without starting"),
    ]
    DEFAULT_CSS = """
    RunFormScreen { align: center middle; }
    RunFormScreen > Vertical { width: 76; max-width: 100%; height: auto; max-height: 100%; background: $surface; border: round $primary; padding: 0 1; }
    RunFormScreen Grid { grid-size: 2; grid-columns: 24 1fr; grid-rows: 1; grid-gutter: 0 1; height: auto; }
    RunFormScreen Label { color: $text-muted; }
    RunFormScreen Checkbox { height: 1; width: auto; }
    RunFormScreen #rf-errors { color: $text-error; height: auto; }
    RunFormScreen #rf-build { height: auto; margin-bottom: 1; }
    RunFormScreen Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    RunFormScreen Button { margin-left: 1; }
    """

    def __init__(self, ws: Workspace) -> None:
        super().__init__()
        self.ws = ws

    def compose(self) -> ComposeResult:
        t = self.ws.train
        defaults = {
            "model": self.ws.model,
            "lora_r": str(t.lora_r),
            "lora_alpha": str(t.lora_alpha),
            "learning_rate": f"{t.learning_rate:g}",
            "max_steps": str(t.max_steps),
            "epochs": "" if t.epochs is None else f"{t.epochs:g}",
            "eval_steps": str(t.eval_steps),
            "patience": str(t.patience),
            "anchor_kl": f"{t.anchor_kl:g}",
            "rpo_alpha": f"{t.rpo_alpha:g}",
            "probes": str(t.probes),
            "select_by": t.select_by,
            "stop_broken_anchors": str(t.stop_broken_anchors),
            "processes": str(t.processes),
        }
        with Vertical() as v:
            v.border_title = "New training run"
            v.border_subtitle = "ctrl+r start · esc cancel"
            if self.ws.hosted is not None:
                v.border_subtitle = f"hosted: {self.ws.hosted.base_url} · " + v.border_subtitle
            # What the run will train on, before any setting: a form that hides it invites a wrong run.
            yield Static(build_line(self.ws), id="rf-build")
            with Grid():
                if self.ws.hosted is not None:
                    yield Label("Target (local/hosted)")
                    yield Input("local", compact=True, id="f-target", suggester=SuggestFromList(list(TARGETS)))
                yield Label(f"Method ({' / '.join(TRAIN_METHODS)})")
                yield Input(t.method, compact=True, id="f-method", suggester=SuggestFromList(TRAIN_METHODS))
                for key, label, _ in FIELDS:
                    yield Label(label)
                    suggest = SuggestFromList(SELECT_BY) if key == "select_by" else None
                    yield Input(defaults[key], compact=True, id=f"f-{key}", suggester=suggest)
                yield Label("QLoRA (4-bit base)")
                yield Checkbox(qlora_label(t.qlora), t.qlora, compact=True, id="f-qlora")
            yield Static("", id="rf-errors")
            with Horizontal():
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("Start (ctrl+r)", id="start", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#f-method").focus()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        # The label says the state in words: a box beside "on" read as on when it was off.
        event.checkbox.label = qlora_label(event.value)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            self.action_start()
        else:
            self.action_cancel()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_start()

    def action_start(self) -> None:
        values = {key: self.query_one(f"#f-{key}", Input).value for key, _, _ in FIELDS}
        method = self.query_one("#f-method", Input).value.strip().lower()
        qlora = self.query_one("#f-qlora", Checkbox).value
        targets = self.query("#f-target")
        target = targets.first(Input).value.strip().lower() if targets else "local"
        overrides, errors = parse_form(values, method, qlora, self.ws.train, target)
        if errors:
            self.query_one("#rf-errors", Static).update("\n".join(errors))
            return
        self.dismiss(overrides)

    def action_cancel(self) -> None:
        self.dismiss(None)
