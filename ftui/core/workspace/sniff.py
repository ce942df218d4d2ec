"""`ftui init`: look at a log, say how ftui will read it, and write the ftui.yaml that does.

A log written by a known eval tool is recognised (ftui/core/sources) and gets that tool's source
and pass rule. Any other JSONL or JSON array is read by field names and value types: the id, the
question or message list, the answer, the grade and its kind decide the mapping and the pass rule.
The preview reads the log exactly as the workspace will, so its counts are the ones `ftui
clusters` shows.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftui.core.base import toolcalls
from ftui.core.base.chat import as_conversation
from ftui.core.base.errors import InputError
from ftui.core.logs.fields import Fields
from ftui.core.logs.passrule import PassRule, PassRuleConfig
from ftui.core.logs.records import Diagnostic, array_records, document_records, jsonl_records, read_text

if TYPE_CHECKING:
    from ftui.core.logs.items import Item

# Field names seen in eval logs, best first, per ftui field.
_NAMES: dict[str, tuple[str, ...]] = {
    "question_id": ("question_id", "id", "qid", "sample_id", "example_id", "uid", "doc_id", "task_id", "idx"),
    "prompt": ("messages", "conversation", "chat", "prompt_messages", "prompt"),
    "question": ("question", "query", "input", "problem", "instruction", "user_input", "prompt"),
    "answer": (
        "answer",
        "output",
        "response",
        "completion",
        "prediction",
        "model_answer",
        "generation",
        "generated",
        "sampled",
        "model_output",
    ),
    "expected_answer": (
        "expected_answer",
        "expected",
        "target",
        "reference",
        "gold",
        "ground_truth",
        "ideal",
        "correct_answer",
    ),
    "grade": (
        "grade",
        "score",
        "passed",
        "pass",
        "correct",
        "is_correct",
        "success",
        "verdict",
        "rating",
        "result",
        "exact_match",
        "acc",
    ),
    "failure_label": ("failure_label", "failure_mode", "error_type", "error_category"),
    "task": ("task", "task_type", "category", "subject", "type"),
    "system_prompt": ("system_prompt", "system"),
    "retrieval_hit": ("retrieval_hit",),
    "evidence_text": ("evidence_text", "context", "evidence"),
    "evidence_files": ("evidence_files",),
    "grade_reason": ("grade_reason", "explanation", "reason", "judgment", "rationale"),
    "tools": ("tools", "functions", "tool_definitions", "available_tools"),
}
# Containers whose leaves hold a field: (field, container names, leaf names or () for any).
_NESTED = (
    (
        "grade",
        ("scores", "score", "grading", "judge", "eval", "evaluation", "result", "results"),
        ("value", "score", "rating", "passed", "pass", "correct"),
    ),
    ("answer", ("choices", "turns", "output", "response", "completion", "message"), ()),
    ("grade_reason", ("scores", "score", "grading", "judge", "eval"), ("explanation", "reason", "rationale")),
)
_PASS_WORDS = ("correct", "acceptable", "pass", "passed", "yes", "true", "right", "good", "c", "ok", "success")
# A log of failures only names no passing grade; the word its tool would use for one is the opposite.
_FAIL_TO_PASS = {
    "incorrect": "correct",
    "unacceptable": "acceptable",
    "fail": "pass",
    "failed": "passed",
    "no": "yes",
    "false": "true",
    "wrong": "right",
    "bad": "good",
    "i": "c",
    "failure": "success",
}
SAMPLE = 500


@dataclass
class Proposal:
    log: Path  # what the user pointed at
    run_log: str | list[str]  # as written into ftui.yaml, relative to the workspace
    files: list[Path]
    source: str | None
    fields: dict[str, str] = field(default_factory=dict)  # only what differs from the defaults
    rule: PassRuleConfig | None = None
    rule_why: str = ""
    notes: list[str] = field(default_factory=list)
    has_evidence: bool = False  # the log carries retrieved evidence for the prompt template
    has_tools: bool = False  # requests declare tools: answers are read as calls
    # A tool's choices (the metric, the filter, the model's side), as written into ftui.yaml.
    source_options: dict[str, Any] = field(default_factory=dict)
    choices: list[str] = field(default_factory=list)  # what the tool's reader chose, for the preview

    @property
    def tool(self) -> str:
        if self.source is None:
            return "a plain log (mapping guessed from field names)"
        from ftui.core.logs.sources import SOURCES

        return SOURCES[self.source].title


def propose(log: Path | str, workspace: Path | str | None = None, options: dict[str, Any] | None = None) -> Proposal:
    from ftui.core.logs.logfiles import folder_logs
    from ftui.core.logs.sources import SOURCES, detect

    log = Path(log).expanduser().resolve()
    if not log.exists():
        raise InputError(log, None, "no such file or folder")
    ws_root = Path(workspace).expanduser().resolve() if workspace else (log if log.is_dir() else log.parent)
    if log.is_dir():
        by_tool: dict[str, list[Path]] = {}
        for name in SOURCES:
            for f in folder_logs(log, name):
                if detect(f) == name:
                    by_tool.setdefault(name, []).append(f)
        if by_tool:
            source = max(by_tool, key=lambda k: len(by_tool[k]))
            files = sorted(set(by_tool[source]))
            src = SOURCES[source]
            # A folder entry reads the tool's file names under it, so later runs join by themselves.
            whole = set(folder_logs(log, source)) == set(files)
            run_log = _rel(log, ws_root) if whole else [_rel(f, ws_root) for f in files]
            prop = Proposal(log, run_log, files, source)
            if not whole:
                prop.notes.append(f"several tools' files in {log}: reading the {src.title} ones")
        else:
            files = folder_logs(log, None)
            if not files:
                raise InputError(log, None, "no .jsonl or .json log in this folder")
            prop = Proposal(log, _rel(log, ws_root), files, None)
    else:
        prop = Proposal(log, _rel(log, ws_root), [log], detect(log))
    if options:
        from ftui.core.logs.sources import check_options

        problem = check_options(prop.source, prop.files, options)
        if problem:
            for key in options:
                problem = problem.replace(f"source_options.{key}", f"--{key}")
            raise InputError(prop.files[0], 1, problem)
        prop.source_options = dict(options)
    if prop.source is not None:
        explain = SOURCES[prop.source].explain
        prop.choices = explain(prop.files, prop.source_options) if explain else []
        prop.rule = _tool_rule(prop, prop.source)
    else:
        _guess_mapping(prop)
    return prop


def _rel(p: Path, root: Path) -> str:
    try:
        return str(p.relative_to(root)) or "."
    except ValueError:
        return os.path.relpath(p, root)


def _tool_rule(prop: Proposal, source: str) -> PassRuleConfig:
    from ftui.core.logs.runlog import read_items
    from ftui.core.logs.sources import SOURCES

    preset = SOURCES[source].rule
    everything = PassRule(at_least=float("-inf"))
    grades = _grades_of(
        read_items(prop.files, source=source, rule=everything, source_options=prop.source_options).items
    )
    # An agent eval's records declare tools (inspect_ai's model events): its answers are graded as calls.
    prop.has_tools = _declares_tools(prop.files, source)
    if prop.has_tools:
        prop.notes.append("requests declare tools: answers are read and graded as tool calls")
    # inspect scorers can score in numbers or true/false instead of letters.
    if preset.values is not None and grades and not any(_matches_kind(g, preset.values) for g in grades):
        cfg, why = _rule_for(grades)
        prop.rule_why = why
        return cfg
    # A preset meant for 0/1 grades says nothing about a continuous score chosen instead.
    if preset.at_least == 1 and grades and not all(g in (0, 1) for g in grades if not isinstance(g, str)):
        cfg, why = _rule_for(grades)
        prop.rule_why = why
        return cfg
    prop.rule_why = f"the {SOURCES[source].title} convention"
    return preset


def _declares_tools(files: list[Path], source: str) -> bool:
    """Whether a tool's records (the first few hundred) declare tools."""
    from itertools import islice

    from ftui.core.logs.sources import SOURCES

    records = SOURCES[source].records
    for f in files:
        diags: list[Diagnostic] = []
        if any(
            isinstance(rec, dict) and rec.get("tools") for _, _, rec in islice(records(f, diags, options=None), SAMPLE)
        ):
            return True
    return False


