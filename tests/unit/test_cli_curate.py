"""The headless curate commands end to end, through ftui.cli.main and one real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ftui.cli import main
from ftui.core.curate.corrections import CorrectionStore
from ftui.core.workspace.workspace import Workspace
from tests.fixtures.runlogs import default_rows, make_workspace, row


@pytest.fixture
def ws_dir(tmp_path):
    return make_workspace(tmp_path / "ws", default_rows())


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_clusters_table_and_json(ws_dir, capsys):
    code, out, err = run(capsys, "clusters", str(ws_dir))
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "Model-attributed failures: 9 of 12 items (75.0%)"
    assert "retrieval misses: 1 (not the model's fault)" in lines[1] and "passing: 2" in lines[1]
    header = next(line for line in lines if line.startswith("LABEL"))
    assert header.split() == ["LABEL", "COUNT", "ITEMS", "FAILS", "CAND", "DONE", "LEFT"]
    wf = next(line for line in lines if line.startswith("wrong_field"))
    assert wf.split() == ["wrong_field", "6", "50.0%", "66.7%", "yes", "0", "6"]
    assert "Fine-tuning candidates (>= 5 failures): wrong_field" in out
    assert all(len(line) <= 80 for line in lines)

    code, out, _ = run(capsys, "clusters", "-w", str(ws_dir), "--json")
    data = json.loads(out)
    assert code == 0 and data["failures"] == 9 and data["retrieval_field_present"] is True
    assert [(c["label"], c["count"], c["candidate"]) for c in data["clusters"]] == [
        ("wrong_field", 6, True),
        ("ignored_evidence", 2, False),
        ("unlabeled", 1, False),
    ]


def test_clusters_says_when_there_is_no_retrieval_field(tmp_path, capsys):
    ws = make_workspace(tmp_path / "ws", [row(f"a{i}", hit=None) for i in range(3)])
    code, out, _ = run(capsys, "clusters", str(ws))
    assert code == 0
    assert "no retrieval field (retrieval_hit)" in " ".join(out.split())
    assert "every non-passing item is counted as a model failure" in " ".join(out.split())
    data = json.loads(run(capsys, "clusters", str(ws), "--json")[1])
    assert data["retrieval_field_present"] is False and "no retrieval field" in data["notice"]
    status = run(capsys, "status", str(ws))[1]
    assert "no retrieval field" in status


def test_long_labels_fit_80_columns(tmp_path, capsys):
    ws = make_workspace(tmp_path / "ws", [row("a", label="x" * 120), row("b", question="q" * 300)])
    out = run(capsys, "clusters", str(ws), "--samples")[1]
    assert all(len(line) <= 80 for line in out.splitlines())


def test_diagnostics_go_to_stderr(tmp_path, capsys):
    rows = b"".join(json.dumps(r).encode() + b"\n" for r in default_rows())
    bad = b"".join(b"{broken %d\n" % i for i in range(25))
    ws = make_workspace(tmp_path / "ws", raw_log=rows + bad)
    code, out, err = run(capsys, "clusters", str(ws), "--json")
    assert code == 0 and json.loads(out)["summary"]["skipped"] == 25
    err_lines = err.splitlines()
    assert len(err_lines) == 22
    assert err_lines[0].endswith(
        "run_log.jsonl:13: not valid JSON (Expecting property name enclosed in double quotes at column 2)"
    )
    assert err_lines[20] == "... and 5 more"
    assert err_lines[21] == "run_log.jsonl: 12 items kept; 25 lines skipped (25 not json)"


def test_correct_show_status_revert(ws_dir, capsys):
    code, out, _ = run(capsys, "correct", "wf1", "-w", str(ws_dir), "--text", "the fixed answer")
    assert code == 0 and out.startswith("wf1: corrected at ")
    code, out, _ = run(capsys, "show", "wf1", "-w", str(ws_dir))
    assert code == 0
    assert "wf1  [wrong_field]  grade: incorrect  retrieval: hit  (model failure)" in out
    assert "Model answer:\n  answer for wf1" in out and "the fixed answer" in out
    data = json.loads(run(capsys, "show", "wf1", "-w", str(ws_dir), "--json")[1])
    assert data["correction"]["output"] == "the fixed answer" and data["stale"] is False
    assert data["item"]["evidence_files"] == ["src/wf1.py"] and data["category"] == "model_failure"

    assert run(capsys, "correct", "wf2", "-w", str(ws_dir), "--skip")[0] == 0
    assert run(capsys, "correct", "wf3", "-w", str(ws_dir), "--review")[0] == 0
    st = json.loads(run(capsys, "status", str(ws_dir), "--json")[1])
    assert {
        k: st[k]
        for k in ("items", "failures", "clusters", "candidates", "corrected", "skipped", "needs_review", "remaining")
    } == {
        "items": 12,
        "failures": 9,
        "clusters": 3,
        "candidates": 1,
        "corrected": 1,
        "skipped": 1,
        "needs_review": 1,
        "remaining": 7,
    }
    text = run(capsys, "status", str(ws_dir))[1]
    assert "Remaining          7" in text and "Corrected          1" in text
    table = run(capsys, "clusters", str(ws_dir))[1]
    assert next(line for line in table.splitlines() if line.startswith("wrong_field")).split()[-2:] == ["1", "4"]

    code, out, _ = run(capsys, "correct", "wf1", "-w", str(ws_dir), "--revert")
    assert code == 0 and out.strip() == "wf1: correction removed"
    assert CorrectionStore(Workspace.load(ws_dir)).get("wf1") is None


def test_correct_from_file_and_stale_detection(ws_dir, tmp_path, capsys):
    f = tmp_path / "fix.txt"
    f.write_text("line one\nline two\n")
    assert run(capsys, "correct", "ie0", "-w", str(ws_dir), "--file", str(f))[0] == 0
    ws = Workspace.load(ws_dir)
    assert CorrectionStore(ws).get("ie0").output == "line one\nline two"
    rows = default_rows()
    for r in rows:
        if r["question_id"] == "ie0":
            r["answer"] = "a new answer from a re-run"
    (ws_dir / "run_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = run(capsys, "show", "ie0", "-w", str(ws_dir))[1]
    assert "answer changed after this correction was written" in out
    assert json.loads(run(capsys, "status", str(ws_dir), "--json")[1])["stale"] == 1


def test_usage_and_input_errors_exit_2(ws_dir, tmp_path, capsys):
    code, _, err = run(capsys, "show", "nope", "-w", str(ws_dir))
    assert code == 2 and "no item with id 'nope'" in err
    code, _, err = run(capsys, "correct", "wf1", "-w", str(ws_dir))
    assert code == 2 and "--text T, --file F, --skip, --review or --revert" in err
    code, _, err = run(capsys, "correct", "wf1", "-w", str(ws_dir), "--text", "  ")
    assert code == 2 and "empty correction" in err
    code, _, err = run(capsys, "clusters", str(tmp_path / "nowhere"))
    assert code == 2 and "no such workspace folder" in err
    code, _, err = run(capsys, "import-review", str(tmp_path / "missing.jsonl"), "-w", str(ws_dir))
    assert code == 2 and "no such file" in err
    code, _, err = run(capsys, "export-review", "-w", str(ws_dir), "--cluster", "nope")
    assert code == 2 and "no cluster 'nope'" in err
    empty = make_workspace(tmp_path / "empty", raw_log=b"{bad\n")
    code, out, err = run(capsys, "status", str(empty))
    assert code == 2 and out == ""
    assert err.splitlines()[-1].endswith("run_log.jsonl: no usable items in the run log")


def test_export_edit_import_via_cli(ws_dir, tmp_path, capsys):
    code, out, _ = run(capsys, "export-review", "-w", str(ws_dir), "--cluster", "wrong_field")
    assert code == 0
    path = ws_dir / ".ftui" / "review" / "review-wrong_field.jsonl"
    assert str(path) in out and "Wrote 6 failures" in out
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[0]["corrected_output"] = "fixed zero"
    rows[1]["corrected_output"] = "fixed one"
    edited = tmp_path / "edited.jsonl"
    edited.write_text("".join(json.dumps(r) + "\n" for r in rows) + "garbage\n")
    code, out, err = run(capsys, "import-review", str(edited), "-w", str(ws_dir))
    assert code == 1  # a bad line was found
    assert f"{edited}:7: not valid JSON" in err
    assert out.startswith("2 saved (0 overwritten), 0 unchanged, 4 left empty, 0 conflicts, 1 bad lines")
    run(capsys, "correct", "wf2", "-w", str(ws_dir), "--text", "mine")
    rows[2]["corrected_output"] = "theirs"
    edited.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, out, err = run(capsys, "import-review", str(edited), "-w", str(ws_dir), "--json")
    data = json.loads(out)
    assert code == 1 and data["conflicts"][0]["id"] == "wf2" and sorted(data["unchanged"]) == ["wf0", "wf1"]
    code, out, err = run(capsys, "import-review", str(edited), "-w", str(ws_dir), "--force")
    assert code == 0 and out.startswith("1 saved (1 overwritten)")
    assert CorrectionStore(Workspace.load(ws_dir)).get("wf2").output == "theirs"
    # --remaining leaves out what is done; -o - writes to stdout.
    code, out, _ = run(capsys, "export-review", "-w", str(ws_dir), "--remaining", "-o", "-")
    assert code == 0
    assert [json.loads(line)["question_id"] for line in out.splitlines()] == [
        "wf3",
        "wf4",
        "wf5",
        "ie0",
        "ie1",
        "nolabel",
    ]


def test_real_subprocess(ws_dir):
    env = dict(os.environ)
    r = subprocess.run(
        [sys.executable, "-m", "ftui", "clusters", str(ws_dir), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["failures"] == 9
    r = subprocess.run(
        [sys.executable, "-m", "ftui", "correct", "nope", "-w", str(ws_dir), "--skip"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 2 and "no item with id 'nope'" in r.stderr and "Traceback" not in r.stderr


def test_correct_review_with_draft_text_and_stdin(ws_dir, capsys, monkeypatch):
    import io

    code, out, _ = run(capsys, "correct", "wf4", "-w", str(ws_dir), "--review", "--text", "a draft", "--json")
    assert code == 0 and json.loads(out)["status"] == "needs_review" and json.loads(out)["output"] == "a draft"
    monkeypatch.setattr("sys.stdin", io.StringIO("from stdin\n"))
    assert run(capsys, "correct", "wf4", "-w", str(ws_dir), "--file", "-")[0] == 0
    c = CorrectionStore(Workspace.load(ws_dir)).get("wf4")
    assert (c.status, c.output) == ("corrected", "from stdin")
    code, out, _ = run(capsys, "correct", "ok1", "-w", str(ws_dir), "--text", "x")
    assert code == 0 and "(note: passing, not a model failure)" in out
    code, _, err = run(capsys, "correct", "wf4", "-w", str(ws_dir), "--skip", "--review")
    assert code == 2 and "cannot be combined" in err
