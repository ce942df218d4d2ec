"""lm-evaluation-harness per-sample logs: `samples_<task>_<date>.jsonl` (`--log_samples`).

Each line: `doc_id`, `doc` (the dataset row), `target`, `arguments` ({"gen_args_0": {"arg_0": context,
"arg_1": gen_kwargs or a continuation}, ...}), `resps` / `filtered_resps`, `filter`, `metrics` (the
metric names) and each metric's value (0/1 for exact_match, acc, bleu_acc; continuous for bleu_max,
rouge1_max, ...). The evaluator writes one line per filter and doc, filter after filter. For loglikelihood and
multiple-choice tasks nothing was generated: the answer is the choice the model ranked first
(`filtered_resps` holds one [loglikelihood, is_greedy] pair per choice).
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftui.core.base.chat import as_conversation
from ftui.core.logs.passrule import PassRuleConfig
from ftui.core.logs.records import Diagnostic, jsonl_records
from ftui.core.logs.sources.source import (
    Converted,
    Options,
    Records,
    Source,
    mapping,
    nearest,
    not_format,
    unknown_options,
)

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


_FALLBACK_METRICS = ("exact_match", "acc", "acc_norm", "pass@1")


def _is_binary(v: Any) -> bool:
    return isinstance(v, (bool, int, float)) and v in (0, 1)


@dataclass(frozen=True)
class MetricChoice:
    """Which per-item metric is an item's grade, among the file's metrics, and why."""

    chosen: str | None
    binary: bool
    metrics: tuple[str, ...]  # every numeric per-item metric, in the file's order
    binary_metrics: tuple[str, ...]
    why: str


def metric_names(samples: list[Any]) -> tuple[list[str], list[str]]:
    """The file's numeric per-item metrics in its order, and those that are 0/1 on every item."""
    names: dict[str, bool] = {}
    for s in samples:
        if not isinstance(s, dict):
            continue
        listed = s.get("metrics")
        for name in [*(listed if isinstance(listed, list) else []), *_FALLBACK_METRICS]:
            v = s.get(name) if isinstance(name, str) else None
            if isinstance(v, (int, float)):
                names[name] = names.get(name, True) and _is_binary(v)
    return list(names), [n for n, b in names.items() if b]


def choose_metric(samples: list[Any], wanted: str | None) -> MetricChoice:
    """A 0/1 metric (the file's own pass/fail) before a continuous score, unless one is named."""
    names, binary = metric_names(samples)
    if wanted is not None:
        return MetricChoice(wanted, wanted in binary, tuple(names), tuple(binary), "named in source_options")
    if binary:
        why = "the first 0/1 metric" + (", before the continuous ones" if len(binary) < len(names) else "")
        return MetricChoice(binary[0], True, tuple(names), tuple(binary), why)
    if names:
        return MetricChoice(names[0], False, tuple(names), (), "no 0/1 metric: the first continuous one")
    return MetricChoice(None, False, (), (), "no numeric metric")


def to_record(sample: Any, task: str, metric: str | None = None) -> Converted:
    if not isinstance(sample, dict) or "doc_id" not in sample:
        return None, "no `doc_id`: not a line of samples_<task>_<date>.jsonl"
    args = _args(sample)
    if not args:
        return None, "no `arguments`"
    if metric is None:
        metric = choose_metric([sample], None).chosen
    value = sample.get(metric) if metric is not None else None
    if not isinstance(value, (int, float)):
        return (
            None,
            f"no numeric `{metric}` on this line" if metric else "no numeric metric field (exact_match, acc, ...)",
        )
    name = metric
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


def _filters(samples: list[Any]) -> list[Any]:
    return list(dict.fromkeys(s.get("filter") for s in samples if isinstance(s, dict)))


