"""The shipped sample workspace: it loads, its run log is current, it clusters as its README says."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from ftui.core.curate.clusters import cluster_failures
from ftui.core.grade.grading import grade, spec_for
from ftui.core.logs.runlog import load_run_log
from ftui.core.workspace.workspace import Workspace
from ftui.sample.corrections import review_path
from ftui.sample.labels import LABELS, failure_label
from ftui.sample.questions import all_questions

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
TASKS = {"locate_symbol", "factual", "explain_with_tests", "summarize_conflicts"}


@pytest.fixture(scope="module")
def ws():
    return Workspace.load(SAMPLE)


@pytest.fixture(scope="module")
def log(ws):
    return load_run_log(ws)


def test_run_log_loads_cleanly_with_every_question_type(ws, log):
    assert log.diagnostics == []
    assert len(log.items) >= 120
    by_task = Counter(it.task for it in log.items)
    assert set(by_task) == TASKS
    assert all(n >= 10 for n in by_task.values()), by_task
    assert any(it.retrieval_hit is False for it in log.items)


def test_run_log_matches_the_questions_built_from_the_codebase(log):
    # A stale run log (code or questions edited without `python -m ftui.sample regenerate`) fails here.
    questions = {q.id: q.record() for q in all_questions(SAMPLE)}
    assert set(questions) == set(log.by_id)
    for qid, rec in questions.items():
        it = log.by_id[qid]
        assert it.question == rec["question"]
        assert it.evidence_text == rec["evidence_text"]
        assert it.expected == rec["expected_answer"]
        assert it.system_prompt == rec["system_prompt"]
        assert it.retrieval_hit == rec["retrieval_hit"]


def test_evidence_is_real_code_under_file_headers(log):
    for it in log.items:
        for chunk in it.evidence_text.split("\n\n# File: "):
            header, _, body = chunk.removeprefix("# File: ").partition("\n")
            source = (SAMPLE / "codebase" / header).read_text(encoding="utf-8")
            kept = [ln for ln in body.splitlines() if ln.strip() != "..."]
            assert all(ln in source for ln in kept), (it.id, header)
        assert set(it.evidence_files) <= {
            p.relative_to(SAMPLE / "codebase").as_posix() for p in (SAMPLE / "codebase").rglob("*.py")
        }


def test_logged_grades_and_labels_are_what_ftuis_graders_say(ws, log):
    for it in log.items:
        g = grade(it.answer, it.expected, spec_for(ws, it), question=it.question)
        assert (it.grade == "correct") == g.passed, (it.id, g.reason)
        assert it.label == failure_label(it.task, g.passed, g.reason, it.retrieval_hit), it.id
        assert it.label is None or it.label in LABELS


def test_clusters_largest_is_a_candidate_the_base_model_mostly_fails(ws, log):
    report = cluster_failures(ws, log)
    assert len(report.clusters) >= 3
    assert report.retrieval_misses > 0 and report.passing >= 20
    largest = report.clusters[0]
    assert largest.candidate
    assert largest.count >= 40
    tasks = {it.task for it in largest.items}
    assert len(tasks) == 1
    task = tasks.pop()
    task_items = [it for it in log.items if it.task == task]
    passed = sum(ws.is_passing(it.grade) for it in task_items)
    assert passed / len(task_items) <= 0.2


def test_reviewed_corrections_cover_exactly_the_largest_cluster(ws, log):
    largest = cluster_failures(ws, log).clusters[0]
    rows = [json.loads(line) for line in review_path(ws).read_text(encoding="utf-8").splitlines() if line.strip()]
    assert sorted(r["question_id"] for r in rows) == sorted(largest.ids)
    for r in rows:
        it = log.by_id[r["question_id"]]
        assert r["original_answer"] == it.answer
        assert grade(r["corrected_output"], it.expected, spec_for(ws, it)).passed
        out = json.loads(r["corrected_output"])
        assert set(out) == {"file_path", "symbol"}
        assert out["file_path"] in it.evidence_files


def test_workspace_readme_describes_the_items():
    text = (SAMPLE / "README.md").read_text(encoding="utf-8")
    for word in ("run_log.jsonl", "regenerate", "reviewed_corrections.jsonl", "retrieval"):
        assert word in text
