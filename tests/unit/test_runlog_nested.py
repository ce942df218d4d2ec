"""Nested records, message-list prompts and several runs of one benchmark."""

from __future__ import annotations

import json

import pytest

from ftui.core.curate.clusters import cluster_failures
from ftui.core.logs.runlog import load_run_log
from ftui.core.workspace.prompts import messages_for, user_text
from ftui.core.workspace.settings import PromptConfig
from ftui.core.workspace.workspace import Workspace
from tests.fixtures.runlogs import make_workspace, write_jsonl

NESTED = (
    "fields:\n  question_id: doc.id\n  question: doc.question\n  answer: choices.0.turns.0\n"
    "  expected_answer: doc.answer\n  grade: scores.match.value\n  grade_reason: scores.match.explanation\n"
    "pass_rule: {at_least: 7}\n"
)


def nested(i, score, **over):
    r = {
        "doc": {"id": f"n{i}", "question": f"Q{i}?", "answer": f"A{i}"},
        "choices": [{"turns": [f"answer {i}", "second turn"]}],
        "scores": {"match": {"value": score, "explanation": f"why {i}"}},
    }
    r.update(over)
    return r


def test_dotted_and_indexed_paths(tmp_path):
    ws = Workspace.load(make_workspace(tmp_path / "w", [nested(1, 9), nested(2, 3)], NESTED))
    log = load_run_log(ws)
    assert log.diagnostics == []
    a, b = log.items
    assert (a.id, a.question, a.answer, a.expected, a.grade, a.grade_reason) == (
        "n1",
        "Q1?",
        "answer 1",
        "A1",
        9,
        "why 1",
    )
    assert ws.is_passing(a) and not ws.is_passing(b)
    report = cluster_failures(ws, log)
    assert (report.passing, report.failures) == (1, 1)


def test_a_path_that_does_not_resolve_names_the_missing_segment(tmp_path):
    rows = [
        nested(1, 9),
        nested(2, 8, choices=[]),
        nested(3, 8, scores={"match": None}),
        nested(4, 8, doc={"id": "n4", "question": "Q4?"}),
        nested(5, "C"),
        nested(6, 2),
    ]
    ws = Workspace.load(make_workspace(tmp_path / "w", rows, NESTED))
    log = load_run_log(ws)
    p = ws.run_log
    assert [str(d) for d in log.diagnostics] == [
        f"{p}:2: `choices.0.turns.0`: no item 0 in `choices` (a list of 0)",
        f"{p}:3: `scores.match.value`: `scores.match` is null, so it has no `value`",
        f"{p}:4: `doc.answer`: no `answer` in `doc` (kept without it)",
        f"{p}:5: field `scores.match.value`: grade 'C' is text, but the pass rule compares numbers (grade >= 7)",
    ]
    assert [it.id for it in log.items] == ["n1", "n4", "n6"]
    assert [d.level for d in log.diagnostics] == ["error", "error", "warning", "error"]


def test_a_key_with_a_dot_wins_over_the_path(tmp_path):
    rows = [{"question_id": "x", "acc,none": 1, "doc.question": "flat", "doc": {"question": "nested"}, "grade": True}]
    ws = Workspace.load(make_workspace(tmp_path / "w", rows, "fields:\n  question: doc.question\n"))
    assert load_run_log(ws).items[0].question == "flat"


CHAT = [
    {"role": "system", "content": "Answer in French."},
    {"role": "user", "content": "Say hello."},
    {"role": "assistant", "content": "Bonjour."},
    {"role": "user", "content": [{"type": "text", "text": "Say "}, {"type": "text", "text": "goodbye."}]},
    {"role": "assistant", "content": "Goodbye."},
]


def test_a_message_list_is_the_exact_conversation_and_its_last_assistant_turn_the_answer(tmp_path):
    rows = [
        {"id": "c1", "messages": CHAT, "passed": False},
        {"id": "c2", "messages": CHAT[:4], "output": "Au revoir.", "passed": True},
    ]
    cfg = "fields:\n  question_id: id\n  prompt: messages\n  answer: output\n  grade: passed\npass_rule: {values: [true]}\n"
    ws = Workspace.load(make_workspace(tmp_path / "w", rows, cfg))
    log = load_run_log(ws)
    assert log.diagnostics == []
    c1, c2 = log.items
    assert c1.answer == "Goodbye." and c2.answer == "Au revoir."
    assert c1.question == "Say goodbye." and c1.system_prompt == "Answer in French."
    want = [
        {"role": r, "content": t}
        for r, t in (
            ("system", "Answer in French."),
            ("user", "Say hello."),
            ("assistant", "Bonjour."),
            ("user", "Say goodbye."),
        )
    ]
    # Training rows and evaluation prompts use the conversation verbatim, not the template.
    assert messages_for(c1, PromptConfig(default_system="other", user_template="T {question}")) == want
    assert user_text(c1, PromptConfig()) == "Say goodbye."
    assert not ws.is_passing(c1) and ws.is_passing(c2)


