"""`ftui init`: each tool's files become a workspace that `ftui clusters` reads whole and counts right."""

from __future__ import annotations

import json

import pytest

from ftui.cli import main
from ftui.core.workspace.workspace import Workspace
from tests.fixtures.evallogs import EXPECTED, copy_tool
from tests.fixtures.runlogs import write_jsonl


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("tool", sorted(EXPECTED))
def test_init_then_clusters_skips_nothing_and_counts_right(tmp_path, capsys, tool):
    folder = copy_tool(tool, tmp_path)
    code, out, _ = run(capsys, "init", folder, "--yes")
    assert code == 0, out
    cfg = (folder / "ftui.yaml").read_text()
    assert f"source: {tool}" in cfg and "pass_rule:" in cfg and cfg.startswith("# Written by `ftui init`")
    assert 'user_template: "{question}"' in cfg  # no evidence in these logs: the question as asked
    items, passing, failing = EXPECTED[tool]
    assert f"{items} items" in out and f"{passing} pass, {failing} fail; 0 lines skipped" in out
    code, out, err = run(capsys, "clusters", folder, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["summary"]["skipped"] == 0 and data["summary"]["kept"] == items
    assert (data["passing"], data["failures"]) == (passing, failing)
    # The written file is an ordinary workspace: the same counts come from loading it.
    assert Workspace.load(folder).source == tool


def test_init_on_a_single_file_and_the_grades_shown_as_logged(tmp_path, capsys):
    folder = copy_tool("mt_bench", tmp_path)
    log = folder / "data/mt_bench/model_judgment/gpt-4_single.jsonl"
    code, out, _ = run(capsys, "init", log, folder, "--yes")
    assert (
        code == 0 and 'run_log: "data/mt_bench/model_judgment/gpt-4_single.jsonl"' in (folder / "ftui.yaml").read_text()
    )
    code, out, _ = run(capsys, "show", "111.2", "-w", folder)
    assert "grade: 2" in out and "[assistant]" in out and "Grader's reason:" in out
    code, out, _ = run(capsys, "clusters", folder, "--samples")
    assert "[2] " in out or "[4] " in out


def test_init_never_overwrites_without_force(tmp_path, capsys):
    folder = copy_tool("promptfoo", tmp_path)
    (folder / "ftui.yaml").write_text("run_log: out.json\n")
    code, _, err = run(capsys, "init", folder, "--yes")
    assert code == 2 and "ftui.yaml: already exists; pass --force to replace it" in err
    assert (folder / "ftui.yaml").read_text() == "run_log: out.json\n"
    code, _, _ = run(capsys, "init", folder, "--yes", "--force")
    assert code == 0 and "source: promptfoo" in (folder / "ftui.yaml").read_text()


def test_init_without_yes_and_no_terminal_writes_nothing(tmp_path, capsys, monkeypatch):
    folder = copy_tool("openai_evals", tmp_path)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    code, out, err = run(capsys, "init", folder)
    assert code == 2 and "pass --yes" in err and "5 items" in out
    assert not (folder / "ftui.yaml").exists()


def test_init_guesses_a_nested_mapping_and_a_numeric_pass_rule(tmp_path, capsys):
    rows = [
        {
            "id": f"r{i}",
            "request": {
                "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": f"Q{i}?"}]
            },
            "output": f"answer {i}",
            "reference": f"ref {i}",
            "eval": {"score": s, "category": "facts"},
        }
        for i, s in enumerate([9, 3, 7, 2, 10])
    ]
    write_jsonl(tmp_path / "prod.jsonl", rows)
    code, out, _ = run(capsys, "init", tmp_path / "prod.jsonl", "--yes")
    assert code == 0, out
    cfg = (tmp_path / "ftui.yaml").read_text()
    assert 'question_id: "id"' in cfg and 'prompt: "request.messages"' in cfg and 'grade: "eval.score"' in cfg
    assert "pass_rule: {at_least: 7}" in cfg and "(a 1-10 scale)" in cfg
    assert "5 items: 3 pass, 2 fail; 0 lines skipped" in out
    code, out, _ = run(capsys, "clusters", tmp_path, "--json")
    assert (json.loads(out)["passing"], json.loads(out)["failures"]) == (3, 2)


def test_init_reads_an_agent_log_of_failures_only_as_calls(tmp_path, capsys):
    weather = {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
    rows = [
        {
            "id": f"w{i}",
            "request": {
                "messages": [{"role": "user", "content": f"Weather in city {i}?"}],
                "tools": [{"type": "function", "function": weather}],
            },
            "output": "It is sunny." if i % 2 else '{"name": "get_weather", "arguments": {"town": "Oslo"}}',
            "verdict": "INCORRECT",
        }
        for i in range(4)
    ]
    write_jsonl(tmp_path / "agent.jsonl", rows)
    code, out, _ = run(capsys, "init", tmp_path / "agent.jsonl", "--yes")
    assert code == 0, out
    cfg = (tmp_path / "ftui.yaml").read_text()
    # The tools were found under the request, not read as a task (`tools.0.type` is "function").
    assert 'tools: "request.tools"' in cfg and "task:" not in cfg and "failure_label:" not in cfg
    # A log of failures only: the opposite word passes, in the log's own case.
    assert 'pass_rule: {values: ["CORRECT"]}' in cfg and "4 items: 0 pass, 4 fail" in out
    assert "grader: {kind: tool_call, arguments: equal}" in cfg
    ws = Workspace.load(tmp_path)
    assert ws.eval.grader["kind"] == "tool_call"
    code, out, _ = run(capsys, "show", "w0", "-w", tmp_path)
    assert code == 0 and "get_weather" in out


def test_init_on_something_it_cannot_read_is_one_line(tmp_path, capsys):
    write_jsonl(tmp_path / "x.jsonl", [{"text": "hello"}])
    code, _, err = run(capsys, "init", tmp_path / "x.jsonl", "--yes")
    assert code == 2 and err.count("\n") == 1 and "x.jsonl:1: cannot tell which field is the question id" in err


def test_init_picks_a_threshold_when_an_inspect_scorer_gives_numbers(tmp_path, capsys):
    src = next((copy_tool("inspect", tmp_path)).glob("*.json"))
    doc = json.loads(src.read_text())
    for s, v in zip(doc["samples"], [0.9, 0.2, 1.0, 0.4], strict=True):
        s["scores"] = {"f1": {"value": v, "explanation": "token overlap"}}
    folder = tmp_path / "numeric"
    folder.mkdir()
    (folder / src.name).write_text(json.dumps(doc, indent=2))
    code, out, _ = run(capsys, "init", folder, "--yes")
    assert code == 0 and "pass_rule: {at_least: 0.5}" in (folder / "ftui.yaml").read_text()
    assert "4 items: 2 pass, 2 fail; 0 lines skipped" in out


def test_init_on_ftui_own_layout_keeps_the_evidence_template(tmp_path, capsys):
    from tests.fixtures.runlogs import default_rows

    write_jsonl(tmp_path / "run_log.jsonl", default_rows())
    code, _, _ = run(capsys, "init", tmp_path / "run_log.jsonl", "--yes")
    cfg = (tmp_path / "ftui.yaml").read_text()
    assert code == 0 and "fields:" not in cfg and "user_template" not in cfg
    assert 'pass_rule: {values: ["acceptable", "correct"]}' in cfg
