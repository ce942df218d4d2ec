"""The workbench on a folder with a log and no ftui.yaml: the init screen, w to write, q to leave."""

from __future__ import annotations

from ftui.core.workspace.sniff import propose
from ftui.core.workspace.workspace import Workspace
from ftui.tui.init_app import InitApp
from tests.fixtures.evallogs import copy_tool


async def test_init_screen_shows_the_reading_and_writes_on_w(tmp_path):
    folder = copy_tool("inspect", tmp_path)
    app = InitApp(propose(folder), folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        text = str(app.query_one("#init-preview").render())
        assert "inspect_ai log" in text and "3 pass, 4 fail" in text and "grade in {C}" in text
        assert "source: inspect" in str(app.query_one("#init-yaml").render())
        await pilot.press("w")
        await pilot.pause()
    assert app.return_value is True
    assert Workspace.load(folder).source == "inspect"


async def test_init_screen_q_writes_nothing(tmp_path):
    folder = copy_tool("promptfoo", tmp_path)
    app = InitApp(propose(folder), folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("q")
        await pilot.pause()
    assert app.return_value is False and not (folder / "ftui.yaml").exists()


async def test_init_screen_names_the_chosen_metric_and_offers_discovery(tmp_path):
    import shutil

    from tests.fixtures.evallogs import HERE

    folder = shutil.copytree(HERE / "lm_eval_truthfulqa", tmp_path / "tqa")
    app = InitApp(propose(folder), folder)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        text = " ".join(str(app.query_one("#init-preview").render()).split())
        assert "`bleu_acc` (the first 0/1 metric" in text and "10 pass, 10 fail" in text
        assert "next: ftui discover" in text
