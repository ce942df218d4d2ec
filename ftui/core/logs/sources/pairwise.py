"""Pairwise judgments: two answers to one prompt and a verdict on which is better.

The item is the graded model's side: its answer is the answer, the other side's (a reference
model's, or another model's) is the expected answer, and the grade is the model's outcome:
`won`, `tied` or `lost`. A loss is a failure; the preset pass rule lets wins and ties pass.

The model's side is chosen by position (`1`/`2`, `a`/`b`) or by name (`--model NAME`,
`source_options: {model: NAME}`): by name, rows where neither side is that model are left out
with a note, and the side can change from row to row.

This module also reads a generic layout (`source: pairwise`): one record per comparison with
`id`, `prompt`, `answer_a`, `answer_b`, `model_a`, `model_b`, `winner`; each field name can be
changed in `source_options` (`{answer_a: response_1, winner: label, ...}`). A winner is a side
(`a`/`b`, `1`/`2`, `model_a`/`model_b`), a model's name, `tie`, or AlpacaEval's preference
number (1 or 2, 0 or 1.5 for a tie; between 1 and 2 the nearer side).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ftui.core.logs.passrule import PassRuleConfig
from ftui.core.logs.records import Diagnostic, array_records, jsonl_records, read_text
from ftui.core.logs.sources.source import Options, Records, Source, nearest, unknown_options

WON, TIED, LOST = "won", "tied", "lost"
RULE = PassRuleConfig(values=[WON, TIED])
_SIDE_WORDS = {"1": 1, "2": 2, "a": 1, "b": 2, "model_a": 1, "model_b": 2, "model_1": 1, "model_2": 2}
_TIE_WORDS = {"tie", "draw", "tie (bothbad)", "both", "neither", "equal"}


def side_of(choice: Any) -> int | None:
    """1 or 2 when `choice` names a position (`1`, `b`, `model_a`), else None."""
    return _SIDE_WORDS.get(str(choice).strip().lower()) if choice is not None else None


def winner_side(winner: Any, names: tuple[Any, Any]) -> int | None:
    """1 or 2 for the side that won, 0 for a tie, None when the verdict cannot be read."""
    if isinstance(winner, bool):
        return None
    if isinstance(winner, (int, float)):
        w = float(winner)
        if math.isnan(w):
            return None
        if w == 0 or w == 1.5:  # AlpacaEval: 0 is a draw, 1.5 the middle of a weighted verdict
            return 0
        if 1 <= w <= 2:
            return 1 if w < 1.5 else 2
        return None
    if not isinstance(winner, str):
        return None
    word = winner.strip().lower()
    if word in _TIE_WORDS:
        return 0
    if (side := _SIDE_WORDS.get(word)) is not None:
        return side
    for i, name in enumerate(names, start=1):
        if isinstance(name, str) and winner.strip() == name:
            return i
    return None


def outcome(won_side: int, model_side: int) -> str:
    return TIED if won_side == 0 else WON if won_side == model_side else LOST


def model_side(choice: Any, names: tuple[Any, Any], default: int) -> int | None:
    """The graded model's side in this comparison: a position, or the side with that name."""
    if choice is None:
        return default
    if (side := side_of(choice)) is not None:
        return side
    for i, name in enumerate(names, start=1):
        if name == choice:
            return i
    return None


def left_out_note(path: Path, line: int, model: Any, names: tuple[Any, Any]) -> Diagnostic:
    return Diagnostic(
        path,
        line,
        f"{names[0]} vs {names[1]}: not a comparison of {model} (left out)",
        "other_model",
        "warning",
    )


# -- the generic layout ----------------------------------------------------------------------------

FIELDS = {
    "id": "id",
    "prompt": "prompt",
    "answer_a": "answer_a",
    "answer_b": "answer_b",
    "model_a": "model_a",
    "model_b": "model_b",
    "winner": "winner",
    "reason": "reason",
    "task": "task",
}


def read_rows(path: Path, diags: list[Diagnostic]) -> Records:
    """A JSON array document or JSONL, one comparison a record."""
    with open(path, "rb") as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    rows = array_records(path, read_text(path, diags), diags) if head.startswith(b"[") else jsonl_records(path, diags)
    for line, obj in rows:
        yield path, line, obj