def records(path: Path, diags: list[Diagnostic], options: Options | None = None) -> Records:
    """Every line of every filter (a task's filters answer each doc once each), or the named filter's.

    In a folder of several tasks a named filter or metric applies to the files that have it; the
    others keep their own choice.
    """
    opts = options or {}
    task = task_of(path)
    rows = list(jsonl_records(path, diags))
    filters = _filters([s for _, s in rows])
    wanted = opts.get("filter") if opts.get("filter") in filters else None
    if wanted is not None:
        rows = [(line, s) for line, s in rows if not isinstance(s, dict) or s.get("filter") == wanted]
    samples = [s for _, s in rows]
    # One item per doc and filter when the file has several and none is named.
    per_filter = wanted is None and len([f for f in filters if f is not None]) > 1
    names, _ = metric_names(samples)
    metric = choose_metric(samples, opts.get("metric") if opts.get("metric") in names else None).chosen
    for line, sample in rows:
        rec, why = to_record(sample, task, metric)
        if rec is None:
            if line == rows[0][0] and why.startswith("no `doc_id`"):
                diags.append(not_format(path, "lm-evaluation-harness", why))
                return
            diags.append(Diagnostic(path, line, why, "not_source_format"))
            continue
        if per_filter:
            rec["question_id"] += f"/{sample.get('filter')}"
        yield path, line, rec


def _samples(files: list[Path]) -> list[tuple[Path, list[Any]]]:
    return [(f, [s for _, s in jsonl_records(f, [])]) for f in files]


def explain(files: list[Path], options: Options) -> list[str]:
    lines = []
    for f, samples in _samples(files):
        filters = [x for x in _filters(samples) if x is not None]
        wanted = options.get("filter") if options.get("filter") in filters else None
        if wanted is not None:
            samples = [s for s in samples if isinstance(s, dict) and s.get("filter") == wanted]
        names, _ = metric_names(samples)
        c = choose_metric(samples, options.get("metric") if options.get("metric") in names else None)
        where = f"{task_of(f)}: " if len(files) > 1 else ""
        others = [m for m in c.metrics if m != c.chosen]
        line = f"{where}`{c.chosen}` ({c.why})"
        if others:
            line += f"; others: {', '.join(others)} (`ftui init --metric NAME` or source_options: {{metric: NAME}})"
        lines.append(line)
        if len(filters) > 1:
            lines.append(
                f"{where}filter `{wanted}` of {', '.join(map(str, filters))}"
                if wanted is not None
                else f"{where}filters {', '.join(map(str, filters))}: one item per doc and filter "
                "(source_options: {filter: NAME} keeps one)"
            )
    return lines


# A workspace is checked on every load: its files' metrics from their first lines, their filters
# by a scan of the text (a second filter's lines start after all of the first's).
CHECK_LINES = 200
_FILTER = re.compile(r'"filter": "((?:[^"\\]|\\.)*)"')


def _names_of(key: str, path: Path) -> list[str]:
    if key == "filter":
        text = path.read_text(encoding="utf-8", errors="replace")
        return list(dict.fromkeys(json.loads(f'"{m}"') for m in _FILTER.findall(text)))
    head = [s for _, s in itertools.islice(jsonl_records(path, []), CHECK_LINES)]
    return metric_names(head)[0]


def check(files: list[Path], options: Options) -> str | None:
    problem = unknown_options("lm_eval", ("metric", "filter"), options)
    if problem:
        return problem
    where = files[0].name if len(files) == 1 else f"any of {len(files)} files"
    for key in ("filter", "metric"):
        if key not in options:
            continue
        valid = list(dict.fromkeys(n for f in files for n in _names_of(key, f)))
        if options[key] not in valid:
            return (
                f"source_options.{key}: no {key} `{options[key]}` in {where}"
                f"{nearest(str(options[key]), valid)}; its {key}s: {', '.join(valid) or 'none'}"
            )
    return None


def looks_like(rec: Any) -> bool:
    return isinstance(rec, dict) and "doc_id" in rec and ("filtered_resps" in rec or "resps" in rec)


SOURCE = Source(
    name="lm_eval",
    title="lm-evaluation-harness samples",
    patterns=("samples_*.jsonl",),
    rule=PassRuleConfig(at_least=1.0),
    records=records,
    looks_like=looks_like,
    options=("metric", "filter"),
    explain=explain,
    check=check,
)
