"""What every headless command shares: the workspace argument, JSON output, exit codes."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, NoReturn

from ftui.core.base.errors import FtuiError
from ftui.core.workspace.workspace import Workspace

EXIT_OK = 0
EXIT_FOUND = 1  # the command worked and found a problem (check errors, a failed run, ...)
EXIT_USAGE = 2  # bad arguments or unusable input


class CommandError(FtuiError):
    def __init__(self, message: str, code: int = EXIT_USAGE):
        super().__init__(message)
        self.code = code


def add_workspace(parser: argparse.ArgumentParser, positional: bool = True) -> None:
    if positional:
        parser.add_argument("workspace_pos", nargs="?", metavar="WORKSPACE", help="workspace folder (default: .)")
    parser.add_argument("-w", "--workspace", default=None, help="workspace folder (default: .)")


def add_run(parser: argparse.ArgumentParser, optional: bool = False) -> None:
    """The RUN argument every run-level command takes; `optional` defaults it to the newest run."""
    extra = {"nargs": "?", "default": "latest"} if optional else {}
    parser.add_argument("run", metavar="RUN", help="run id, id prefix, folder, or `latest`", **extra)
    add_workspace(parser, positional=False)
    add_json(parser)


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def load_ws(args: argparse.Namespace) -> Workspace:
    path = getattr(args, "workspace", None) or getattr(args, "workspace_pos", None) or "."
    return Workspace.load(path)


def emit(args: argparse.Namespace, data: Any, text: str | None = None) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    elif text is not None:
        print(text)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    raise CommandError(message, code)


def warn(message: str) -> None:
    print(f"ftui: {message}", file=sys.stderr)
