"""AlpacaEval annotations: `results/<model>/<annotator>/annotations.json`.

A JSON array, one comparison a record: `instruction`, `output_1` by `generator_1` (the
reference, e.g. gpt4_turbo or text_davinci_003), `output_2` by `generator_2` (the evaluated
model), `annotator`, `preference` (1: output_1 preferred, 2: output_2; 0 a draw; weighted
annotators give a number between 1 and 2), and `dataset` (the instruction's source set). The
graded model is `generator_2` unless `--model` names another side.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ftui.core.logs.records import Diagnostic
from ftui.core.logs.sources import pairwise
from ftui.core.logs.sources.source import Options, Records, Source, unknown_options

FIELDS = {
    **pairwise.FIELDS,
    "id": "index",
    "prompt": "instruction",
    "answer_a": "output_1",
    "answer_b": "output_2",
    "model_a": "generator_1",
    "model_b": "generator_2",
    "winner": "preference",
    "reason": "raw_completion",
    "task": "",  # the instruction's source set stays in `record.dataset`: it is not a topic
}


def records(path: Path, diags: list[Diagnostic], options: Options | None = None) -> Records:
    opts = options or {}
    for p, line, rec in pairwise.comparisons(path, diags, FIELDS, opts.get("model"), 2, "AlpacaEval"):
        row = rec["record"]
        if isinstance(row.get("annotator"), str):
            rec["grade_reason"] = f"{row['annotator']}: {rec['grade_reason']}"
        yield p, line, rec


def _names(files: list[Path], options: Options) -> list[str]:
    names: dict[str, None] = {}
    for path in files:
        for _, _, row in pairwise.read_rows(path, []):
            if isinstance(row, dict):
                names.update({str(row[k]): None for k in ("generator_1", "generator_2") if row.get(k) is not None})
    return list(names)


def check(files: list[Path], options: Options) -> str | None:
    return unknown_options("alpaca_eval", ("model",), options) or pairwise.check_model(files, options, _names)


def explain(files: list[Path], options: Options) -> list[str]:
    return pairwise.explain_side("generator_2 (output_2)", options, _names(files, options))


def looks_like(rec: Any) -> bool:
    return isinstance(rec, dict) and {"instruction", "output_1", "output_2", "preference"} <= rec.keys()


SOURCE = Source(
    name="alpaca_eval",
    title="AlpacaEval annotations",
    patterns=("annotations.json",),
    rule=pairwise.RULE,
    records=records,
    looks_like=looks_like,
    options=("model",),
    explain=explain,
    check=check,
)
