"""`ftui init LOG [WORKSPACE]`: a workspace for a log, its mapping and pass rule found by looking."""

from __future__ import annotations

import argparse
import sys

from ftui.commands.common import EXIT_OK, EXIT_USAGE, emit
from ftui.core.workspace.init_file import failure_groups, next_step, preview, read_with, write_config, yaml_text
from ftui.core.workspace.sniff import propose
from ftui.core.workspace.workspace import CONFIG_NAME


def register(sub) -> None:
    p = sub.add_parser("init", help="write ftui.yaml for a graded log (recognises the common eval tools)")
    p.add_argument("log", metavar="LOG", help="a JSONL file, a JSON document, or a folder of logs")
    p.add_argument("workspace", nargs="?", metavar="WORKSPACE", help="where to write ftui.yaml (default: next to LOG)")
    p.add_argument("--metric", metavar="NAME", help="the per-item metric that is the grade (lm-eval: bleu_acc, ...)")
    p.add_argument("--filter", metavar="NAME", help="read only this filter of an lm-eval task (default: every one)")
    p.add_argument("--model", metavar="NAME", help="pairwise judgments: the model whose side is graded (name or 1/2)")
    p.add_argument("--yes", "-y", action="store_true", help="write without asking")
    p.add_argument(
        "--discover",
        action="store_true",
        help="when the failures carry no label, group them by discovery right after writing",
    )
    p.add_argument("--force", action="store_true", help=f"replace an existing {CONFIG_NAME}")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    options = {k: getattr(args, k) for k in ("metric", "filter", "model") if getattr(args, k, None) is not None}
    prop = propose(args.log, args.workspace, options)
    log = read_with(prop)
    text = preview(prop, log)
    passed = sum(1 for it in log.items if it.failures == 0)
    data = {
        "log": str(prop.log),
        "source": prop.source,
        "source_options": prop.source_options,
        "choices": prop.choices,
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
    data["next"] = next_step(log, str(cfg.parent))
    unlabeled = any(it.failures for it in log.items) and not failure_groups(log)
    if unlabeled and not args.discover and not args.yes and sys.stdin.isatty():
        args.discover = input("No label field: group the failures by discovery now? [Y/n] ").strip().lower() in (
            "",
            "y",
            "yes",
        )
    if unlabeled and args.discover:
        from ftui.core.curate.edits import describe_run, run_discovery
        from ftui.core.workspace.workspace import Workspace

        res = run_discovery(Workspace.load(cfg))
        data["discovered"] = res.names
        data["next"] = (
            f"discovered {len(res.names)} clusters ({describe_run(res.run)}); next: ftui clusters {cfg.parent}"
        )
    emit(args, data, f"wrote {cfg}\n{data['next']}")
    return EXIT_OK
