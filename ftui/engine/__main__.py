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
    p = sub.add_parser("learnability", help="sample the base k times per failure and grade it (GRPO pre-flight)")
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


# Each command's module and the argument naming its folder: the module's `main(folder, ...)` runs it.
# Heavy libraries are imported by those modules, so `--help` stays instant.
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("ftui.engine.train.run", "run_dir"),
    "eval": ("ftui.engine.judge.evaluate", "run_dir"),
    "forgetting": ("ftui.engine.judge.forgetting", "run_dir"),
    "embed": ("ftui.engine.curate.embed", "job_dir"),
    "draft": ("ftui.engine.curate.draft", "job_dir"),
    "learnability": ("ftui.engine.train.learnability", "job_dir"),
    "export": ("ftui.engine.ship.export", "job_dir"),
    "parity": ("ftui.engine.ship.parity", "parity_dir"),
    "serve": ("ftui.engine.ship.serve", "serve_dir"),
    "service": ("ftui.engine.hosted.service", "service_dir"),
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "prepare-model":
        from ftui.core.base.models import EMBEDDED
        from ftui.engine.weights.models import main_prepare

        try:
            return main_prepare(args.name or EMBEDDED)
        except (FileNotFoundError, RuntimeError, ValueError) as exc:
            print(f"ftui.engine: {exc}", file=sys.stderr)
            return 1
    if args.command not in COMMANDS:
        build_parser().print_help()
        return 2
    module, folder_arg = COMMANDS[args.command]
    mod = importlib.import_module(module)
    extra: dict = {}
    if args.command == "train":
        extra["resume"] = args.resume
    elif args.command == "eval":
        extra["argv"] = args.rest
    return int(mod.main(getattr(args, folder_arg), **extra) or 0)


if __name__ == "__main__":
    sys.exit(main())
