"""The training form: the workspace's defaults filled in, checked before anything starts."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Checkbox, Input, Label, Static

from ftui.core.workspace import TrainConfig, Workspace

# (field, label, kind) — kind: text | int | float | optfloat (blank: unset). The ranges are the
# workspace's own rules (TrainConfig.problems); the form only reads the text as a number.
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
)
SELECT_BY = ["eval_loss", "probes"]


def parse_form(values: dict[str, str], method: str, qlora: bool) -> tuple[dict, list[str]]:
    """Form text -> overrides for `runs.create_run`, and one message per bad field, in the form's order."""
    out: dict = {"method": method, "qlora": qlora}
    errors: dict[str, str] = {}
    for key, label, kind in FIELDS:
        raw = values.get(key, "").strip()
        try:
            if kind == "text":
                if not raw:
                    errors[key] = f"{label}: required"
                    continue
                out[key] = raw
            elif kind == "int":
                out[key] = int(raw)
            elif kind == "float" or (kind == "optfloat" and raw):
                out[key] = float(raw)
        except ValueError:
            errors[key] = f"{label}: not a number ({raw!r})"
    # A field that did not read as a number keeps its default here: it already has its message.
    labels = {key: label for key, label, _ in FIELDS}
    for key, what in TrainConfig(**{k: v for k, v in out.items() if k != "model"}).problems():
        raw = "" if " not " in what else f" ({values.get(key, '').strip()!r})"  # some rules quote the value already
        errors.setdefault(key, f"{labels.get(key, 'Method')}: {what}{raw}")
    order = ["method", *labels]
    return out, [errors[k] for k in order if k in errors]


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
        }
        with Vertical() as v:
            v.border_title = "New training run"
            v.border_subtitle = "ctrl+r start · esc cancel"
            with Grid():
                yield Label("Method (sft / dpo)")
                yield Input(t.method, compact=True, id="f-method", suggester=SuggestFromList(["sft", "dpo"]))
                for key, label, _ in FIELDS:
                    yield Label(label)
                    suggest = SuggestFromList(SELECT_BY) if key == "select_by" else None
                    yield Input(defaults[key], compact=True, id=f"f-{key}", suggester=suggest)
                yield Label("QLoRA (4-bit base)")
                yield Checkbox("on", t.qlora, compact=True, id="f-qlora")
            yield Static("", id="rf-errors")
            with Horizontal():
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("Start (ctrl+r)", id="start", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#f-method").focus()

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
        overrides, errors = parse_form(values, method, qlora)
        if errors:
            self.query_one("#rf-errors", Static).update("\n".join(errors))
            return
        self.dismiss(overrides)

    def action_cancel(self) -> None:
        self.dismiss(None)
