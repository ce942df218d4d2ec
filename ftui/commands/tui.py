"""`ftui open [WORKSPACE]` (also plain `ftui` and `ftui WORKSPACE`): the workbench."""

from __future__ import annotations

import argparse

from ftui.commands.common import add_workspace, load_ws

PANES = ("clusters", "correct", "data", "train", "compare")


def register(sub) -> None:
    p = sub.add_parser("open", help="open the workbench on a workspace")
    add_workspace(p)
    p.add_argument("--pane", choices=PANES, default="clusters", help="pane to open first")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    ws = _init_if_needed(args)
    if ws is None:
        return 0
    # Imported here so headless commands never load Textual.
    from ftui.tui.app import FtuiApp

    FtuiApp(ws, start_pane=args.pane).run()
    return 0


def _init_if_needed(args: argparse.Namespace):
    """The workspace; for a folder with a log but no ftui.yaml, first the screen that writes one."""
    from pathlib import Path

    from ftui.core.base.errors import ConfigError, FtuiError
    from ftui.core.workspace.workspace import CONFIG_NAME

    path = Path(getattr(args, "workspace", None) or getattr(args, "workspace_pos", None) or ".")
    if not path.is_dir() or (path / CONFIG_NAME).exists():
        return load_ws(args)
    from ftui.core.workspace.sniff import propose

    try:
        prop = propose(path)
    except FtuiError:
        raise ConfigError(path / CONFIG_NAME, None, f"no {CONFIG_NAME} in {path} and no log ftui can read") from None
    from ftui.tui.init_app import InitApp

    if not InitApp(prop, path).run():
        return None
    return load_ws(args)
