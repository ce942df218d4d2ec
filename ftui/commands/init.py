"""`ftui init LOG [WORKSPACE]`: a workspace for a log, its mapping and pass rule found by looking."""

from __future__ import annotations

import argparse
import sys

from ftui.commands.common import EXIT_OK, EXIT_USAGE, emit
from ftui.core.workspace.sniff import preview, propose, read_with, write_config, yaml_text
from ftui.core.workspace.workspace import CONFIG_NAME


def register(sub) -> None:
    p = sub.add_parser("init", help="write ftui.yaml for a graded log (recognises the common eval tools)")
    p.add_argument("log", metavar="LOG", help="a JSONL file, a JSON document, or a folder of logs")
    p.add_argument("workspace", nargs="?", metavar="WORKSPACE", help="where to write ftui.yaml (default: next to LOG)")
    p.add_argument("--yes", "-y", action="store_true", help="write without asking")
    p.add_argument("--force", action="store_true", help=f"replace an existing {CONFIG_NAME}")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    prop = propose(args.log, args.workspace)
    log = read_with(prop)
    text = preview(prop, log)
    passed = sum(1 for it in log.items if it.failures == 0)
    data = {
        "log": str(prop.log),
        "source": prop.source,
        "files": [str(f) for f in prop.files],
        "fields": prop.fields,
        "pass_rule": log and prop.rule.__dict__,
        "items": len(log.items),
        "passing": passed,
        "failing": len(log.items) - passed,
        "skipped": len(log.errors),
        "config": yaml_text(prop),
        "written": None,
    }
    if not args.json:
        print(text)
        print()
    if not args.yes:
        if not sys.stdin.isatty():
            print(f"Not written: pass --yes to write {CONFIG_NAME} without asking.", file=sys.stderr)
            emit(args, data)
            return EXIT_USAGE
        answer = input(f"Write {CONFIG_NAME}? [Y/n] ").strip().lower()
        if answer not in ("", "y", "yes"):
            return EXIT_OK
    cfg = write_config(prop, args.workspace, force=args.force)
    data["written"] = str(cfg)
    emit(args, data, f"wrote {cfg}\nnext: ftui clusters {cfg.parent}")
    return EXIT_OK
