"""What `ftui init` shows and writes: the preview of a log read as proposed, and its ftui.yaml."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftui.core.base.errors import InputError
from ftui.core.base.formatting import clip, plural
from ftui.core.logs.fields import Fields
from ftui.core.logs.passrule import PassRule, PassRuleConfig, show_grade
from ftui.core.workspace.sniff import Proposal
from ftui.core.workspace.workspace import CONFIG_NAME

if TYPE_CHECKING:
    from ftui.core.logs.items import RunLog


def read_with(prop: Proposal) -> RunLog:
    """The log read exactly as the proposed workspace will read it."""
    from ftui.core.logs.runlog import read_items

    return read_items(prop.files, _fields(prop), PassRule.from_config(prop.rule, ()), prop.source, prop.source_options)


def _fields(prop: Proposal) -> Fields:
    return Fields(**prop.fields)


def preview(prop: Proposal, log: RunLog | None = None, n: int = 3, width: int = 78) -> str:
    log = log if log is not None else read_with(prop)
    rule = PassRule.from_config(prop.rule, ())
    passed = sum(1 for it in log.items if it.failures == 0)
    lines = [
        f"{prop.log}: {prop.tool}, {plural(len(prop.files), 'file')}",
        f"pass rule: {rule.describe()}  ({prop.rule_why})" if prop.rule_why else f"pass rule: {rule.describe()}",
    ]
    for name, path in prop.fields.items():
        lines.append(f"  {name} <- {path}")
    lines += [f"grade: {c}" for c in prop.choices]
    lines += [f"note: {n_}" for n_ in prop.notes]
    runs = f", up to {log.runs} runs a question" if log.runs > 1 else ""
    lines.append(
        f"{len(log.items)} items{runs}: {passed} pass, {len(log.items) - passed} fail; "
        f"{plural(len(log.errors), 'line')} skipped"
    )
    for d in log.errors[:3]:
        lines.append(f"  {d}")
    for it in log.items[:n]:
        verdict = "pass" if it.failures == 0 else "FAIL"
        rep = f" (failed {it.failures}/{it.attempts} runs)" if it.attempts > 1 else ""
        lines.append(f"- {it.id}  grade {show_grade(it.grade)} -> {verdict}{rep}")
        if it.messages:
            lines.append("  " + clip(f"conversation of {len(it.messages)} turns; last user: {it.question}", width - 2))
        else:
            lines.append("  " + clip(f"Q: {it.question}", width - 2))
        lines.append("  " + clip(f"A: {it.answer}", width - 2))
    lines.append(next_step(log))
    return "\n".join(lines)


def failure_groups(log: RunLog) -> list[tuple[str, int]]:
    """The failures' labels, largest first; empty when the log has no label field."""
    from collections import Counter

    counts = Counter(it.label for it in log.items if it.failures and it.label)
    return counts.most_common()


def next_step(log: RunLog, workspace: str = "") -> str:
    """What to run after init: discovery when failures carry no label, else the clusters, named."""
    failing = sum(1 for it in log.items if it.failures)
    where = f" {workspace}" if workspace else ""
    if not failing:
        return "no failures: nothing to cluster yet"
    groups = failure_groups(log)
    if not groups:
        return (
            f"no label field: the {failing} failures are one `unlabeled` cluster until discovery groups them; "
            f"next: ftui discover{where}"
        )
    top = ", ".join(f"{label} ({n})" for label, n in groups[:5])
    more = f" and {len(groups) - 5} more" if len(groups) > 5 else ""
    return f"top clusters: {top}{more}; next: ftui clusters{where}"


def yaml_text(prop: Proposal) -> str:
    from ftui.core.base.models import EMBEDDED

    def q(v: Any) -> str:
        return json.dumps(v, ensure_ascii=False)

    out = [
        f"# Written by `ftui init` from {prop.log.name}: {prop.tool}.",
        "# Every key is documented in the README (A workspace, Bring your own eval log).",
        "",
        "# The graded run log: a file, a list of files, a glob or a folder (one file per run of the benchmark).",
        f"run_log: {q(prop.run_log)}",
    ]
    if prop.source:
        out += [
            "# Read as the tool writes it; ids, prompts, answers and grades come from its own fields.",
            f"source: {prop.source}",
        ]
    if prop.source_options:
        out += [
            "# Which of the tool's grades, filters or sides is read (see `ftui init`'s preview for the others).",
            "source_options:",
        ]
        out += [f"  {k}: {q(v)}" for k, v in prop.source_options.items()]
    if prop.fields:
        out += [
            "# Where each field is in this log (dotted paths reach into nested records; 0 is the first item of a list).",
            "fields:",
        ]
        out += [f"  {k}: {q(v)}" for k, v in prop.fields.items()]
    rule = prop.rule or PassRuleConfig(values=[True])
    out.append(f"# Which grades pass: {prop.rule_why}." if prop.rule_why else "# Which grades pass.")
    if rule.values is not None:
        out.append(f"pass_rule: {{values: [{', '.join(q(v) for v in rule.values)}]}}")
    else:
        parts = [f"at_least: {rule.at_least:g}"] if rule.at_least is not None else []
        parts += [f"at_most: {rule.at_most:g}"] if rule.at_most is not None else []
        out.append(f"pass_rule: {{{', '.join(parts)}}}")
    if not prop.has_evidence:
        out += [
            "# For items logged without their exact prompt or conversation: the question as asked.",
            "prompt:",
            '  default_system: "You are a helpful assistant."',
            '  user_template: "{question}"',
        ]
    if prop.has_tools:
        out += [
            "# Requests declare tools: an answer is graded as a call (right tool, every argument equal).",
            "eval:",
            "  grader: {kind: tool_call, arguments: equal}",
        ]
    out += [
        "# A cluster with this many failures is a fine-tuning candidate.",
        "candidate_threshold: 5",
        "# With several runs: count only items that failed in at least this share of their runs (0 to 1).",
        "min_repeat_rate: 0",
        f"model: {EMBEDDED}",
        "",
    ]
    return "\n".join(out)


def write_config(prop: Proposal, workspace: Path | str | None, force: bool = False) -> Path:
    root = Path(workspace).expanduser().resolve() if workspace else (prop.log if prop.log.is_dir() else prop.log.parent)
    cfg = root / CONFIG_NAME
    if cfg.exists() and not force:
        raise InputError(cfg, None, "already exists; pass --force to replace it")
    root.mkdir(parents=True, exist_ok=True)
    from ftui.core.base.fsutil import atomic_write_text

    atomic_write_text(cfg, yaml_text(prop))
    return cfg
