"""Run-log ingestion: every bad-input case gives one `file:line: reason` and good lines survive."""

from __future__ import annotations

import dataclasses
import json

import pytest

from ftui.core.base.errors import InputError
from ftui.core.logs.runlog import load_run_log, read_items
from ftui.core.workspace.workspace import Workspace
from tests.fixtures.runlogs import HERE, make_workspace, row

GOOD = json.dumps(row("g1")).encode() + b"\n"
GOOD2 = json.dumps(row("g2")).encode() + b"\n"


def read(tmp_path, data: bytes, name="log.jsonl"):
    p = tmp_path / name
    p.write_bytes(data)
    return p, read_items(p)


def diags(log):
    return [str(d) for d in log.diagnostics]


def ids(log):
    return [it.id for it in log.items]


def test_field_mapping_defaults_to_seed_names(tmp_path):
    r = row("q1", prompt="EXACT PROMPT", task="lookup", expected_answer={"file": "a.py"})
    _, log = read(tmp_path, json.dumps(r).encode() + b"\n")
    it = log.items[0]
    assert (it.id, it.question, it.answer, it.grade, it.retrieval_hit, it.label) == (
        "q1",
        "What does q1 ask?",
        "answer for q1",
        "incorrect",
        True,
        "wrong_field",
    )
    assert it.expected == '{"file": "a.py"}'
    assert (it.system_prompt, it.evidence_text, it.evidence_files) == (
        "You are a code assistant.",
        "evidence for q1",
        ("src/q1.py",),
    )
    assert (it.prompt, it.task, it.line) == ("EXACT PROMPT", "lookup", 1)
    assert log.has_retrieval


def test_field_mapping_from_workspace_config(tmp_path):
    rows = [
        {
            "qid": 7,
            "prompt_text": "Q?",
            "response": "R",
            "label": "bad",
            "hit": False,
            "score": "pass",
            "files": "one.py",
            "ctx": "E",
            "sys": "S",
            "gold": "G",
            "raw_prompt": "P",
        }
    ]
    cfg = (
        "fields:\n  question_id: qid\n  question: prompt_text\n  answer: response\n  failure_label: label\n"
        "  retrieval_hit: hit\n  grade: score\n  evidence_files: files\n  evidence_text: ctx\n"
        "  system_prompt: sys\n  expected_answer: gold\n  prompt: raw_prompt\n"
    )
    ws = Workspace.load(make_workspace(tmp_path / "ws", rows, cfg))
    it = load_run_log(ws).items[0]
    assert (it.id, it.question, it.answer, it.label, it.retrieval_hit, it.grade) == (
        "7",
        "Q?",
        "R",
        "bad",
        False,
        "pass",
    )
    assert (it.evidence_files, it.evidence_text, it.system_prompt, it.expected, it.prompt) == (
        ("one.py",),
        "E",
        "S",
        "G",
        "P",
    )


def test_not_json(tmp_path):
    p, log = read(tmp_path, GOOD + b"{oops\n" + GOOD2)
    assert diags(log) == [f"{p}:2: not valid JSON (Expecting property name enclosed in double quotes at column 2)"]
    assert ids(log) == ["g1", "g2"]
    assert log.summary["skipped_by_reason"] == {"not_json": 1}
    assert log.summary_line() == "log.jsonl: 2 items kept; 1 line skipped (1 not json)"


def test_not_an_object(tmp_path):
    p, log = read(tmp_path, GOOD + b'[1, 2]\n"text"\n' + GOOD2)
    assert diags(log) == [f"{p}:2: expected a JSON object, got list", f"{p}:3: expected a JSON object, got str"]
    assert ids(log) == ["g1", "g2"]