def _matches_kind(g: Any, values: list[Any]) -> bool:
    return any(type(g) is type(v) for v in values)


def _grades_of(items: Iterable[Item]) -> list[Any]:
    return [it.grade for it in items if it.grade is not None][:SAMPLE]


def _sample_records(path: Path) -> list[dict[str, Any]]:
    diags: list[Diagnostic] = []
    with open(path, "rb") as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"["):
        recs = array_records(path, read_text(path, diags), diags)
    else:
        recs = document_records(path, diags) or jsonl_records(path, diags)
    out: list[dict[str, Any]] = []
    for _, obj in recs:
        if isinstance(obj, dict):
            out.append(obj)
        if len(out) >= SAMPLE:
            break
    return out


def _paths(obj: Any, prefix: str = "", depth: int = 0, out: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every field path of a record (lists by their first item), to a depth of 5."""
    out = {} if out is None else out
    if isinstance(obj, dict) and depth < 5:
        for k, v in obj.items():
            if not isinstance(k, str):
                continue
            p = f"{prefix}{k}"
            out[p] = v
            # A conversation or a tool list is one field: its `type` or `name` is not the record's.
            if as_conversation(v) is None and k not in _NAMES["tools"]:
                _paths(v, p + ".", depth + 1, out)
    elif isinstance(obj, list) and obj and depth < 5:
        p = f"{prefix}0"
        out[p] = obj[0]
        _paths(obj[0], p + ".", depth + 1, out)
    return out


def _fits(name: str, v: Any) -> bool:
    if name == "question_id":
        return isinstance(v, (str, int)) and not isinstance(v, bool)
    if name == "prompt":
        return as_conversation(v) is not None or isinstance(v, str)
    if name == "grade":
        return isinstance(v, (str, int, float, bool))
    if name == "retrieval_hit":
        return isinstance(v, bool)
    if name == "evidence_files":
        return isinstance(v, (list, str))
    if name == "tools":
        try:
            return bool(toolcalls.normalise_tools(v))
        except toolcalls.ToolError:
            return False
    if name in ("answer", "expected_answer"):
        return isinstance(v, (str, int, float, dict, list)) and not isinstance(v, bool)
    return isinstance(v, str)


def _guess_mapping(prop: Proposal) -> None:
    recs = _sample_records(prop.files[0])
    if not recs:
        raise InputError(prop.files[0], 1, "no JSON object records to read a mapping from")
    paths: dict[str, Any] = {}
    for r in recs[:20]:
        for p, v in _paths(r).items():
            paths.setdefault(p, v)
    taken: set[str] = set()
    chosen: dict[str, str] = {}
    for name in ("question_id", "prompt", "question", "answer", "expected_answer", "grade", *_NAMES):
        if name in chosen:
            continue
        for want in _NAMES[name]:
            # Shallow paths first: `answer` beats `doc.answer`.
            hits = sorted(
                (p for p in paths if p.rsplit(".", 1)[-1] == want and p not in taken), key=lambda p: p.count(".")
            )
            hit = next((p for p in hits if _fits(name, paths[p])), None)
            if hit is None:
                continue
            if name == "prompt" and as_conversation(paths[hit]) is None:
                continue  # a text prompt is read as the question unless the log also has one
            chosen[name] = hit
            taken.add(hit)
            break
    # Nested layouts name the container, not the leaf: `scores.judge.value`, `choices.0.turns.0`.
    for name, parents, leaves in _NESTED:
        if name in chosen:
            continue
        hits = sorted(
            (
                p
                for p in paths
                if p not in taken
                and "." in p
                and any(seg in parents for seg in p.split(".")[:-1])
                and (not leaves or p.rsplit(".", 1)[-1] in leaves)
                and _fits(name, paths[p])
                and not isinstance(paths[p], (dict, list))
            ),
            key=lambda p: p.count("."),
        )
        if hits:
            chosen[name] = hits[0]
            taken.add(hits[0])
    if "failure_label" not in chosen and "task" in chosen:
        # A category is the best grouping a log without failure labels has.
        chosen["failure_label"] = chosen["task"]
        prop.notes.append(f"clusters follow `{chosen['task']}` until the log has a failure label")
    conv = as_conversation(paths.get(chosen.get("prompt", "")))
    if "answer" not in chosen and conv and conv[-1][0] == "assistant":
        prop.notes.append(f"the answer is the final assistant message of `{chosen['prompt']}`")
    for name in ("question_id", "grade"):
        if name not in chosen:
            raise InputError(
                prop.files[0],
                1,
                f"cannot tell which field is the {name.replace('_', ' ')} "
                f"(looked for {', '.join(_NAMES[name][:6])}); write `fields:` by hand",
            )
    defaults = Fields()
    prop.fields = {k: v for k, v in chosen.items() if getattr(defaults, k) != v}
    prop.has_evidence = "evidence_text" in chosen
    prop.has_tools = "tools" in chosen
    if prop.has_tools:
        prop.notes.append(f"requests declare tools (`{chosen['tools']}`): answers are read and graded as tool calls")
    grades = []
    for r in recs:
        g: Any = r
        for seg in chosen["grade"].split("."):
            g = (
                g[int(seg)]
                if isinstance(g, list) and seg.isdigit() and int(seg) < len(g)
                else (g.get(seg) if isinstance(g, dict) else None)
            )
        if g is not None:
            grades.append(g)
    prop.rule, prop.rule_why = _rule_for(grades)


def _rule_for(grades: list[Any]) -> tuple[PassRuleConfig, str]:
    if not grades:
        return PassRuleConfig(values=[True]), "no grades seen: true passes"
    if all(isinstance(g, bool) for g in grades):
        return PassRuleConfig(values=[True]), "true/false grades: true passes"
    nums = [g for g in grades if isinstance(g, (int, float)) and not isinstance(g, bool)]
    if len(nums) == len(grades):
        lo, hi = min(nums), max(nums)
        if set(nums) <= {0, 1}:
            return PassRuleConfig(at_least=1), "0/1 scores: 1 passes"
        if lo >= 0 and hi <= 1:
            return PassRuleConfig(at_least=0.5), f"scores from {lo:g} to {hi:g}: at least 0.5 passes (edit to taste)"
        if lo >= 1 and hi <= 10:
            return PassRuleConfig(
                at_least=7
            ), f"scores from {lo:g} to {hi:g} (a 1-10 scale): at least 7 passes (edit to taste)"
        mid = sorted(nums)[len(nums) // 2]
        return PassRuleConfig(
            at_least=mid
        ), f"scores from {lo:g} to {hi:g}: at least the median {mid:g} passes (edit to taste)"
    texts = sorted({g for g in grades if isinstance(g, str)})
    passing = [t for t in texts if t.lower() in _PASS_WORDS]
    if passing:
        return PassRuleConfig(values=passing), f"text grades {', '.join(texts[:8])}: {', '.join(passing)} pass"
    if all(t.lower() in _FAIL_TO_PASS for t in texts):
        # Keep the log's own case: `INCORRECT` passes as `CORRECT`.
        opposite = [_FAIL_TO_PASS[t.lower()] if t.islower() else _FAIL_TO_PASS[t.lower()].upper() for t in texts]
        return PassRuleConfig(values=opposite), (
            f"text grades {', '.join(texts[:8])}: only failures seen; {', '.join(opposite)} would pass"
        )
    return PassRuleConfig(values=texts[:1]), (
        f"text grades {', '.join(texts[:8])}: none reads as a pass; `{texts[0]}` passes until you edit pass_rule"
    )
