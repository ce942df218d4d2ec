"""Eval tools' own files, read as each tool writes them, into ftui's items.

A source turns a tool's file into records with ftui's field names (`question_id`, `prompt`,
`answer`, `expected_answer`, `grade`, `grade_reason`, `task`, `failure_label`, ...) and keeps the
tool's own record under `record`, so a workspace can still map a field of its own
(`fields: {failure_label: record.doc.subject}`). Each source presets the pass rule its tool
means; `ftui init` writes both into ftui.yaml.
"""

from __future__ import annotations

from pathlib import Path

from ftui.core.base.errors import FtuiError
from ftui.core.logs.passrule import PassRuleConfig
from ftui.core.logs.sources import (
    alpaca_eval,
    inspect_log,
    lm_eval,
    mt_bench,
    mt_bench_pair,
    openai_evals,
    pairwise,
    promptfoo,
)
from ftui.core.logs.sources.source import (
    Converted,
    Options,
    Records,
    Source,
    first_record,
    mapping,
    not_format,
    sequence,
)

SOURCES: dict[str, Source] = {
    m.SOURCE.name: m.SOURCE
    for m in (lm_eval, promptfoo, inspect_log, openai_evals, mt_bench, mt_bench_pair, alpaca_eval, pairwise)
}

__all__ = [
    "SOURCES",
    "Converted",
    "Options",
    "Records",
    "Source",
    "check_options",
    "detect",
    "get_source",
    "mapping",
    "not_format",
    "preset_rule",
    "sequence",
]


def get_source(name: str) -> Source:
    if name not in SOURCES:
        raise FtuiError(f"unknown source {name!r}; one of {', '.join(SOURCES)}")
    return SOURCES[name]


def preset_rule(name: str | None) -> PassRuleConfig | None:
    return SOURCES[name].rule if name in SOURCES else None


def check_options(name: str | None, files: list[Path], options: Options) -> str | None:
    """What is wrong with `source_options` for this source and these files (one line), or None."""
    if name is None:
        return "source_options needs a `source:` (an eval tool's files)"
    src = get_source(name)
    if src.check is None:
        keys = ", ".join(options)
        return f"source_options: {name} reads no options (got {keys})"
    return src.check(files, options)


def detect(path: Path) -> str | None:
    """The tool that wrote this file, or None for a plain log."""
    rec = first_record(path)
    if rec is None:
        return None
    for src in SOURCES.values():
        try:
            if src.looks_like(rec):
                return src.name
        except (AttributeError, TypeError, KeyError):
            continue
    return None