@pytest.mark.parametrize(
    "line, reason",
    [
        ({"question_id": "w", "retrieval_hit": "yes"}, 'field `retrieval_hit` must be true/false, got "yes"'),
        ({"question_id": "w", "question": 5}, "field `question` must be text, got int"),
        (
            {"question_id": "w", "grade": 3},
            "field `grade`: grade 3 is a number: set `pass_rule: {at_least: N}` (or at_most) to say which scores pass",
        ),
        ({"question_id": "w", "evidence_files": [1]}, "field `evidence_files` must be a list of paths"),
        ({"question_id": [1]}, "field `question_id` must be text or a whole number, got list"),
        ({"question_id": "w", "failure_label": {"a": 1}}, "field `failure_label` must be text, got dict"),
    ],
)
def test_wrong_field_type(tmp_path, line, reason):
    p, log = read(tmp_path, GOOD + json.dumps(line).encode() + b"\n" + GOOD2)
    assert diags(log) == [f"{p}:2: {reason}"]
    assert ids(log) == ["g1", "g2"]
    assert log.summary["skipped_by_reason"] == {"wrong_type": 1}


def test_missing_id(tmp_path):
    p, log = read(tmp_path, GOOD + b'{"question": "no id"}\n{"question_id": ""}\n{"question_id": null}\n' + GOOD2)
    assert diags(log) == [f"{p}:{n}: missing id field `question_id`" for n in (2, 3, 4)]
    assert ids(log) == ["g1", "g2"]


def test_numeric_ids_become_text(tmp_path):
    _, log = read(tmp_path, b'{"question_id": 12, "answer": "a"}\n')
    assert ids(log) == ["12"] and log.by_id["12"].answer == "a"


def test_duplicate_id_keeps_the_first(tmp_path):
    dup = json.dumps(row("g1", answer="second")).encode() + b"\n"
    p, log = read(tmp_path, GOOD + GOOD2 + dup)
    assert diags(log) == [f"{p}:3: duplicate id 'g1' (first at line 1); kept the first"]
    assert ids(log) == ["g1", "g2"] and log.by_id["g1"].answer == "answer for g1"


def test_bom_is_ignored_with_a_warning(tmp_path):
    p, log = read(tmp_path, b"\xef\xbb\xbf" + GOOD + GOOD2)
    assert diags(log) == [f"{p}:1: UTF-8 byte-order mark at start of file (ignored)"]
    assert ids(log) == ["g1", "g2"]
    assert log.errors == [] and log.summary["warnings_by_reason"] == {"bom": 1}


def test_crlf_is_accepted_with_one_warning(tmp_path):
    p, log = read(tmp_path, (GOOD + GOOD2).replace(b"\n", b"\r\n"))
    assert diags(log) == [f"{p}:1: Windows (CRLF) line endings (accepted)"]
    assert ids(log) == ["g1", "g2"]
    assert not log.items[0].answer.endswith("\r")


def test_invalid_utf8(tmp_path):
    p, log = read(tmp_path, GOOD + b'{"question_id": "u", "question": "caf\xe9"}\n' + GOOD2)
    assert diags(log) == [f"{p}:2: invalid UTF-8 at byte 37"]
    assert ids(log) == ["g1", "g2"]


def test_ten_megabyte_line(tmp_path):
    big = b'{"question_id": "big", "question": "' + b"x" * (10 * 1024 * 1024) + b'"}\n'
    p, log = read(tmp_path, GOOD + big + GOOD2)
    assert diags(log) == [f"{p}:2: line is 10.0 MB, over the 8 MB limit"]
    assert ids(log) == ["g1", "g2"]


@pytest.mark.parametrize("data", [b"", b"\n  \n", b"\xef\xbb\xbf"])
def test_empty_file(tmp_path, data):
    p, log = read(tmp_path, data)
    assert diags(log) == [f"{p}:1: file is empty: no items"]
    assert log.items == []


def test_blank_lines_are_not_errors_and_lines_are_numbered(tmp_path):
    _, log = read(tmp_path, GOOD + b"\n\n" + GOOD2)
    assert diags(log) == [] and [it.line for it in log.items] == [1, 4]


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="No such file"):
        read_items(tmp_path / "nope.jsonl")


