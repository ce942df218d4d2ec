"""MT-Bench / FastChat llm_judge single-answer judgments, joined to the answers and questions.

`data/mt_bench/model_judgment/<judge>_single.jsonl`: one line per (question, model, turn):
`question_id`, `model`, `judge` ([judge model, prompt name]), `user_prompt`, `judgment`, `score`
(1-10; -1 when the judge's rating could not be parsed), `turn`, `tstamp`. The answers are in
`../model_answer/<model>.jsonl` (`question_id`, `answer_id`, `model_id`, `choices[0].turns`) and
the questions in `../question.jsonl` (`question_id`, `category`, `turns`, `reference`). A
second-turn item is the whole conversation up to its question: first question, the model's first
answer, second question. Without those files, a single-v1 judge prompt still holds the question
and the answer.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ftui.core.logs.passrule import PassRuleConfig
from ftui.core.logs.records import Diagnostic, jsonl_records
from ftui.core.logs.sources.source import Options, Records, Source, mapping, not_format, sequence

_SINGLE = re.compile(
    r"\[Question\]\n(?P<q>.*?)\n\n\[The Start of Assistant's Answer\]\n(?P<a>.*?)\n\[The End of Assistant's Answer\]",
    re.DOTALL,
)


def by_id(path: Path) -> dict[Any, dict[str, Any]]:
    out: dict[Any, dict[str, Any]] = {}
    if not path.is_file():
        return out
    for _, rec in jsonl_records(path, []):
        if isinstance(rec, dict) and "question_id" in rec:
            out.setdefault(rec["question_id"], rec)
    return out


def beside(path: Path, *names: str) -> Path | None:
    for base in (path.parent.parent, path.parent):
        for name in names:
            if (base / name).is_file():
                return base / name
    return None


def records(path: Path, diags: list[Diagnostic], options: Options | None = None) -> Records:
    rows = list(jsonl_records(path, diags))
    if rows and not looks_like(rows[0][1]):
        rec = rows[0][1]
        why = (
            "a pairwise judgment (winner, no score): read it with `source: mt_bench_pair`"
            if isinstance(rec, dict) and "g1_winner" in rec
            else ("a judgment line needs `question_id`, `model`, `score` and `turn`")
        )
        diags.append(not_format(path, "MT-Bench", why))
        return
    q_path = beside(path, "question.jsonl")
    questions = by_id(q_path) if q_path else {}
    models = {r.get("model") for _, r in rows if isinstance(r, dict)}
    answers: dict[Any, dict[Any, dict[str, Any]]] = {}
    for m in models:
        a_path = beside(path, f"model_answer/{m}.jsonl", f"{m}.jsonl")
        answers[m] = by_id(a_path) if a_path else {}
    for line, j in rows:
        if not looks_like(j):
            diags.append(
                Diagnostic(
                    path, line, "a judgment line needs `question_id`, `model`, `score` and `turn`", "not_source_format"
                )
            )
            continue
        score = j["score"]
        if score == -1:
            diags.append(Diagnostic(path, line, "score -1: the judge's rating could not be parsed", "no_score"))
            continue
        qid, model, turn = j["question_id"], j["model"], j["turn"]
        if not isinstance(turn, int) or turn < 1:
            diags.append(Diagnostic(path, line, f"`turn` must be 1 or more, got {turn!r}", "wrong_type"))
            continue
        q = questions.get(qid, {})
        a = answers.get(model, {}).get(qid, {})
        q_turns = sequence(q.get("turns"))
        choices = sequence(a.get("choices"))
        a_turns = sequence(mapping(choices[0]).get("turns")) if choices else []
        if len(q_turns) >= turn and len(a_turns) >= turn:
            conv = []
            for t in range(turn):
                conv.append({"role": "user", "content": q_turns[t]})
                if t < turn - 1:
                    conv.append({"role": "assistant", "content": a_turns[t]})
            prompt: Any = conv
            answer = a_turns[turn - 1]
        elif turn == 1 and isinstance(j.get("user_prompt"), str) and (m := _SINGLE.search(j["user_prompt"])):
            prompt, answer = [{"role": "user", "content": m.group("q")}], m.group("a")
        else:
            where = "question.jsonl" if len(q_turns) < turn else f"model_answer/{model}.jsonl"
            diags.append(
                Diagnostic(
                    path, line, f"question {qid} turn {turn}: not found in {where} next to the judgments", "no_answer"
                )
            )
            continue
        ref = q.get("reference")
        category = q.get("category")
        rid = f"{qid}.{turn}" if len(models) == 1 else f"{model}/{qid}.{turn}"
        yield (
            path,
            line,
            {
                "question_id": rid,
                "prompt": prompt,
                "answer": answer,
                "expected_answer": ref[turn - 1] if isinstance(ref, list) and len(ref) >= turn else None,
                "grade": score,
                "grade_reason": j.get("judgment") if isinstance(j.get("judgment"), str) else None,
                "task": category,
                "failure_label": category,
                "record": {"judgment": j, "question": q, "answer": a},
            },
        )


def looks_like(rec: Any) -> bool:
    return isinstance(rec, dict) and {"question_id", "model", "score", "turn"} <= rec.keys()


SOURCE = Source(
    name="mt_bench",
    title="MT-Bench judgments",
    patterns=("*_single.jsonl",),
    rule=PassRuleConfig(at_least=7),
    records=records,
    looks_like=looks_like,
)
