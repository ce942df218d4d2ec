"""Keys as data: footers that fit 80 columns, j/k and Tab in every table, readable names, remapping."""

from __future__ import annotations

import pytest
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from ftui.tui import keymap
from ftui.tui.app import FtuiApp
from ftui.tui.widgets.row_table import RowTable
from tests.tui.conftest import add_report, settle

PANES = ("clusters", "correct", "data", "train", "compare")


def _footer_text(screen) -> tuple[int, str]:
    footer = screen.query_one(Footer)
    keys = list(footer.query(FooterKey))
    right = max((k.region.right for k in keys), default=0)
    return right, " ".join(f"{k.key_display} {k.description}" for k in keys)


@pytest.mark.parametrize("pane", PANES)
async def test_every_pane_footer_fits_80_columns_with_nothing_cut(ws, pane):
    add_report(ws)
    app = FtuiApp(ws, start_pane=pane)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, 3)
        footer = app.screen.query_one(Footer)
        right, text = _footer_text(app.screen)
        assert right <= 80 and footer.virtual_size.width <= 80, f"{pane}: {text}"
        assert "Help" in text  # the rest is under ?
        shown = {k.description for k in footer.query(FooterKey)}
        for key in keymap.scope_keys(pane):
            if key.footer and app.screen.check_action(key.action.split("(")[0], ()) is not False:
                assert key.label in shown, f"{pane}: {key.label} missing from the footer"


async def test_the_ship_screen_footer_fits_80_columns(ws):
    add_report(ws)
    app = FtuiApp(ws, start_pane="compare")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, 3)
        await pilot.press("X")
        await settle(pilot, app, 3)
        assert type(app.screen).__name__ == "ShipScreen"
        right, text = _footer_text(app.screen)
        assert right <= 80 and {"Export", "Parity", "Close"} <= set(text.split()), text


def test_one_letter_means_one_verb_in_every_pane():
    verbs: dict[str, set[str]] = {}
    for scope in ("clusters", "correct", "data", "train", "compare", "ship"):
        for k in keymap.scope_keys(scope):
            for key in k.keys.split(","):
                verbs.setdefault(key, set()).add(k.label.split()[0].lower())
    # One verb per key; "escape" is always a way back (close, done, finish).
    clash = {key: v for key, v in verbs.items() if len(v) > 1 and key != "escape"}
    assert clash == {}, clash
    for key in ("s", "x", "a", "n"):
        assert len(verbs.get(key, set())) <= 1


def test_ids_are_unique_and_every_key_is_readable():
    ids = [k.id for keys in keymap.KEYMAP.values() for k in keys]
    assert len(ids) == len(set(ids))
    assert keymap.display("right_square_bracket") == "]" and keymap.display("e,enter") == "e/enter"
    assert keymap.display("question_mark") == "?" and keymap.display("tilde") == "~"


async def _tables_walk(pilot, app, pane: str) -> list[str]:
    await pilot.press(str(PANES.index(pane) + 1))
    await settle(pilot, app, 3)
    tables = [t for t in app.screen.query(RowTable) if t.display and t.rows]
    seen = []
    # Tab visits every focusable widget (scrolling boxes too); a few rounds reach each table.
    for _ in range(2 * len(tables) + 4):
        focused = app.focused
        if isinstance(focused, RowTable) and focused.rows and focused.id not in seen:
            seen.append(focused.id)
            if len(focused.rows) > 1:
                await pilot.press("j")
                await pilot.pause()
                assert focused.cursor == 1, f"{pane}: j in {focused.id}"
                await pilot.press("k")
                await pilot.pause()
                assert focused.cursor == 0, f"{pane}: k in {focused.id}"
        await pilot.press("tab")
        await pilot.pause()
    return seen


async def test_tab_moves_between_tables_and_j_k_move_in_each(ws):
    from tests.tui.conftest import make_run, recorded

    add_report(ws)
    make_run(ws, "second-run", recorded())
    app = FtuiApp(ws, start_pane="clusters")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app, 3)
        assert await _tables_walk(pilot, app, "clusters") == ["cluster-table", "item-table"]
        assert "run-table" in await _tables_walk(pilot, app, "train")
        assert {"metric-table", "cmp-items"} <= set(await _tables_walk(pilot, app, "compare"))
        await pilot.press("3", "b")  # a build, so the Data pane's findings table has rows
        await settle(pilot, app, 4)
        assert "dt-findings" in await _tables_walk(pilot, app, "data")


async def test_palette_shows_readable_key_names(ws):
    app = FtuiApp(ws, start_pane="correct")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        helps = [h for _, h, _ in app.screen.palette()]
        assert "key ]" in helps and not any("square_bracket" in h for h in helps)


async def test_users_remap_keys_in_keys_yaml(ws, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    path = tmp_path / "cfg" / "ftui" / "keys.yaml"
    path.parent.mkdir(parents=True)
    path.write_text("clusters.correct: ctrl+o\n")
    app = FtuiApp(ws, start_pane="clusters")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, 3)
        await pilot.press("ctrl+o")
        await settle(pilot, app)
        assert app.current_mode == "correct"


def test_a_bad_keys_yaml_is_one_line_naming_file_key_and_nearest_id(tmp_path):
    path = tmp_path / "keys.yaml"
    path.write_text("clusters.spilt: S\n")
    with pytest.raises(keymap.KeymapError) as exc:
        keymap.load_user_keymap(path)
    msg = str(exc.value)
    assert msg.startswith(str(path)) and "'clusters.spilt'" in msg and "nearest valid id: clusters.split" in msg
    assert "\n" not in msg
    path.write_text("clusters.split: [1, 2]\n")
    with pytest.raises(keymap.KeymapError, match=r"clusters\.split: expected a key name"):
        keymap.load_user_keymap(path)
    path.write_text("compare.filter: '['\n")
    assert keymap.load_user_keymap(path) == {"compare.filter": "left_square_bracket"}


async def test_help_lists_every_key_of_an_action_with_its_id(ws):
    app = FtuiApp(ws, start_pane="clusters")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app, 3)
        app.screen.query_one("#cluster-table").focus()
        await pilot.press("question_mark")
        await pilot.pause()
        text = app.screen.query_one("Markdown").source
        assert "| `S` | Split |" in text and "`clusters.split`" in text
        assert "`up/k`" in text and "`down/j`" in text


def test_the_keys_page_lists_every_key_id():
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "keys.md").read_text()
    missing = [k.id for keys in keymap.KEYMAP.values() for k in keys if f"`{k.id}`" not in page]
    assert missing == [], f"docs/keys.md does not list {missing}"


async def test_enter_opens_and_esc_goes_back_in_the_clusters_pane(ws):
    app = FtuiApp(ws, start_pane="clusters")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, 3)
        assert app.focused.id == "cluster-table"
        await pilot.press("enter")
        await pilot.pause()
        assert app.focused.id == "item-table"
        await pilot.press("escape")
        await pilot.pause()
        assert app.focused.id == "cluster-table"