def test_a_list_that_is_not_messages_is_a_wrong_type(tmp_path):
    rows = [{"question_id": "x", "prompt": [1, 2], "grade": "correct"}]
    ws = Workspace.load(make_workspace(tmp_path / "w", rows))
    log = load_run_log(ws)
    assert [str(d) for d in log.diagnostics] == [f"{ws.run_log}:1: field `prompt` must be text, got list"]


def _run(i, grades, tmp):
    rows = [
        {"question_id": q, "question": f"{q}?", "answer": f"{q} in run {i}", "grade": g, "failure_label": "lbl"}
        for q, g in grades.items()
    ]
    return write_jsonl(tmp / f"run{i}.jsonl", rows)


def test_several_runs_are_attempts_at_one_question(tmp_path):
    root = tmp_path / "w"
    root.mkdir()
    _run(1, {"a": "incorrect", "b": "correct", "c": "incorrect", "d": "correct"}, root)
    _run(2, {"a": "incorrect", "b": "incorrect", "c": "correct", "d": "correct"}, root)
    _run(3, {"a": "incorrect", "b": "correct", "c": "correct"}, root)
    (root / "ftui.yaml").write_text("run_log: run*.jsonl\ncandidate_threshold: 2\n", encoding="utf-8")
    ws = Workspace.load(root)
    assert [p.name for p in ws.run_logs] == ["run1.jsonl", "run2.jsonl", "run3.jsonl"]
    log = load_run_log(ws)
    assert log.runs == 3 and log.diagnostics == []
    by = log.by_id
    assert [(i, by[i].failures, by[i].attempts) for i in "abcd"] == [("a", 3, 3), ("b", 1, 3), ("c", 1, 3), ("d", 0, 2)]
    # The original answer (the DPO rejected side) is the last failing attempt, else the last one.
    assert (by["a"].answer, by["b"].answer, by["c"].answer, by["d"].answer) == (
        "a in run 3",
        "b in run 2",
        "c in run 1",
        "d in run 2",
    )
    assert by["b"].repeat == "1/3" and by["d"].repeat == "0/2"
    report = cluster_failures(ws, log)
    (c,) = report.clusters
    assert (c.count, c.failed_attempts, c.attempts, c.candidate) == (3, 5, 9, True)
    assert (report.passing, report.failures) == (1, 3)
    # Only a repeating failure counts toward a candidate once a minimum repeat rate is set.
    (root / "ftui.yaml").write_text(
        "run_log: [run1.jsonl, run2.jsonl, run3.jsonl]\ncandidate_threshold: 2\nmin_repeat_rate: 0.5\n"
    )
    ws = Workspace.load(root)
    assert not cluster_failures(ws, load_run_log(ws)).clusters[0].candidate


def test_run_log_glob_that_matches_nothing_is_a_config_error(tmp_path):
    root = tmp_path / "w"
    root.mkdir()
    (root / "ftui.yaml").write_text("run_log: runs/*.jsonl\n")
    with pytest.raises(Exception) as exc:
        Workspace.load(root)
    assert str(exc.value).endswith(f":1: run_log: no file matches {root.resolve()}/runs/*.jsonl")


def test_a_duplicate_id_within_one_file_is_still_a_mistake(tmp_path):
    rows = [{"question_id": "a", "grade": "correct"}, {"question_id": "a", "grade": "incorrect"}]
    ws = Workspace.load(make_workspace(tmp_path / "w", rows))
    log = load_run_log(ws)
    assert [d.kind for d in log.diagnostics] == ["duplicate_id"] and log.items[0].attempts == 1


def test_nested_scale_benchmark_runs_and_agrees_with_the_plain_loop():
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "runlog_scale.py"
    r = subprocess.run(
        [sys.executable, str(script), "--nested", "--rows", "3000", "--files", "10"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr  # the script exits non-zero when the failure counts disagree
    assert "3,000 rows in 10 files (300 questions x 10 runs)" in r.stdout
    assert "ratio ftui / plain loop:" in r.stdout and "x CPU" in r.stdout


def test_a_pretty_printed_json_document_is_read_from_its_list_of_records(tmp_path):
    from ftui.core.logs.runlog import read_items

    doc = {"model": "m", "records": [{"question_id": "a", "grade": "correct"}, {"question_id": "b", "grade": 3}]}
    p = tmp_path / "doc.json"
    p.write_text(json.dumps(doc, indent=2))
    log = read_items(p)
    assert [it.id for it in log.items] == ["a"]
    assert [str(d) for d in log.errors] == [
        f"{p}:8: field `grade`: grade 3 is a number: set `pass_rule: {{at_least: N}}` (or at_most) to say which scores pass"
    ]
    q = tmp_path / "none.json"
    q.write_text('{\n  "x": 1\n}\n')
    assert [str(d) for d in read_items(q).errors] == [f"{q}:1: a JSON document with no top-level list of records"]
