"""MT-Bench / FastChat llm_judge pairwise judgments, joined to the answers and questions.

`data/mt_bench/model_judgment/<judge>_pair.jsonl`: one line per (question, model pair, turn):
`question_id`, `model_1`, `model_2`, `g1_winner` (the verdict with model_1's answer shown first),
`g2_winner` (with the order swapped, mapped back to `model_1` / `model_2` / `tie` / `error`),
`judge`, `g1_user_prompt`, `g1_judgment`, `g2_...`, `turn`, `tstamp`. As FastChat counts it, a
verdict the two orders disagree on is a tie, and a line with an `error` is left out. The answers
are in `../model_answer/<model>.jsonl`, the questions in `../question.jsonl` (see mt_bench.py).
The graded model is `model_1` (FastChat's `pairwise-baseline` puts the baseline second) unless
`--model` names another.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ftui.core.logs.passrule import PassRuleConfig
from ftui.core.logs.records import Diagnostic, jsonl_records
from ftui.core.logs.sources import pairwise
from ftui.core.logs.sources.mt_bench import beside, by_id
from ftui.core.logs.sources.source import Options, Records, Source, mapping, not_format, sequence, unknown_options


def _verdict(j: dict[str, Any]) -> tuple[int | None, str]:
    g1, g2 = j.get("g1_winner"), j.get("g2_winner")
    if "error" in (g1, g2):
        return None, "the judge's verdict could not be parsed (error)"
    sides = {"model_1": 1, "model_2": 2, "tie": 0}
    if g1 not in sides or g2 not in sides:
        return None, f"winners {g1!r} / {g2!r} name no side"
    if g1 != g2:
        return 0, f"the two orders disagree ({g1} / {g2}): a tie"
    return sides[str(g1)], f"both orders agree: {g1}"


def _turns(answer: dict[str, Any]) -> list[Any]:
    choices = sequence(answer.get("choices"))
    return sequence(mapping(choices[0]).get("turns")) if choices else []


def records(path: Path, diags: list[Diagnostic], options: Options | None = None) -> Records:
    opts = options or {}
    rows = list(jsonl_records(path, diags))
    if rows and not looks_like(rows[0][1]):
        diags.append(
            not_format(path, "MT-Bench pairwise", "a line needs `question_id`, `model_1`, `model_2`, `g1_winner`")
        )
        return
    q_path = beside(path, "question.jsonl")
    questions = by_id(q_path) if q_path else {}
    answers: dict[Any, dict[Any, dict[str, Any]]] = {}
    choice = opts.get("model")
    graded = set()
    for _, j in rows:
        if isinstance(j, dict):
            names = (j.get("model_1"), j.get("model_2"))
            side = pairwise.model_side(choice, names, 1)
            if side is not None:
                graded.add(names[side - 1])
    for _, j in rows:
        for m in (j.get("model_1"), j.get("model_2")) if isinstance(j, dict) else ():
            if m not in answers:
                a_path = beside(path, f"model_answer/{m}.jsonl", f"{m}.jsonl")
                answers[m] = by_id(a_path) if a_path else {}
    for line, j in rows:
        if not looks_like(j):
            diags.append(
                Diagnostic(
                    path, line, "a line needs `question_id`, `model_1`, `model_2`, `g1_winner`", "not_source_format"
                )
            )
            continue
        names = (j["model_1"], j["model_2"])
        side = pairwise.model_side(choice, names, 1)
        if side is None:
            diags.append(pairwise.left_out_note(path, line, choice, names))
            continue
        won, how = _verdict(j)
        if won is None:
            diags.append(Diagnostic(path, line, how, "no_winner"))
            continue
        qid, turn = j["question_id"], j.get("turn", 1)
        if not isinstance(turn, int) or turn < 1:
            diags.append(Diagnostic(path, line, f"`turn` must be 1 or more, got {turn!r}", "wrong_type"))
            continue
        model, other = names[side - 1], names[2 - side]
        q = questions.get(qid, {})
        q_turns = sequence(q.get("turns"))
        mine, theirs = _turns(answers[model].get(qid, {})), _turns(answers[other].get(qid, {}))
        if len(q_turns) < turn or len(mine) < turn or len(theirs) < turn:
            where = (
                "question.jsonl"
                if len(q_turns) < turn
                else f"model_answer/{model if len(mine) < turn else other}.jsonl"
            )
            diags.append(
                Diagnostic(
                    path, line, f"question {qid} turn {turn}: not found in {where} next to the judgments", "no_answer"
                )
            )
            continue
        conv = []
        for t in range(turn):
            conv.append({"role": "user", "content": q_turns[t]})
            if t < turn - 1:
                conv.append({"role": "assistant", "content": mine[t]})
        result = pairwise.outcome(won, side)
        judgment = j.get("g1_judgment") if isinstance(j.get("g1_judgment"), str) else ""
        base = f"{qid}.{turn}" if len(graded) == 1 else f"{model}/{qid}.{turn}"
        yield (
            path,
            line,
            {
                "question_id": base,
                "prompt": conv,
                "answer": mine[turn - 1],
                "expected_answer": theirs[turn - 1],
                "grade": result,
                "grade_reason": f"{result} against {other}; {how}. {judgment}".strip(),
                "task": q.get("category"),
                "failure_label": q.get("category"),
                "record": {"judgment": j, "question": q},
            },
        )


def _names(files: list[Path], options: Options) -> list[str]:
    names: dict[str, None] = {}
    for f in files:
        for _, j in jsonl_records(f, []):
            if isinstance(j, dict):
                names.update({str(j[k]): None for k in ("model_1", "model_2") if j.get(k) is not None})
    return list(names)


def check(files: list[Path], options: Options) -> str | None:
    return unknown_options("mt_bench_pair", ("model",), options) or pairwise.check_model(files, options, _names)


def explain(files: list[Path], options: Options) -> list[str]:
    return pairwise.explain_side("model_1", options, _names(files, options))


def looks_like(rec: Any) -> bool:
    return isinstance(rec, dict) and {"question_id", "model_1", "model_2", "g1_winner"} <= rec.keys()


SOURCE = Source(
    name="mt_bench_pair",
    title="MT-Bench pairwise judgments",
    patterns=("*_pair.jsonl",),
    rule=PassRuleConfig(values=list(pairwise.RULE.values or [])),
    records=records,
    looks_like=looks_like,
    options=("model",),
    explain=explain,
    check=check,
)
