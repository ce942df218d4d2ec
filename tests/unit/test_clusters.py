from __future__ import annotations

import pytest

from ftui.core.curate.clusters import UNLABELED, cluster_failures, is_model_failure, passing_items
from ftui.core.logs.runlog import load_run_log
from ftui.core.workspace.workspace import Workspace
from tests.fixtures.runlogs import default_rows, make_workspace, row


def load(tmp_path, rows, config=""):
    ws = Workspace.load(make_workspace(tmp_path / "ws", rows, config))
    return ws, load_run_log(ws)


def test_default_rule_groups_model_failures_largest_first(tmp_path):
    ws, log = load(tmp_path, default_rows())
    rep = cluster_failures(ws, log)
    assert rep.retrieval_field_present
    assert (rep.total_items, rep.failures, rep.retrieval_misses, rep.passing) == (12, 9, 1, 2)
    assert [(c.label, c.count) for c in rep.clusters] == [("wrong_field", 6), ("ignored_evidence", 2), (UNLABELED, 1)]
    wf = rep.by_label("wrong_field")
    assert wf.candidate and not rep.by_label("ignored_evidence").candidate
    assert wf.share_of_items == pytest.approx(6 / 12)
    assert wf.share_of_failures == pytest.approx(6 / 9)
    assert wf.samples == ("What does wf0 ask?", "What does wf1 ask?", "What does wf2 ask?")
    assert [it.id for it in wf.items] == [f"wf{i}" for i in range(6)]
    assert "miss1" not in wf.ids
    assert rep.by_label("nope") is None
    assert [it.id for it in passing_items(ws, log)] == ["ok1", "ok2"]


def test_without_retrieval_field_every_non_passing_item_counts(tmp_path):
    rows = [row(f"a{i}", hit=None) for i in range(3)] + [row("p", grade="correct", hit=None)]
    ws, log = load(tmp_path, rows)
    rep = cluster_failures(ws, log)
    assert rep.retrieval_field_present is False
    assert (rep.failures, rep.retrieval_misses, rep.passing) == (3, 0, 1)
    assert is_model_failure(ws, log.by_id["a0"], False)
    assert not is_model_failure(ws, log.by_id["p"], False)


def test_failure_rule_with_retrieval_field(tmp_path):
    rows = [row("hit"), row("miss", hit=False), row("pass", grade="correct"), row("nograde", grade=None)]
    ws, log = load(tmp_path, rows)
    f = {i: is_model_failure(ws, log.by_id[i], True) for i in log.by_id}
    assert f == {"hit": True, "miss": False, "pass": False, "nograde": True}


def test_item_without_hit_in_log_with_field_is_counted_apart(tmp_path):
    rows = [row("hit"), row("unknown", hit=None)]
    ws, log = load(tmp_path, rows)
    rep = cluster_failures(ws, log)
    assert (rep.failures, rep.retrieval_misses, rep.retrieval_unknown) == (1, 0, 1)


def test_threshold_passing_grades_and_field_mapping_from_config(tmp_path):
    rows = []
    for i in range(3):
        r = {"id": f"x{i}", "q": f"question {i}", "out": "bad", "verdict": "fail", "found": True, "kind": "schema"}
        rows.append(r)
    rows.append({"id": "y", "q": "fine", "out": "good", "verdict": "pass", "found": True, "kind": "schema"})
    config = (
        "candidate_threshold: 3\n"
        "passing_grades: [pass]\n"
        "fields:\n  question_id: id\n  question: q\n  answer: out\n  grade: verdict\n"
        "  retrieval_hit: found\n  failure_label: kind\n"
    )
    ws, log = load(tmp_path, rows, config)
    assert log.by_id["x0"].question == "question 0" and log.by_id["x0"].answer == "bad"
    rep = cluster_failures(ws, log)
    assert (rep.failures, rep.passing) == (3, 1)
    assert rep.clusters[0].label == "schema" and rep.clusters[0].candidate


def test_ties_are_ordered_by_label_and_empty_log(tmp_path):
    rows = [row("b1", label="beta"), row("a1", label="alpha")]
    ws, log = load(tmp_path, rows)
    assert [c.label for c in cluster_failures(ws, log).clusters] == ["alpha", "beta"]
    ws2, log2 = load(tmp_path / "e", [row("p", grade="correct")])
    rep = cluster_failures(ws2, log2)
    assert rep.clusters == () and rep.failures == 0 and rep.passing == 1
