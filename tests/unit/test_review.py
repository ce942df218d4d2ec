"""The review round trip: export failures, edit by hand, import and merge with saved corrections."""

from __future__ import annotations

import json

import pytest

from ftui.core.base.errors import FtuiError
from ftui.core.curate.clusters import cluster_failures
from ftui.core.curate.corrections import CorrectionStore
from ftui.core.curate.review import REVIEW_FIELDS, export_review, import_review, items_for_review
from ftui.core.logs.runlog import load_run_log
from ftui.core.workspace.workspace import Workspace
from tests.fixtures.runlogs import default_rows, make_workspace


@pytest.fixture
def env(tmp_path):
    ws = Workspace.load(make_workspace(tmp_path / "ws", default_rows()))
    log = load_run_log(ws)
    return ws, log, cluster_failures(ws, log), CorrectionStore(ws)


def rows_of(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def write_rows(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_export_has_the_seed_fields_for_failures_only(env, tmp_path):
    _ws, _log, rep, _store = env
    out = tmp_path / "review.jsonl"
    assert export_review(out, items_for_review(rep)) == 9
    rows = rows_of(out)
    assert all(tuple(r) == REVIEW_FIELDS for r in rows)
    assert rows[0] == {
        "question_id": "wf0",
        "question": "What does wf0 ask?",
        "evidence_files": ["src/wf0.py"],
        "original_answer": "answer for wf0",
        "failure_label": "wrong_field",
        "corrected_output": "",
    }
    assert {r["question_id"] for r in rows} == {f"wf{i}" for i in range(6)} | {"ie0", "ie1", "nolabel"}
    assert rows[-1]["failure_label"] == ""


def test_export_one_cluster_and_excluding_done(env, tmp_path):
    _ws, _log, rep, _store = env
    assert [it.id for it in items_for_review(rep, "ignored_evidence")] == ["ie0", "ie1"]
    assert [it.id for it in items_for_review(rep, "wrong_field", exclude=["wf0", "wf5"])] == [
        "wf1",
        "wf2",
        "wf3",
        "wf4",
    ]
    with pytest.raises(FtuiError, match="no cluster 'nope'"):
        items_for_review(rep, "nope")


def test_round_trip_merges_and_reports_conflicts(env, tmp_path):
    ws, log, rep, store = env
    store.save(log.by_id["wf1"], "already fixed")
    store.save(log.by_id["wf2"], "kept as is")
    out = tmp_path / "review.jsonl"
    export_review(out, items_for_review(rep, "wrong_field"))
    rows = rows_of(out)
    edits = {"wf0": "new fix", "wf1": "a different fix", "wf2": "kept as is", "wf3": ""}
    for r in rows:
        if r["question_id"] in edits:
            r["corrected_output"] = edits[r["question_id"]]
    write_rows(out, rows)
    res = import_review(out, log, store)
    assert res.applied == ["wf0"]
    assert res.unchanged == ["wf2"]
    assert res.untouched == ["wf3", "wf4", "wf5"]
    assert res.conflicts == [{"id": "wf1", "line": 2, "saved": "already fixed", "imported": "a different fix"}]
    assert res.problems == [] and not res.ok
    fresh = CorrectionStore(ws)
    assert fresh.get("wf0").output == "new fix" and fresh.get("wf0").status == "corrected"
    assert fresh.get("wf1").output == "already fixed"
    assert fresh.get("wf3") is None
    # Importing the same file again changes nothing new.
    again = import_review(out, log, fresh)
    assert again.applied == [] and sorted(again.unchanged) == ["wf0", "wf2"]
    forced = import_review(out, log, fresh, force=True)
    assert forced.applied == ["wf1"] and forced.overwritten == ["wf1"] and forced.ok
    assert CorrectionStore(ws).get("wf1").output == "a different fix"


def test_bad_lines_and_unknown_ids_are_reported_with_file_and_line(env, tmp_path):
    ws, log, _rep, store = env
    p = tmp_path / "edited.jsonl"
    good = {"question_id": "ie0", "corrected_output": "fixed ie0"}
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps([1, 2]),
        json.dumps({"corrected_output": "no id"}),
        json.dumps({"question_id": "ghost", "corrected_output": "x"}),
        json.dumps({"question_id": "ie1", "corrected_output": 5}),
        json.dumps({"question_id": "ie0", "corrected_output": "again"}),
        "",
        json.dumps({"question_id": "nolabel", "original_answer": "something else", "corrected_output": "fixed"}),
    ]
    p.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n" + b'{"question_id": "caf\xe9"}\n')
    res = import_review(p, log, store)
    assert res.problems == [
        f"{p}:2: not valid JSON (Expecting property name enclosed in double quotes at column 2)",
        f"{p}:3: expected a JSON object, got list",
        f"{p}:4: missing `question_id`",
        f"{p}:5: unknown question_id 'ghost' (not in the run log)",
        f"{p}:6: `corrected_output` must be text, got int",
        f"{p}:7: duplicate question_id 'ie0' (first at line 1); ignored",
        f"{p}:10: invalid UTF-8 at byte 20",
    ]
    assert res.notes == [f"{p}:9: nolabel: the run log's answer changed since this file was exported"]
    assert res.applied == ["ie0", "nolabel"]
    assert CorrectionStore(ws).get("ie0").output == "fixed ie0"


def test_needs_review_or_skipped_with_same_text_becomes_corrected(env, tmp_path):
    _ws, log, _rep, store = env
    store.mark_review(log.by_id["wf0"], "draft")
    p = tmp_path / "r.jsonl"
    write_rows(p, [{"question_id": "wf0", "corrected_output": "draft"}])
    res = import_review(p, log, store)
    assert res.applied == ["wf0"] and store.get("wf0").status == "corrected"


def test_reimport_after_the_run_log_changed_refreshes_a_stale_correction(tmp_path):
    rows = default_rows()
    ws = Workspace.load(make_workspace(tmp_path / "ws", rows))
    store = CorrectionStore(ws)
    store.save(load_run_log(ws).by_id["wf0"], "the fix")
    # The run log is regenerated: wf0's answer is new, so the saved correction is stale.
    rows[0]["answer"] = "a regenerated answer"
    make_workspace(tmp_path / "ws", rows)
    log = load_run_log(ws)
    assert store.get("wf0").is_stale(log.by_id["wf0"])
    review = tmp_path / "review.jsonl"
    write_rows(
        review, [{"question_id": "wf0", "original_answer": "a regenerated answer", "corrected_output": "the fix"}]
    )
    result = import_review(review, log, store)
    assert result.applied == ["wf0"] and result.unchanged == []
    assert not store.get("wf0").is_stale(log.by_id["wf0"])
    # A file exported before the change does not re-affirm anything.
    store.save(load_run_log(ws).by_id["wf1"], "fix one")
    rows[1]["answer"] = "another new answer"
    make_workspace(tmp_path / "ws", rows)
    write_rows(review, [{"question_id": "wf1", "original_answer": "answer for wf1", "corrected_output": "fix one"}])
    result = import_review(review, load_run_log(ws), store)
    assert result.unchanged == ["wf1"] and store.get("wf1").is_stale(load_run_log(ws).by_id["wf1"])
