"""Datasets from the shell: build, pre-flight check, export to and import from standard formats."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ftui.commands.common import EXIT_FOUND, EXIT_OK, add_json, add_workspace, emit, fail, load_ws, warn
from ftui.core.base.errors import FtuiError
from ftui.core.base.models import EMBEDDED
from ftui.core.build import builder, checks, formats, freshness
from ftui.core.build import store as build_store
from ftui.core.build import texts as build_texts
from ftui.core.workspace.workspace import Workspace

MAX_LISTED = 20


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build", help="build the training set: corrections + anchors, held-out split, DPO pairs")
    add_workspace(p)
    add_json(p)
    p.add_argument(
        "--cluster",
        action="extend",
        nargs="+",
        metavar="LABEL",
        help="target these clusters (repeatable; default: every failure cluster)",
    )
    p.add_argument(
        "--anchor-ratio", type=float, metavar="R", help="anchors per correction (default: build.anchor_ratio)"
    )
    p.add_argument("--heldout", type=float, metavar="F", help="held-out share (default: build.heldout)")
    p.add_argument(
        "--validation", type=float, metavar="F", help="share kept to choose the checkpoint (default: build.validation)"
    )
    p.add_argument("--seed", type=int, metavar="S", help="split/anchor seed (default: build.seed)")
    p.add_argument(
        "--split-by-evidence",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="keep items whose evidence shares code on one side of the split (default: build.split_by_evidence)",
    )
    p.add_argument(
        "--format",
        action="append",
        choices=[f for f in builder.FORMATS if f != "chat"],
        dest="formats",
        help="also write this form (prompt-completion: train_pc.jsonl, eval_pc.jsonl)",
    )
    p.add_argument(
        "--rewards",
        action="store_true",
        default=None,
        help="a rewards build for GRPO: every failure of the clusters, no corrections needed (default: build.rewards,"
        " or train.method grpo)",
    )
    p.add_argument(
        "--exclude-ids",
        metavar="FILE",
        help="ids reserved for the final benchmark comparison, one a line; they never enter training",
    )
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("builds", help="list the builds of a workspace, newest first")
    add_workspace(p)
    add_json(p)
    p.set_defaults(func=cmd_builds)

    p = sub.add_parser("check", help="pre-flight check of a dataset file or build: format, quality, tokens, leakage")
    p.add_argument(
        "target",
        metavar="FILE_OR_BUILD",
        nargs="?",
        default="latest",
        help="a dataset file, a build folder, or a build id of the workspace (default: latest)",
    )
    add_workspace(p, positional=False)
    add_json(p)
    p.add_argument("--format", dest="fmt", choices=list(formats.FORMATS), help="file format (default: detected)")
    p.add_argument("--model", help="whose tokenizer and chat template count tokens (default: the workspace's model)")
    p.add_argument(
        "--max-length", type=int, metavar="N", help="tokens per example before truncation (default: build.max_length)"
    )
    p.add_argument("--no-tokens", action="store_true", help="skip token counts (no tokenizer needed)")
    p.add_argument(
        "--heldout", metavar="FILE", action="append", help="held-out/eval file the training rows must not match"
    )
    p.add_argument("--hosted", action="store_true", help="add the hosted fine-tuning epoch and billed-token estimate")
    p.add_argument(
        "--context-limit",
        type=int,
        default=checks.DEFAULT_CONTEXT_LIMIT,
        metavar="N",
        help="hosted model's tokens per example (default: %(default)s)",
    )
    p.add_argument("--epochs", type=int, help="hosted epochs (default: OpenAI's rule)")
    p.add_argument(
        "--near",
        type=float,
        metavar="J",
        help="near-duplicate Jaccard threshold (default: build.near_duplicate_threshold)",
    )
    p.add_argument(
        "--all", dest="every", action="store_true", help="one line per finding (default: repeats grouped by kind)"
    )
    p.set_defaults(func=cmd_check)

    p = sub.add_parser(
        "export",
        help="write a build in a standard format (OpenAI, TRL, LLaMA-Factory)",
        epilog=_formats_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("build", metavar="BUILD", nargs="?", default="latest", help="build id, build folder or latest")
    add_workspace(p, positional=False)
    add_json(p)
    p.add_argument("--format", dest="fmt", required=True, choices=list(formats.FORMATS))
    p.add_argument(
        "-o", "--output", required=True, metavar="PATH", help="file to write (.json: a JSON array; else JSONL)"
    )
    p.add_argument(
        "--split",
        choices=["train", "eval"],
        default="train",
        help="which split (preference formats use the DPO pairs of that split)",
    )
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "import",
        help="read a dataset in any supported format into ftui's rows",
        epilog=_formats_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", metavar="FILE")
    add_json(p)
    p.add_argument("--format", dest="fmt", choices=list(formats.FORMATS), help="default: detected")
    p.add_argument(
        "-o", "--output", metavar="PATH", help="write the normalised rows here (TRL messages or preference JSONL)"
    )
    p.add_argument(
        "--as",
        dest="as_fmt",
        choices=list(formats.FORMATS),
        help="with -o: write the rows in this format instead (tools and tool calls kept)",
    )
    p.set_defaults(func=cmd_import)


def _formats_epilog() -> str:
    lines = ["formats:"] + [f"  {name:<21} {desc}" for name, (_, desc) in formats.FORMATS.items()]
    lines.append("A .json path is written as a JSON array, .parquet as a parquet table, anything else as JSONL.")
    return "\n".join(lines)


# -- build -------------------------------------------------------------------------------------


def _read_ids(path: str) -> list[str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"{path}: {exc.strerror or exc}")
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def cmd_build(args: argparse.Namespace) -> int:
    ws = load_ws(args)
    overrides = {
        "anchor_ratio": args.anchor_ratio,
        "heldout": args.heldout,
        "validation": args.validation,
        "seed": args.seed,
        "split_by_evidence": args.split_by_evidence,
        "rewards": args.rewards,
    }
    exclude = _read_ids(args.exclude_ids) if args.exclude_ids else []
    try:
        b = builder.build(
            ws,
            args.cluster,
            formats=args.formats or ("chat",),
            exclude_ids=exclude,
            **{k: v for k, v in overrides.items() if v is not None},
        )
    except build_store.BuildError as exc:
        fail(str(exc))
    m = b.manifest
    emit(args, {"build_id": b.id, "dir": str(b.dir), **m}, _build_text(b))
    return EXIT_OK


def _build_text(b: build_store.Build) -> str:
    m, c = b.manifest, b.manifest["counts"]
    lines = [b.summary_line(), f"  folder: {b.dir}", *(f"  {line}" for line in build_texts.cluster_table(m))]
    lines.append(
        f"  anchors: {c['anchors']} ({c['train_anchors']} train, {c.get('validation_anchors', 0)} validation,"
        f" {c['eval_anchors']} held out)"
    )
    lines.append(
        "  roles: validation items choose the checkpoint (eval loss, early stopping, probes); held-out (test)"
        " items only judge it"
    )
    if c.get("preserve") or c.get("preserve_dropped_shared_evidence"):
        lines.append(
            f"  preserved (KL only, with train.anchor_kl): {c['preserve']} of the other clusters' failures"
            f" ({c['preserve_dropped_shared_evidence']} left out: evidence shared with held-out items)"
        )
    if m["options"].get("split_by_evidence"):
        lines.append("  split: items whose evidence shares code stay on one side")
    discarded = build_texts.discarded_line(c)
    if discarded:
        lines.append(f"  {discarded}")
    if c["dpo_dropped_identical"]:
        lines.append(f"  DPO pairs dropped (chosen = rejected): {c['dpo_dropped_identical']}")
    if c["benchmark_excluded"]:
        lines.append(f"  kept out of training because they are benchmark items: {c['benchmark_excluded']}")
    skipped = (m.get("run_log") or {}).get("skipped", 0)
    if skipped:
        lines.append(f"  run log: {skipped} unusable lines skipped (ftui clusters shows each one)")
    if "grpo_train" in c:
        lines.append(
            f"  GRPO: {c['grpo_train']} prompts rewarded by their own graders (ftui learnability: which can give a signal)"
        )
    if c["train"] == 0:
        lines.append("  no training examples: write corrections first (ftui correct ID --text ...)")
    else:
        lines.append(f"  next: ftui check {b.id}   (token lengths, duplicates, leakage)")
    return "\n".join(lines)


def cmd_builds(args: argparse.Namespace) -> int:
    ws = load_ws(args)
    builds = build_store.list_builds(ws)
    data = [
        {
            "build_id": b.id,
            "created": b.manifest.get("created"),
            "dir": str(b.dir),
            "counts": b.manifest.get("counts"),
            "target_clusters": b.manifest.get("target_clusters"),
        }
        for b in builds
    ]
    text = (
        "\n".join(
            f"{b.id}  {b.manifest.get('created', '')}  {b.manifest['counts']['train']:>5} train "
            f"{b.manifest['counts']['eval']:>4} eval  {', '.join(b.manifest.get('target_clusters', []))}"
            for b in builds
        )
        or "no builds yet (run `ftui build`)"
    )
    if builds:
        # The newest build against the corrections as they are now: the same line the Data pane shows.
        stale = freshness.stale_text(ws, builds[0])
        data[0]["stale"] = stale
        if stale:
            text += f"\n{stale}: `ftui build` rebuilds"
    emit(args, data, text)
    return EXIT_OK


# -- check -------------------------------------------------------------------------------------


def _optional_ws(args: argparse.Namespace, fallback: Path | None = None) -> Workspace | None:
    """The workspace named with -w, else the one a build was made in (if it is still there)."""
    if args.workspace:
        return load_ws(args)
    if fallback is None or not str(fallback):
        return None
    try:
        return Workspace.load(fallback)
    except FtuiError:
        return None


def _resolve_build(args: argparse.Namespace, ref: str) -> build_store.Build | None:
    p = Path(ref)
    if p.exists():
        return build_store.resolve_build_path(p)
    ws = load_ws(args)
    try:
        return build_store.load_build(ws, None if ref == "latest" else ref)
    except build_store.BuildError as exc:
        fail(str(exc))


def cmd_check(args: argparse.Namespace) -> int:
    target = args.target
    build = None
    if not Path(target).is_file():
        build = _resolve_build(args, target)
        if build is None:
            fail(f"{target}: not a dataset file, a build folder or a build id")
    ws = _optional_ws(args, Path(build.manifest.get("workspace", "")) if build else None)
    model = args.model or (ws.model if ws else EMBEDDED)
    max_length = args.max_length or (ws.build.max_length if ws else 1024)
    near = args.near if args.near is not None else (ws.build.near_duplicate_threshold if ws else 0.9)

    tokenizer = None
    if not args.no_tokens:
        from ftui.core.base.tokens import load_for_model

        tokenizer = load_for_model(model, say=warn)

    extra: list[checks.Reference] = []
    for h in args.heldout or []:
        try:
            extra += checks.references_from_rows(formats.read(h).rows, f"held-out ({Path(h).name})")
        except FtuiError as exc:
            fail(str(exc))
    common = dict(
        tokenizer=tokenizer, model=model, hosted=args.hosted, context_limit=args.context_limit, epochs=args.epochs
    )
    if build is not None:
        if args.near is not None:
            common["near_threshold"] = args.near
        report = checks.check_build(build, ws, max_length=args.max_length, extra_references=extra, **common)
    else:
        path = Path(target)
        refs = list(extra)
        if ws is not None:
            try:
                ids = {r["id"] for r in formats.read(path, args.fmt).rows}
            except FtuiError:
                ids = set()
            refs += checks.benchmark_references(ws, ids)
        report = checks.run_checks(
            path,
            fmt=args.fmt,
            max_length=max_length,
            references=refs,
            near_threshold=near,
            user_template=ws.prompt.user_template if ws else None,
            **common,
        )
    data = report.to_dict()
    if build is not None:
        data["build_id"] = build.id
    emit(args, data, report.text(every_finding=args.every))
    return EXIT_FOUND if report.errors else EXIT_OK


# -- export / import ---------------------------------------------------------------------------


def cmd_export(args: argparse.Namespace) -> int:
    build = _resolve_build(args, args.build)
    if build is None:
        fail(f"{args.build}: not a build folder or build id")
    kind = formats.kind_of(args.fmt)
    name = ("dpo_" if kind == formats.PREFERENCE else "") + args.split
    rows = build.rows(name)
    try:
        written = formats.write(rows, args.output, args.fmt)
    except formats.FormatError as exc:
        fail(str(exc))
    data = {
        "build_id": build.id,
        "format": args.fmt,
        "split": name,
        "rows": len(rows),
        "written": [str(p) for p in written],
    }
    emit(
        args, data, f"wrote {len(rows)} {name} rows of build {build.id} as {args.fmt}: " + ", ".join(map(str, written))
    )
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    try:
        res = formats.read(args.file, args.fmt)
    except formats.FormatError as exc:
        fail(str(exc))
    for p in res.problems[:MAX_LISTED]:
        warn(f"{res.path}:{p.line}: {p.message}")
    if len(res.problems) > MAX_LISTED:
        warn(f"... and {len(res.problems) - MAX_LISTED} more unusable records")
    written = None
    if args.output:
        rows = [{k: v for k, v in r.items() if k != "line"} for r in res.rows]
        from ftui.core.base import fsutil

        if getattr(args, "as_fmt", None):
            try:
                formats.write(rows, args.output, args.as_fmt)
            except formats.FormatError as exc:
                fail(str(exc))
        else:
            fsutil.atomic_write_jsonl(args.output, rows)
        written = args.output
    data = {
        "file": str(res.path),
        "format": res.format,
        "kind": res.kind,
        "rows": len(res.rows),
        "problems": [{"line": p.line, "kind": p.kind, "message": p.message} for p in res.problems],
        "written": written,
    }
    if not args.json and not args.output:
        for r in res.rows:
            print(json.dumps({k: v for k, v in r.items() if k != "line"}, ensure_ascii=False))
        print(
            f"{res.path}: {len(res.rows)} {res.kind} rows ({res.format}), {len(res.problems)} unusable", file=sys.stderr
        )
    else:
        emit(
            args,
            data,
            f"{res.path}: {len(res.rows)} {res.kind} rows ({res.format}), {len(res.problems)} unusable"
            + (f"; written to {written}" if written else ""),
        )
    if not res.rows:
        return 2
    return EXIT_FOUND if res.problems else EXIT_OK
