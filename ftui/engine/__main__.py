"""`python -m ftui.engine COMMAND ...`: the child-process entry points.

Heavy libraries are imported by the commands themselves, so `--help` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ftui.engine", description="ftui's training/evaluation engine")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("train", help="run the training described by RUN_DIR/config.json")
    p.add_argument("run_dir")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in RUN_DIR")
    p = sub.add_parser("prepare-model", help="resolve a model name; prints its folder (or hub id) last")
    p.add_argument("name", nargs="?", default=None, help="default: the embedded smollm2-135m-instruct")
    p = sub.add_parser("eval", help="run the benchmark evaluation described by RUN_DIR/eval/config.json")
    p.add_argument("run_dir")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p = sub.add_parser("forgetting", help="general tasks base vs fine-tuned, as RUN_DIR/forgetting/config.json says")
    p.add_argument("run_dir")
    p = sub.add_parser("embed", help="embed the texts of JOB_DIR with a model (failure-cluster discovery)")
    p.add_argument("job_dir")
    p = sub.add_parser("draft", help="draft corrections as described by JOB_DIR/config.json")
    p.add_argument("job_dir")
    p = sub.add_parser("export", help="write the export described by JOB_DIR/config.json")
    p.add_argument("job_dir")
    p = sub.add_parser("parity", help="answer PARITY_DIR's items with an export and compare with the judged model")
    p.add_argument("parity_dir")
    p = sub.add_parser("serve", help="serve the models described by SERVE_DIR/config.json")
    p.add_argument("serve_dir")
    p = sub.add_parser("service", help="the fine-tuning API described by SERVICE_DIR/config.json")
    p.add_argument("service_dir")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train":
        from ftui.engine.train import run

        return run(args.run_dir, resume=args.resume)
    if args.command == "prepare-model":
        from ftui.core.models import EMBEDDED
        from ftui.engine.models import main_prepare

        try:
            return main_prepare(args.name or EMBEDDED)
        except (FileNotFoundError, RuntimeError, ValueError) as exc:
            print(f"ftui.engine: {exc}", file=sys.stderr)
            return 1
    if args.command == "eval":
        # The evaluation engine lives in its own module with a `main(run_dir, argv)` function.
        try:
            mod = importlib.import_module("ftui.engine.evaluate")
        except ModuleNotFoundError as exc:
            if exc.name != "ftui.engine.evaluate":
                raise
            print("ftui.engine: evaluation engine not installed", file=sys.stderr)
            return 2
        return int(mod.main(args.run_dir, args.rest) or 0)
    if args.command == "forgetting":
        from ftui.engine.forgetting import main as forgetting_main

        return forgetting_main(args.run_dir)
    if args.command == "embed":
        from ftui.engine.embed import run as run_embed

        return run_embed(args.job_dir)
    if args.command == "draft":
        from ftui.engine.draft import main as draft_main

        return draft_main(args.job_dir)
    if args.command in ("export", "parity", "serve"):
        mod = importlib.import_module(f"ftui.engine.{args.command}")
        return int(mod.main(getattr(args, f"{args.command if args.command != 'export' else 'job'}_dir")) or 0)
    if args.command == "service":
        from ftui.engine.service import main as service_main

        return service_main(args.service_dir)
    build_parser().print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
