"""`ftui`: the workbench when run with a workspace, and a headless command for every step."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from ftui.commands.common import EXIT_USAGE, CommandError
from ftui.core.base.errors import FtuiError

# Each module registers its own subcommands; they import only ftui.core at module level, so
# `ftui --help` stays fast and the UI's start-up never loads the training stack.
COMMAND_MODULES = (
    "curate",
    "discover",
    "data",
    "train",
    "judge",
    "forgetting",
    "hosted",
    "service",
    "draft",
    "learnability",
    "ship",
    "tui",
    "init",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ftui",
        description="Fix an LLM's repeated failures by fine-tuning: curate, correct, build, train, judge.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(f"ftui.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"ftui.commands.{name}":
                continue
            raise
        mod.register(sub)
    parser.set_defaults(known_commands=frozenset(sub.choices))
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        code = _main(argv)
        # Output still buffered is written here, where a closed pipe can still be answered.
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # The reader went away (`ftui report RUN | head -1`): stop quietly, as `cat` does.
        _silence_stdout()
        return EXIT_PIPE


# 128 + SIGPIPE: what a shell reports for a command whose reader closed the pipe.
EXIT_PIPE = 141


def _silence_stdout() -> None:
    # Python flushes stdout once more at exit; pointing it at /dev/null keeps that flush from
    # printing "Exception ignored ... BrokenPipeError".
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by a non-file (tests, embedding)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _main(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # `ftui` and `ftui WORKSPACE` open the workbench; everything else is a subcommand.
    known = parser.get_default("known_commands")
    if not argv or (argv[0] not in known and not argv[0].startswith("-")):
        argv = ["open", *argv]
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except CommandError as exc:
        print(f"ftui: {exc}", file=sys.stderr)
        return exc.code
    except FtuiError as exc:
        print(f"ftui: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