def test_mixed_fixture_keeps_every_good_line():
    p = HERE / "mixed.jsonl"
    log = read_items(p)
    assert ids(log) == ["q1", "q2", "q4"]
    assert diags(log) == [
        f"{p}:2: not valid JSON (Expecting value at column 1)",
        f"{p}:3: expected a JSON object, got list",
        f"{p}:5: missing id field `question_id`",
        f'{p}:6: field `retrieval_hit` must be true/false, got "yes"',
        f"{p}:7: duplicate id 'q1' (first at line 1); kept the first",
    ]
    assert log.summary["skipped"] == 5


# -- JSON-array logs ---------------------------------------------------------------------------


def test_json_array_log(tmp_path):
    data = b'[\n  {"question_id": "a1", "answer": "x"},\n  5,\n  {"question_id": "a1"},\n  {"question_id": "a3"}\n]\n'
    p, log = read(tmp_path, data, "log.json")
    assert [(it.id, it.line) for it in log.items] == [("a1", 2), ("a3", 5)]
    assert diags(log) == [
        f"{p}:3: expected a JSON object, got int",
        f"{p}:4: duplicate id 'a1' (first at line 2); kept the first",
    ]


def test_json_array_resyncs_after_a_broken_element(tmp_path):
    data = (
        b'[\n  {\n    "question_id": "a1",\n    "x": {"a": 1}\n  },\n  {\n    "question_id": oops,\n'
        b'    "x": {\n    }\n  },\n  {\n    "question_id": "a3"\n  }\n]\n'
    )
    p, log = read(tmp_path, data, "log.json")
    assert ids(log) == ["a1", "a3"]
    assert diags(log) == [f"{p}:7: not valid JSON (Expecting value at column 20); skipped to line 11"]


def test_json_array_on_one_line_keeps_what_precedes_the_error(tmp_path):
    p, log = read(tmp_path, b'[{"question_id": "a1"}, {oops}, {"question_id": "a3"}]', "log.json")
    assert ids(log) == ["a1"]
    assert diags(log) == [
        f"{p}:1: not valid JSON (Expecting property name enclosed in double quotes "
        f"at column 26); rest of the array skipped"
    ]


def test_json_array_not_closed_and_invalid_utf8_and_bom(tmp_path):
    p, log = read(tmp_path, b'[\n  {"question_id": "a1", "answer": "x"},\n', "open.json")
    assert ids(log) == ["a1"] and diags(log) == [f"{p}:3: JSON array is not closed with ]"]
    data = b'\xef\xbb\xbf[\n  {"question_id": "a1"},\n  {"question_id": "a2", "answer": "caf\xe9"},\n  {"question_id": "a3"}\n]'
    p, log = read(tmp_path, data, "utf8.json")
    assert ids(log) == ["a1", "a3"]
    assert diags(log) == [
        f"{p}:1: UTF-8 byte-order mark at start of file (ignored)",
        f"{p}:3: invalid UTF-8 in this element",
    ]


def test_retrieval_field_presence(tmp_path):
    _, log = read(tmp_path, b'{"question_id": "a"}\n{"question_id": "b"}\n')
    assert log.has_retrieval is False
    _, log = read(tmp_path, b'{"question_id": "a"}\n{"question_id": "b", "retrieval_hit": false}\n', "b.jsonl")
    assert log.has_retrieval is True


def test_items_equal_and_hash_like_dataclasses(tmp_path):
    from dataclasses import replace

    _, a = read(tmp_path, GOOD, "a.jsonl")
    _, b = read(tmp_path, GOOD, "a.jsonl")
    assert a.items[0] == b.items[0] and hash(a.items[0]) == hash(b.items[0])
    assert replace(a.items[0], answer="z").answer == "z"
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.items[0].answer = "mutated"


def test_scale_benchmark_runs_and_agrees_with_the_naive_loop():
    import subprocess
    import sys

    from tests.fixtures.runlogs import HERE as fixtures

    script = fixtures.parents[2] / "benchmarks" / "runlog_scale.py"
    r = subprocess.run(
        [sys.executable, str(script), "--rows", "3000", "--repeat", "1"], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr  # the script exits non-zero when the failure counts disagree
    assert "load_run_log + cluster_failures:" in r.stdout and "rows/s" in r.stdout
    assert "ratio ftui / naive:" in r.stdout
