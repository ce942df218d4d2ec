"""Logs from outside ftui through the whole loop on the embedded model, all from the shell.

A numeric-grade log read through dotted paths, an OpenAI evals record (true/false grades) and a
log whose prompts are message lists each go: `ftui init` -> `ftui clusters` -> `ftui correct` ->
`ftui build` -> a short `ftui train` -> `ftui eval`. Kept short: two training steps, four items
evaluated on each side.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ftui.core.base.models import EMBEDDED, local_model_dir
from tests.fixtures.runlogs import write_jsonl

CITIES = [
    ("France", "Paris"),
    ("Japan", "Tokyo"),
    ("Italy", "Rome"),
    ("Spain", "Madrid"),
    ("Egypt", "Cairo"),
    ("Peru", "Lima"),
    ("Kenya", "Nairobi"),
    ("Chile", "Santiago"),
    ("Norway", "Oslo"),
    ("Greece", "Athens"),
]
WRONG = {"Japan", "Spain", "Egypt", "Peru", "Kenya", "Chile"}  # answered wrong: the cluster
SYSTEM = "Answer with the name of the city only."


def ftui(*args, timeout=900) -> subprocess.CompletedProcess:
    out = subprocess.run(
        [sys.executable, "-m", "ftui", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )
    assert out.returncode == 0, f"ftui {' '.join(map(str, args))}\n{out.stdout}\n{out.stderr}"
    return out


def numeric_log(root: Path) -> Path:
    rows = [
        {
            "doc": {"id": f"cap-{c.lower()}", "question": f"What is the capital of {c}?", "category": "wrong_city"},
            "choices": [{"turns": ["London" if c in WRONG else city]}],
            "target": city,
            "scores": {"judge": {"value": 2 if c in WRONG else 9, "explanation": "judged"}},
        }
        for c, city in CITIES
    ]
    return write_jsonl(root / "judged.jsonl", rows)


def evals_log(root: Path) -> Path:
    lines = [{"spec": {"eval_name": "capitals.dev.v0", "base_eval": "capitals", "run_id": "R1", "created_by": ""}}]
    for i, (c, city) in enumerate(CITIES):
        sid = f"capitals.dev.{i}"
        got = "London" if c in WRONG else city
        prompt = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"What is the capital of {c}?"}]
        base = {"run_id": "R1", "sample_id": sid, "created_by": "", "created_at": "2026-11-30 10:00:00"}
        lines.append({**base, "event_id": 2 * i, "type": "sampling", "data": {"prompt": prompt, "sampled": [got]}})
        lines.append(
            {
                **base,
                "event_id": 2 * i + 1,
                "type": "match",
                "data": {"correct": got == city, "expected": city, "picked": got, "sampled": got},
            }
        )
    lines.append({"final_report": {"accuracy": 0.4}, "run_id": "R1"})
    return write_jsonl(root / "R1_capitals.jsonl", lines)


def chat_log(root: Path) -> Path:
    rows = []
    for c, city in CITIES:
        rows.append(
            {
                "id": f"chat-{c.lower()}",
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": "Hi, I have a geography question."},
                    {"role": "assistant", "content": "Sure, ask away."},
                    {"role": "user", "content": f"What is the capital of {c}?"},
                    {"role": "assistant", "content": "London" if c in WRONG else city},
                ],
                "expected": city,
                "passed": c not in WRONG,
                "failure_label": "wrong_city",
            }
        )
    return write_jsonl(root / "chat.jsonl", rows)


def loop(tmp_path: Path, make_log, expect_source: str | None) -> dict:
    if local_model_dir(EMBEDDED) is None:
        subprocess.run([sys.executable, "-m", "ftui.engine", "prepare-model"], check=True, timeout=600)
    ws = tmp_path / "ws"
    ws.mkdir()
    log = make_log(ws)
    ftui("init", log, "--yes")
    cfg = (ws / "ftui.yaml").read_text()
    assert (f"source: {expect_source}" in cfg) == (expect_source is not None)
    (ws / "ftui.yaml").write_text(
        cfg + "eval: {max_new_tokens: 12, batch_size: 8}\nbuild: {heldout: 0.34, max_length: 160}\n"
    )
    clusters = json.loads(ftui("clusters", ws, "--json").stdout)
    assert clusters["summary"]["skipped"] == 0
    assert (clusters["passing"], clusters["failures"]) == (4, 6)
    (cluster,) = clusters["clusters"]
    for item_id in cluster["ids"]:
        shown = json.loads(ftui("show", item_id, "-w", ws, "--json").stdout)["item"]
        ftui("correct", item_id, "-w", ws, "--text", shown["expected"])
    ftui("build", ws, "--cluster", cluster["label"])
    ftui("train", ws, "--steps", 2, "--batch-size", 2, "--max-length", 160, "--rank", 4, "--follow")
    ftui("eval", "latest", "-w", ws, "--limit", 4, "--follow")
    run_dir = next(p for p in (ws / ".ftui" / "runs").iterdir() if p.is_dir())
    report = json.loads((run_dir / "eval" / "report.json").read_text())
    build_dir = next(p for p in (ws / ".ftui" / "builds").iterdir() if p.is_dir())
    train_rows = [json.loads(x) for x in (build_dir / "train.jsonl").read_text().splitlines()]
    return {"report": report, "train": train_rows, "cluster": cluster, "run_dir": run_dir, "ws": ws}


def _assert_judged(out: dict) -> None:
    items = out["report"]["items"]
    assert 0 < len(items) <= 4
    assert all({"base_grade", "tuned_grade"} <= it.keys() and it.get("logged_grade") is not None for it in items)
    assert any(row["messages"][-1]["content"] in {city for _, city in CITIES} for row in out["train"])


@pytest.mark.slow
def test_numeric_grades_through_nested_paths_go_round_the_loop(tmp_path):
    out = loop(tmp_path, numeric_log, None)
    assert out["cluster"]["label"] == "wrong_city" and out["cluster"]["grades"] == [2] * 6
    _assert_judged(out)
    assert {it["logged_grade"] for it in out["report"]["items"]} <= {2, 9}


@pytest.mark.slow
def test_boolean_grades_from_an_openai_evals_record_go_round_the_loop(tmp_path):
    out = loop(tmp_path, evals_log, "openai_evals")
    assert out["cluster"]["grades"] == [False] * 6
    _assert_judged(out)
    # The logged system prompt is what the model is trained with, not the workspace default.
    assert all(row["messages"][0] == {"role": "system", "content": SYSTEM} for row in out["train"])


@pytest.mark.slow
def test_message_list_prompts_are_trained_and_evaluated_verbatim(tmp_path):
    out = loop(tmp_path, chat_log, None)
    _assert_judged(out)
    convo = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "Hi, I have a geography question."},
        {"role": "assistant", "content": "Sure, ask away."},
    ]
    corrected = [row for row in out["train"] if row["messages"][:3] == convo]
    assert corrected, "the training rows lost the earlier turns"
    assert all(row["messages"][3]["content"].startswith("What is the capital of") for row in corrected)
    plan = [json.loads(x) for x in (out["run_dir"] / "eval" / "items.jsonl").read_text().splitlines()]
    assert plan and all(it["messages"][:3] == convo and len(it["messages"]) == 4 for it in plan)
