"""lm-evaluation-harness per-sample logs: `samples_<task>_<date>.jsonl` (`--log_samples`).

Each line: `doc_id`, `doc` (the dataset row), `target`, `arguments` ({"gen_args_0": {"arg_0": context,
"arg_1": gen_kwargs or a continuation}, ...}), `resps` / `filtered_resps`, `filter`, `metrics` (the
metric names) and each metric's value (0/1 for exact_match, acc, ...). For loglikelihood and
multiple-choice tasks nothing was generated: the answer is the choice the model ranked first
(`filtered_resps` holds one [loglikelihood, is_greedy] pair per choice).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ftui.core.base.chat import as_conversation
from ftui.core.logs.passrule import PassRuleConfig
from ftui.core.logs.records import Diagnostic, jsonl_records
from ftui.core.logs.sources.source import Converted, Records, Source, mapping, not_format

_NAME = re.compile(r"^samples_(?P<task>.+?)_(?P<date>\d{4}-\d{2}-\d{2}T[\d\-.:]+)\.jsonl$")
# A doc's question under the names the harness's tasks use most.
_QUESTION_KEYS = ("question", "query", "problem", "input", "prompt", "ctx", "sentence", "text", "goal")


def task_of(path: Path) -> str:
    m = _NAME.match(path.name)
    return m.group("task") if m else path.stem.removeprefix("samples_")


def _args(sample: dict[str, Any]) -> list[list[Any]]:
    args = sample.get("arguments")
    if isinstance(args, dict):  # as written to the file: {"gen_args_0": {"arg_0": ..., "arg_1": ...}}
        out = []
        for key in sorted(args, key=lambda k: int(k.rsplit("_", 1)[-1]) if k.rsplit("_", 1)[-1].isdigit() else 0):
            a = args[key]
            if isinstance(a, dict):
                out.append([a[k] for k in sorted(a, key=lambda k: int(k.rsplit("_", 1)[-1]))])
        return out
    if isinstance(args, list):  # the in-memory form some exports keep: [[context, gen_kwargs], ...]
        return [a if isinstance(a, list) else [a] for a in args]
    return []


def _prompt(context: Any) -> Any:
    if isinstance(context, str) and context.startswith("[{"):
        # Chat-completion backends log the conversation as a JSON string of messages.
        try:
            msgs = json.loads(context)
        except json.JSONDecodeError:
            return context
        if as_conversation(msgs) is not None:
            return msgs
    return context


def _metric(sample: dict[str, Any]) -> tuple[str, Any] | None:
    names = sample.get("metrics")
    names = names if isinstance(names, list) else []
    for name in [*names, "exact_match", "acc", "acc_norm", "pass@1"]:
        v = sample.get(name)
        if isinstance(v, (int, float)):
            return name, v
    return None


def to_record(sample: Any, task: str) -> Converted:
    if not isinstance(sample, dict) or "doc_id" not in sample:
        return None, "no `doc_id`: not a line of samples_<task>_<date>.jsonl"
    args = _args(sample)
    if not args:
        return None, "no `arguments`"
    metric = _metric(sample)
    if metric is None:
        return None, "no numeric metric field (exact_match, acc, ...)"
    name, value = metric
    context = args[0][0] if args[0] else ""
    doc = mapping(sample.get("doc"))
    target = sample.get("target")
    filtered = sample.get("filtered_resps")
    generated = len(args[0]) < 2 or isinstance(args[0][1], dict)
    note = f"{name} = {value:g}"
    if generated:
        out = filtered[0] if isinstance(filtered, list) and filtered else filtered
        while isinstance(out, list) and out:
            out = out[0]
        answer = out if isinstance(out, str) else json.dumps(out)
        expected = target if isinstance(target, str) else json.dumps(target)
    else:
        choices = [a[1] if len(a) > 1 and isinstance(a[1], str) else "" for a in args]
        scores = [r[0] if isinstance(r, list) and r else r for r in (filtered or [])]
        if len(choices) == 1:
            greedy = bool(filtered and isinstance(filtered[0], list) and len(filtered[0]) > 1 and filtered[0][1])
            answer = choices[0].strip() if greedy else ""
            note += (
                "; the target was the model's greedy continuation"
                if greedy
                else "; the target was not its greedy continuation"
            )
            expected = choices[0].strip()
        else:
            if not scores or not all(isinstance(s, (int, float)) for s in scores):
                return None, "`filtered_resps` has no loglikelihood per choice"
            best = max(range(len(scores)), key=scores.__getitem__)
            answer = choices[best].strip()
            gold = str(target).strip()
            expected = choices[int(gold)].strip() if gold.isdigit() and int(gold) < len(choices) else gold
            note += f"; ranked choice {best} first of {len(choices)}"
    question = next((doc[k] for k in _QUESTION_KEYS if isinstance(doc.get(k), str)), None)
    prompt = _prompt(context)
    if sample.get("filter") not in (None, "none"):
        note += f" (filter {sample['filter']})"
    return {
        "question_id": f"{task}/{sample['doc_id']}",
        "question": question,
        "prompt": prompt,
        "answer": answer,
        "expected_answer": expected,
        "grade": value,
        "grade_reason": note,
        "task": task,
        "record": sample,
    }, ""


def records(path: Path, diags: list[Diagnostic]) -> Records:
    task = task_of(path)
    chosen_filter = None
    skipped_filters: set[Any] = set()
    for line, sample in jsonl_records(path, diags):
        flt = sample.get("filter") if isinstance(sample, dict) else None
        # A task with several filters logs each doc once per filter; the first filter is the answer.
        if chosen_filter is None:
            chosen_filter = flt
        elif flt is not None and flt != chosen_filter:
            if flt not in skipped_filters:
                skipped_filters.add(flt)
                diags.append(
                    Diagnostic(
                        path,
                        line,
                        f"rows of filter {flt!r} left out (reading filter {chosen_filter!r})",
                        "other_filter",
                        "warning",
                    )
                )
            continue
        rec, why = to_record(sample, task)
        if rec is None:
            if line == 1 and why.startswith("no `doc_id`"):
                diags.append(not_format(path, "lm-evaluation-harness", why))
                return
            diags.append(Diagnostic(path, line, why, "not_source_format"))
            continue
        yield path, line, rec


def looks_like(rec: Any) -> bool:
    return isinstance(rec, dict) and "doc_id" in rec and ("filtered_resps" in rec or "resps" in rec)


SOURCE = Source(
    name="lm_eval",
    title="lm-evaluation-harness samples",
    patterns=("samples_*.jsonl",),
    rule=PassRuleConfig(at_least=1.0),
    records=records,
    looks_like=looks_like,
)
