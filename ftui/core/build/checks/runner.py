"""Running every check on a file, a list of rows or a build, in the order each needs."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftui.core.build import formats
from ftui.core.build.checks.examples import DEFAULT_PATTERN, template_pattern
from ftui.core.build.checks.hosted_estimate import DEFAULT_CONTEXT_LIMIT, hosted_estimate
from ftui.core.build.checks.lengths import token_stats
from ftui.core.build.checks.overlap import (
    Reference,
    benchmark_references,
    find_duplicates,
    find_leaks,
    references_from_rows,
)
from ftui.core.build.checks.report import ERROR, CheckReport, Ctx
from ftui.core.build.checks.rules import QualityLimits, check_messages, check_quality
from ftui.core.build.toolrows import call_findings

if TYPE_CHECKING:
    from ftui.core.workspace.workspace import Workspace


def run_checks(
    source: Any,
    *,
    fmt: str | None = None,
    tokenizer: Any = None,
    model: str | None = None,
    max_length: int = 1024,
    references: Sequence[Reference] = (),
    near_threshold: float = 0.9,
    limits: QualityLimits = QualityLimits(),
    hosted: bool = False,
    context_limit: int = DEFAULT_CONTEXT_LIMIT,
    epochs: int | None = None,
    label: str | None = None,
    user_template: str | None = None,
) -> CheckReport:
    """Check a file (any supported format) or a list of rows.

    `tokenizer` is a `ftui.core.base.tokens.ChatTokenizer` (or anything with count/count_many); without
    one, token statistics, truncation and the hosted estimate are skipped. `references` are the
    held-out and benchmark prompts the training rows must not match.
    """
    t0 = time.perf_counter()
    if isinstance(source, (str, Path)):
        res = formats.read(source, fmt)
        fmt, rows, problems = res.format, res.rows, res.problems
        name = label if label is not None else _display(Path(source))
        raw_keys = fmt in (
            "openai-chat",
            "trl-messages",
            "openai-preference",
            "trl-preference",
            "trl-prompt-completion",
        )
    else:
        records = [(i + 1, r) for i, r in enumerate(source)]
        fmt = fmt or (formats.detect_format(records) if records else "trl-messages")
        rows, problems = formats.normalise(records, fmt)
        for r in rows:
            if "id" not in (records[r["line"] - 1][1] or {}):
                r["id"] = f"row {r['line']}"
        name = label or ""
        raw_keys = True
        if not label:
            for r in rows:
                r.pop("line", None)
    ctx = Ctx(name, rows, template_pattern(user_template) if user_template else DEFAULT_PATTERN)
    for p in problems:  # records that could not be read as this format at all
        ctx.add(ERROR, p.kind, ctx.where(p.line), p.message)
    for i, row in enumerate(rows):
        check_messages(ctx, i, row, raw_keys)
    good = [i for i in range(len(rows)) if i not in ctx.bad]
    for i in good:
        check_quality(ctx, rows[i], limits)
        for kind, message in call_findings(rows[i]):
            ctx.add(ERROR, kind, ctx.where(rows[i]), message, rows[i].get("id"))
            ctx.bad.add(i)
    good = [i for i in good if i not in ctx.bad]
    tokens = None
    per_row: dict[int, int] = {}
    if tokenizer is not None and good:
        tokens, per_row = token_stats(ctx, rows, good, tokenizer, max_length)
        good = [i for i in good if i not in ctx.bad]
    find_duplicates(ctx, rows, good, near_threshold)
    find_leaks(ctx, rows, good, references, near_threshold)
    hosted_info = None
    if hosted and tokens is not None:
        hosted_info = hosted_estimate([per_row[i] for i in good if i in per_row], context_limit, epochs)
        hosted_info["note"] = (
            f"counted with the {model or 'target'} tokenizer; the hosted model's own tokenizer differs a little"
        )
    # Report in file order, so a reader can walk the file top to bottom.
    ranked = sorted(enumerate(ctx.findings), key=lambda kf: (_line_of(kf[1].where), kf[0]))
    ctx.findings = [f for _, f in ranked]
    return CheckReport(
        source=name or "rows",
        format=fmt,
        examples=len(rows) + sum(p.kind != "empty_file" for p in problems),
        findings=ctx.findings,
        tokens=tokens,
        hosted=hosted_info,
        model=model,
        seconds=time.perf_counter() - t0,
    )


def _display(path: Path) -> str:
    """A path as short as it can be while still opening from here: `file:line` is for editors."""
    try:
        rel = path.resolve().relative_to(Path.cwd().resolve())
    except (ValueError, OSError):
        return str(path)
    return str(rel) if path.is_absolute() else str(path)


def _line_of(where: str) -> int:
    tail = where.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def check_build(
    build: Any,
    ws: Workspace | None = None,
    *,
    tokenizer: Any = None,
    model: str | None = None,
    max_length: int | None = None,
    extra_references: Sequence[Reference] = (),
    **kwargs: Any,
) -> CheckReport:
    """Check a build's training rows against its own held-out rows and, with a workspace, the benchmark.

    `build` is a `ftui.core.build.store.Build`; the TUI and `ftui check BUILD` both come through here.
    """
    refs = references_from_rows(build.rows("eval"), "held-out")
    refs += references_from_rows(build.rows("validation"), "validation")
    if ws is not None:
        used = set(build.manifest.get("train_ids", [])) | set(build.manifest.get("eval_ids", []))
        used |= set(build.manifest.get("validation_ids", []))
        refs += benchmark_references(ws, used)
    refs += list(extra_references)
    if max_length is None:
        max_length = (build.manifest.get("options") or {}).get("max_length") or (ws.build.max_length if ws else 1024)
    if "near_threshold" not in kwargs:
        opt = (build.manifest.get("options") or {}).get("near_duplicate_threshold")
        if opt is not None:
            kwargs["near_threshold"] = opt
    if ws is not None:
        kwargs.setdefault("user_template", ws.prompt.user_template)
    return run_checks(
        build.train_path, tokenizer=tokenizer, model=model, max_length=max_length, references=refs, **kwargs
    )
