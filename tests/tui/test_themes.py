"""Theme files: real ones load, broken ones are named in a notification and skipped."""

from __future__ import annotations

from pathlib import Path

from ftui.core.workspace.workspace import Workspace
from ftui.tui.app import FtuiApp
from ftui.tui.themes import ThemeError, load_user_themes, parse_theme, theme_dirs
from tests.tui.conftest import settle
from tests.tui.workspace_factory import make_workspace

REPO_THEMES = Path(__file__).resolve().parents[2] / "themes"


def test_project_themes_are_valid():
    files = sorted(REPO_THEMES.glob("*.toml"))
    assert len(files) >= 2
    names = {parse_theme(f).name for f in files}
    assert {"ftui-night", "ftui-paper"} <= names


def test_broken_theme_messages_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\nprimary = "#12345"\nforground = "#fff"\n')
    try:
        parse_theme(bad)
    except ThemeError as exc:
        assert str(exc).startswith(f"{bad}:3: unknown key `forground` (did you mean `foreground`?)")
    else:
        raise AssertionError("no error")
    bad.write_text('name = "bad"\nprimary = "not-a-colour"\n')
    try:
        parse_theme(bad)
    except ThemeError as exc:
        assert str(exc).startswith(f"{bad}:2: `primary`: not a colour")
    else:
        raise AssertionError("no error")
    bad.write_text('name = "bad\nprimary = 1\n')
    try:
        parse_theme(bad)
    except ThemeError as exc:
        assert "invalid TOML" in str(exc) and str(exc).startswith(f"{bad}:1:")


async def test_workspace_theme_and_broken_file_fallback(tmp_path):
    root = make_workspace(tmp_path / "demo-ws", 10, extra_config="ui:\n  theme: ftui-paper\n")
    app = FtuiApp(Workspace.load(root))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        assert app.theme == "ftui-paper"

    (root / "themes").mkdir()
    (root / "themes" / "mine.toml").write_text('name = "mine"\nprimary = "#zzz"\n')
    (root / "ftui.yaml").write_text("run_log: run_log.jsonl\nui:\n  theme: mine\n")
    app = FtuiApp(Workspace.load(root))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        assert app.theme == "textual-dark"
        messages = [n.message for n in app._notifications]
        assert any("mine.toml:2: `primary`: not a colour" in m for m in messages)
        assert any("ui.theme 'mine' is not a known theme" in m for m in messages)


def test_user_config_folder_is_searched(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    folder = tmp_path / "ftui" / "themes"
    folder.mkdir(parents=True)
    (folder / "u.toml").write_text('name = "user-one"\nprimary = "#336699"\ndark = false\n')
    assert folder in theme_dirs()
    themes, problems = load_user_themes()
    assert "user-one" in {t.name for t in themes} and problems == []
