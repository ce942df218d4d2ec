"""`python -m ftui.sample regenerate | demo [--method sft|dpo] [--quick] | questions`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ftui.core.workspace.workspace import TRAIN_METHODS
from ftui.sample.regenerate import SAMPLE_DIR


def _regenerate(args) -> int:
    from ftui.core.workspace.workspace import Workspace
    from ftui.sample.corrections import write_reviewed_corrections
    from ftui.sample.regenerate import regenerate

    per_task = regenerate(Path(args.workspace), limit=args.limit)
    for task, c in sorted(per_task.items()):
        labels = ", ".join(f"{k} {v}" for k, v in sorted(c.items()) if k not in ("items", "passed"))
        print(f"  {task:<20} {c['passed']:>3}/{c['items']:<3} pass   {labels}")
    label, n = write_reviewed_corrections(Workspace.load(args.workspace))
    print(f"wrote {n} reviewed corrections for cluster {label}")
    return 0


def _demo(args) -> int:
    from ftui.core.base.errors import FtuiError
    from ftui.sample.demo import DemoError, run_demo

    def log(line: str) -> None:
        print(line, flush=True)

    try:
        if args.method == "grpo":
            from ftui.sample.demo_grpo import run_grpo_demo

            result = run_grpo_demo(args.workspace, max_steps=args.max_steps, eval_limit=args.eval_limit, log=log)
            return 0 if result.verdict == "ship" else 1
        result = run_demo(
            args.workspace,
            method=args.method,
            quick=args.quick,
            max_steps=args.max_steps,
            eval_limit=args.eval_limit,
            check_forgetting=args.forgetting,
            log=log,
        )
    except (DemoError, FtuiError, ValueError) as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    return 0 if result.verdict == "ship" else 1


def _questions(args) -> int:
    from ftui.sample.questions import all_questions

    for q in all_questions(Path(args.workspace)):
        print(json.dumps(q.record(), ensure_ascii=False))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m ftui.sample", description="The sample workspace: rebuild it, or run the demo loop on it."
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser(
        "regenerate",
        help="answer every benchmark question with the embedded base model, grade, label, write the run log",
    )
    r.add_argument("-w", "--workspace", default=str(SAMPLE_DIR))
    r.add_argument("--limit", type=int, default=None, help="only the first N questions (for a quick look)")
    r.set_defaults(fn=_regenerate)
    d = sub.add_parser(
        "demo",
        help="corrections → build → train → evaluate → postmortem on the sample workspace "
        "(--method grpo: on a copy without corrections, rewarded by the graders)",
    )
    d.add_argument("-w", "--workspace", default=str(SAMPLE_DIR))
    d.add_argument("--method", choices=TRAIN_METHODS, default="sft")
    d.add_argument("--quick", action="store_true", help="fewer benchmark items evaluated")
    d.add_argument("--max-steps", type=int, default=None)
    d.add_argument(
        "--forgetting",
        action="store_true",
        help="also check general tasks base vs fine-tuned (eval.forgetting, lm-evaluation-harness)",
    )
    d.add_argument(
        "--eval-limit",
        type=int,
        default=None,
        help="evaluate at most N benchmark items, sampled across clusters and question lengths",
    )
    d.set_defaults(fn=_demo)
    q = sub.add_parser("questions", help="print the benchmark questions (without answers) as JSONL")
    q.add_argument("-w", "--workspace", default=str(SAMPLE_DIR))
    q.set_defaults(fn=_questions)
    args = p.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