def comparisons(
    path: Path,
    diags: list[Diagnostic],
    fields: dict[str, str],
    choice: Any,
    default_side: int,
    tool: str,
) -> Records:
    """Each row as the graded model's item (see the module's docstring)."""
    for i, (_, line, row) in enumerate(read_rows(path, diags)):
        if not isinstance(row, dict):
            diags.append(Diagnostic(path, line, "a comparison must be a JSON object", "not_source_format"))
            continue
        missing = [fields[k] for k in ("prompt", "answer_a", "answer_b", "winner") if fields[k] not in row]
        if missing:
            diags.append(Diagnostic(path, line, f"no `{missing[0]}`: not a {tool} comparison", "not_source_format"))
            continue
        names = (row.get(fields["model_a"]), row.get(fields["model_b"]))
        side = model_side(choice, names, default_side)
        if side is None:
            diags.append(left_out_note(path, line, choice, names))
            continue
        won = winner_side(row[fields["winner"]], names)
        if won is None:
            diags.append(
                Diagnostic(path, line, f"`{fields['winner']}` {row[fields['winner']]!r} names no side", "no_winner")
            )
            continue
        mine, other = (
            (fields["answer_a"], fields["answer_b"]) if side == 1 else (fields["answer_b"], fields["answer_a"])
        )
        result = outcome(won, side)
        opponent = names[1] if side == 1 else names[0]
        why = f"{result} against {opponent or 'the other answer'} ({fields['winner']} = {row[fields['winner']]!r})"
        if isinstance(row.get(fields["reason"]), str):
            why += f": {row[fields['reason']]}"
        rid = row.get(fields["id"])
        prompt = row[fields["prompt"]]
        yield (
            path,
            line,
            {
                "question_id": str(rid) if isinstance(rid, (str, int)) and not isinstance(rid, bool) else str(i),
                # A bare instruction is the user's one message.
                "prompt": [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt,
                "answer": row[mine],
                "expected_answer": row[other],
                "grade": result,
                "grade_reason": why,
                "task": row.get(fields["task"]) if isinstance(row.get(fields["task"]), str) else None,
                "record": row,
            },
        )


def _fields(options: Options) -> dict[str, str]:
    return {k: str(options.get(k, v)) for k, v in FIELDS.items()}


def records(path: Path, diags: list[Diagnostic], options: Options | None = None) -> Records:
    opts = options or {}
    yield from comparisons(path, diags, _fields(opts), opts.get("model"), 1, "pairwise")


def check(files: list[Path], options: Options) -> str | None:
    return unknown_options("pairwise", (*FIELDS, "model"), options) or check_model(files, options, _rows_names)


def _rows_names(files: list[Path], options: Options) -> list[str]:
    f = _fields(options)
    names: dict[str, None] = {}
    for path in files:
        for _, _, row in read_rows(path, []):
            if isinstance(row, dict):
                names.update({str(row[k]): None for k in (f["model_a"], f["model_b"]) if row.get(k) is not None})
    return list(names)


def check_model(files: list[Path], options: Options, names_of: Any) -> str | None:
    """A `model` option must be a side or a model the files compare."""
    choice = options.get("model")
    if choice is None or side_of(choice) is not None:
        return None
    names = names_of(files, options)
    if str(choice) in names:
        return None
    return (
        f"source_options.model: `{choice}` is in no comparison{nearest(str(choice), names)}; "
        f"the models: {', '.join(names) or 'none'} (or a side: 1, 2)"
    )


def explain_side(default: str, options: Options, names: list[str]) -> list[str]:
    choice = options.get("model")
    chosen = f"the model is {choice}" if choice is not None else f"the model is {default}"
    return [
        f"pairwise: {chosen} (models: {', '.join(names)}); its loss is a failure, "
        "the other answer the expected one (`ftui init --model NAME` picks the side)"
    ]


def explain(files: list[Path], options: Options) -> list[str]:
    return explain_side("side a", options, _rows_names(files, options))


def looks_like(rec: Any) -> bool:
    return isinstance(rec, dict) and {"answer_a", "answer_b", "winner"} <= rec.keys()


SOURCE = Source(
    name="pairwise",
    title="pairwise judgments",
    patterns=("*.jsonl", "*.json"),
    rule=RULE,
    records=records,
    looks_like=looks_like,
    options=(*FIELDS, "model"),
    explain=explain,
    check=check,
)
