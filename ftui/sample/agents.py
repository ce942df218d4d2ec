"""The tool-calling sample: a small assistant with three tools, answered by the embedded model.

`python -m ftui.sample.agents` asks the embedded base model every request (tools rendered by the
fallback of ftui.core.base.toolcalls, as an evaluation asks them), grades each answer with the
tool_call grader and labels each failure by how it failed, then writes
sample_data/agents/run_log.jsonl. The requests are built from fixed lists, so the file is the
model's real behaviour on a reproducible set.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ftui.core.base import toolcalls
from ftui.core.base.fsutil import atomic_write_text
from ftui.core.grade.grading import grade

AGENTS_DIR = Path(__file__).resolve().parents[2] / "sample_data" / "agents"

SYSTEM = "You are the assistant of a travel desk. Use a tool whenever one can answer the request."

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "City name, e.g. Paris"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city", "unit"],
                "additionalProperties": False,
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "convert_currency",
            "description": "Convert an amount of money between two currencies",
            "parameters": {
                "type": "object",
                "properties": {
                    "amount": {"type": "number"},
                    "from_currency": {"type": "string", "description": "ISO code, e.g. EUR"},
                    "to_currency": {"type": "string", "description": "ISO code, e.g. USD"},
                },
                "required": ["amount", "from_currency", "to_currency"],
                "additionalProperties": False,
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "find_flights",
            "description": "Flights between two cities on a date",
            "parameters": {
                "type": "object",
                "properties": {
                    "origin": {"type": "string"},
                    "destination": {"type": "string"},
                    "date": {"type": "string", "description": "YYYY-MM-DD"},
                },
                "required": ["origin", "destination", "date"],
                "additionalProperties": False,
            },
        },
    },
]

CITIES = ["Paris", "Tokyo", "Lima", "Oslo", "Cairo", "Denver", "Hanoi", "Lisbon", "Nairobi", "Quebec"]
UNITS = ["celsius", "fahrenheit"]
MONEY = [
    (120, "EUR", "USD"),
    (75, "GBP", "JPY"),
    (300, "USD", "CAD"),
    (42, "CHF", "EUR"),
    (980, "JPY", "USD"),
    (15, "AUD", "NZD"),
    (64, "SEK", "NOK"),
    (250, "INR", "EUR"),
    (5, "USD", "MXN"),
    (1000, "CNY", "GBP"),
]
DATES = ["2026-03-14", "2026-04-02", "2026-05-20", "2026-06-11", "2026-07-30"]


def requests() -> list[dict[str, Any]]:
    """Every request: id, the user's text and the expected call."""
    out = []
    for i, city in enumerate(CITIES):
        unit = UNITS[i % 2]
        for j, text in enumerate(
            (
                f"What's the weather in {city} right now, in {unit}?",
                f"Is it cold in {city} today? Give me the temperature in {unit}.",
            )
        ):
            out.append(
                {
                    "id": f"weather-{city.lower()}-{j}",
                    "task": "call",
                    "user": text,
                    "call": {"name": "get_weather", "arguments": {"city": city, "unit": unit}},
                }
            )
    for amount, a, b in MONEY:
        out.append(
            {
                "id": f"money-{a.lower()}-{b.lower()}",
                "task": "call",
                "user": f"How much is {amount} {a} in {b}?",
                "call": {
                    "name": "convert_currency",
                    "arguments": {"amount": amount, "from_currency": a, "to_currency": b},
                },
            }
        )
    for i, date in enumerate(DATES):
        o, d = CITIES[i], CITIES[-1 - i]
        for j, text in enumerate(
            (f"Find me flights from {o} to {d} on {date}.", f"I need to fly {o} to {d}, leaving {date}. What is there?")
        ):
            out.append(
                {
                    "id": f"flight-{o.lower()}-{d.lower()}-{j}",
                    "task": "call",
                    "user": text,
                    "call": {"name": "find_flights", "arguments": {"origin": o, "destination": d, "date": date}},
                }
            )
    return out


def label_of(reason: str) -> str:
    """How a tool-call answer failed, from the grader's reason."""
    if reason.startswith("no tool call"):
        return "prose_instead_of_call"
    if reason.startswith("called `"):
        return "wrong_tool"
    return "wrong_arguments"


def messages(req: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": req["user"]}]


def record(req: dict[str, Any], answer: str, model: str) -> dict[str, Any]:
    """One run-log line: the request, the model's answer, its grade and, for a failure, its label."""
    g = grade(answer, toolcalls.call_text([req["call"]]), {"kind": "tool_call"}, tools=TOOLS)
    rec = {
        "question_id": req["id"],
        "task": req["task"],
        "messages": messages(req),
        "tools": TOOLS,
        "answer": answer,
        "expected_answer": req["call"],
        "grade": "correct" if g.passed else "incorrect",
        "grade_reason": g.reason,
        "model": model,
    }
    if not g.passed:
        rec["failure_label"] = label_of(g.reason)
    return rec


def regenerate(out_dir: Path = AGENTS_DIR, model: str = "smollm2-135m-instruct") -> dict[str, int]:
    """Answer every request (lines written as batches finish), grade, label, and write the reviewed
    corrections: each failure's expected call."""
    from ftui.engine.infer.generate import load_for_generation

    reqs = requests()
    gen = load_for_generation(model)
    done: dict[int, dict[str, Any]] = {}

    def write() -> None:
        recs = [done[i] for i in sorted(done)]
        atomic_write_text(out_dir / "run_log.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs))
        review = [
            {
                "question_id": r["question_id"],
                "question": r["messages"][-1]["content"],
                "original_answer": r["answer"],
                "failure_label": r["failure_label"],
                "corrected_output": toolcalls.call_text([r["expected_answer"]]),
            }
            for r in recs
            if "failure_label" in r
        ]
        atomic_write_text(
            out_dir / "reviewed_corrections.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in review)
        )

    def on_batch(idx: list[int], outs: list[str]) -> None:
        for i, a in zip(idx, outs, strict=True):
            done[i] = record(reqs[i], a, model)
        write()
        print(f"{len(done)}/{len(reqs)} answered", flush=True)

    gen.generate(
        [messages(r) for r in reqs],
        adapter=False,
        max_new_tokens=48,
        batch_size=4,
        tools_list=[TOOLS] * len(reqs),
        on_batch=on_batch,
    )
    counts: dict[str, int] = {}
    for r in done.values():
        key = r.get("failure_label", "passed")
        counts[key] = counts.get(key, 0) + 1
    return counts


if __name__ == "__main__":
    print(json.dumps(regenerate(), indent=1))
    sys.exit(0)
