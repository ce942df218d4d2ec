"""Ship (from Compare, `x`): export the shown run and see whether each export answers like the judged model."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from ftui.core.ship import exports, parity, texts
from ftui.tui import keymap
from ftui.tui.widgets.row_table import Column, RowTable
from ftui.tui.widgets.word_diff import WordDiff

FLIP_MARK = {None: "same grade", "lost": "✘ lost", "gained": "✔ gained"}


# What X offers: (format[:quantisation], what the user reads).
EXPORT_CHOICES = (
    ("merged", "merged safetensors (base + adapter in one model)"),
    ("adapter", "the adapter folder (PEFT)"),
    ("gguf:q8_0", "GGUF q8_0 (llama.cpp)"),
    ("gguf:f16", "GGUF f16 (llama.cpp, full precision)"),
    ("ollama:q8_0", "Ollama (GGUF q8_0 + Modelfile)"),
)


def export_cells(row: dict) -> list[str]:
    return [row["name"], row["state"], *texts.parity_counts(row.get("parity")), row.get("note") or ""]


def item_cells(r: dict) -> list[str]:
    return [r["id"], str(r.get("cluster") or "—"), "same" if r["identical"] else "differs", FLIP_MARK[r["flip"]]]


def items_in_order(rows: list[dict]) -> list[dict]:
    """What needs a look first: lost grades, gained grades, other answers that differ, then the identical."""
    rank = {"lost": 0, "gained": 1}
    return sorted(rows, key=lambda r: (rank.get(r["flip"], 2), bool(r["identical"])))


def export_detail(row: dict | None) -> str:
    """The highlighted export: where it is, then the peak memory writing it and what checked it."""
    if not row:
        return "X exports the run (merged, adapter, GGUF, Ollama) · P checks an export's parity again"
    m = row.get("manifest")
    if not m:
        return f"{row['name']}: {row['state']}"
    facts = [exports.memory_text(m.get("memory"), short=True) or ""]
    if row.get("consumer"):
        facts.append(f"parity through {row['consumer'].split(' (')[0]}")
    if row.get("parity"):
        # Says what the identical/same counts are out of: the judged items and the anchors.
        facts.append(f"out of {parity.items_text(row['parity'])}")
    return f"{m.get('out') or row['name']}\n" + " · ".join(f for f in facts if f)


class ShipScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = keymap.bindings("ship")
    DEFAULT_CSS = """
    ShipScreen { align: center middle; }
    ShipScreen > Vertical { width: 100%; height: 100%; background: $surface; border: round $primary; }
    ShipScreen #ship-status { height: auto; max-height: 3; padding: 0 1; }
    ShipScreen #ship-exports { height: 7; }
    ShipScreen #ship-items { height: 1fr; }
    ShipScreen WordDiff { height: 1fr; }
    """

    def __init__(self, ws, run_dir: Path) -> None:
        super().__init__()
        self.ws = ws
        self.run_dir = Path(run_dir)
        self.results: dict[str, dict] = {}

    def compose(self) -> ComposeResult:
        with Vertical() as v:
            v.border_title = f"Ship · {self.run_dir.name}"
            yield Static(export_detail(None), id="ship-status", markup=False)
            yield RowTable(
                [
                    Column("export", 12),
                    Column("state", 9),
                    Column("identical", 9, "right"),
                    Column("same", 7, "right"),
                    Column("flips", 5, "right"),
                    Column("size · time", 0),
                ],
                export_cells,
                empty="no exports yet: m, a, g, G or o writes one",
                id="ship-exports",
            )
            yield RowTable(
                [Column("item", 0), Column("cluster", 22), Column("answer", 8), Column("grade", 11)],
                item_cells,
                empty="no parity check for this export yet",
                id="ship-items",
            )
            yield WordDiff(id="ship-diff")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.refresh_rows()
        self.set_interval(1.0, self.refresh_rows)
        self.query_one("#ship-exports", RowTable).focus()

    @work(thread=True, exclusive=True, exit_on_error=False, group="ship-rows", description="Exports")
    def refresh_rows(self) -> None:
        rows = []
        for r in texts.export_rows(self.run_dir):
            rows.append(
                {
                    "name": r.name,
                    "state": r.shown_state,
                    "note": r.note,
                    "parity": r.result and r.result["summary"],
                    "manifest": r.manifest,
                    "consumer": r.result and r.result.get("consumer"),
                }
            )
            if r.result:
                self.results[r.name] = r.result
        self.app.call_from_thread(self._show_rows, rows)

    def _show_rows(self, rows: list[dict]) -> None:
        table = self.query_one("#ship-exports", RowTable)
        current = table.current
        same = [r["name"] for r in rows] == [r["name"] for r in table.rows]
        if same and rows == table.rows:
            return
        keep = next((r for r in rows if current and r["name"] == current["name"]), None)
        table.set_rows(rows, keep=keep)

    @on(RowTable.Highlighted, "#ship-exports")
    def _export_row(self, event: RowTable.Highlighted) -> None:
        p = (event.row or {}).get("parity")
        self.query_one("#ship-status", Static).update(export_detail(event.row))
        self.query_one("#ship-items", RowTable).set_rows(items_in_order(p["rows"]) if p else [])
        if not p:
            self.query_one("#ship-diff", WordDiff).clear()

    @on(RowTable.Highlighted, "#ship-items")
    def _item_row(self, event: RowTable.Highlighted) -> None:
        r = event.row
        self.query_one("#ship-diff", WordDiff).show(
            r["reference_answer"],
            r["export_answer"],
            r["reference_grade"],
            r["export_grade"],
            titles=("Judged", "Export"),
        )

    def action_export(self, fmt: str, quant: str | None = None) -> None:
        self.start_export(fmt, quant)

    def action_export_menu(self) -> None:
        from ftui.tui.dialogs.pick import PickScreen

        def chosen(value: str | None) -> None:
            if value:
                fmt, _, quant = value.partition(":")
                self.action_export(fmt, quant or None)

        self.app.push_screen(PickScreen(f"Export {self.run_dir.name} as:", list(EXPORT_CHOICES)), chosen)

    @work(thread=True, exit_on_error=False, group="ship-start", description="Starting the export")
    def start_export(self, fmt: str, quant: str | None) -> None:
        try:
            jd, _pid = exports.start_export(self.ws, self.run_dir, fmt, quant)
        except Exception as exc:  # one line, as the CLI would print it
            self.app.call_from_thread(self.notify, str(exc), severity="error", title="Export")
            return
        self.app.call_from_thread(self.notify, f"exporting {jd.name} in the background", title="Export")

    def action_parity(self) -> None:
        row = self.query_one("#ship-exports", RowTable).current
        if not row:
            self.notify("No export selected", severity="warning")
            return
        self.start_parity(row["name"])

    @work(thread=True, exit_on_error=False, group="ship-start", description="Starting the parity check")
    def start_parity(self, name: str) -> None:
        try:
            parity.start(self.ws, self.run_dir, exports.find_export(self.run_dir, name))
        except Exception as exc:  # one line, as the CLI would print it
            self.app.call_from_thread(self.notify, str(exc), severity="error", title="Parity")
            return
        self.app.call_from_thread(self.notify, f"checking {name} against the judged answers", title="Parity")

    def action_close(self) -> None:
        self.dismiss(None)
