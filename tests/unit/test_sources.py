"""Each eval tool's files, read as the tool writes them, and a file that is not the tool's format."""

from __future__ import annotations

import json
import zipfile

import pytest

from ftui.core.logs.logfiles import folder_logs
from ftui.core.logs.passrule import PassRule
from ftui.core.logs.runlog import read_items
from ftui.core.logs.sources import SOURCES, detect
from tests.fixtures.evallogs import EXPECTED, HERE

FOLDERS = {"mt_bench": "mt_bench/data/mt_bench/model_judgment"}


def read_tool(tool, files=None):
    files = files or folder_logs(HERE / FOLDERS.get(tool, tool), tool)
    return read_items(files, rule=PassRule.from_config(SOURCES[tool].rule, ()), source=tool)


@pytest.mark.parametrize("tool", sorted(EXPECTED))
def test_fixture_is_recognised_and_counted(tool):
    files = folder_logs(HERE / FOLDERS.get(tool, tool), tool)
    assert files and all(detect(f) == tool for f in files)
    log = read_tool(tool, files)
    assert log.errors == []
    items, passing, failing = EXPECTED[tool]
    assert (len(log.items), sum(it.failures == 0 for it in log.items)) == (items, passing)
    assert sum(it.failures > 0 for it in log.items) == failing


def test_lm_eval_generated_and_ranked_answers():
    by = read_tool("lm_eval").by_id
    a = by["arith/1/strict-match"]
    assert (a.question, a.answer, a.expected, a.grade, a.task) == ("What is 7 - 4?", "4", "3", 0.0, "arith")
    assert a.prompt == "Question: What is 7 - 4?\nAnswer:"
    m = by["mcq/1"]
    # Multiple choice: the answer is the choice ranked first; the target index names the right one.
    assert (m.answer, m.expected, m.grade) == ("chair", "blue", 0.0)
    assert "ranked choice 2 first of 3" in m.grade_reason


def test_lm_eval_every_filter_is_read_or_the_one_named():
    log = read_tool("lm_eval")
    assert log.diagnostics == []
    ids = [it.id for it in log.items if it.task == "arith"]
    assert ids[:4] == [f"arith/{i}/strict-match" for i in range(4)]
    assert ids[4:] == [f"arith/{i}/flexible-extract" for i in range(4)]
    files = folder_logs(HERE / "lm_eval", "lm_eval")
    rule = PassRule.from_config(SOURCES["lm_eval"].rule, ())
    one = read_items(files, rule=rule, source="lm_eval", source_options={"filter": "flexible-extract"})
    assert [it.id for it in one.items if it.task == "arith"] == [f"arith/{i}" for i in range(4)]
    assert {it.line for it in one.items if it.task == "arith"} == {5, 6, 7, 8}
    # The other task has no such filter: it keeps its own.
    assert [it.id for it in one.items if it.task == "mcq"] == ["mcq/0", "mcq/1", "mcq/2"]


def test_promptfoo_grade_reason_and_chat_prompt():
    by = read_tool("promptfoo").by_id
    assert (by["1"].grade, by["1"].answer, by["1"].expected, by["1"].label) == (False, "Kyoto", "Tokyo", "icontains")
    assert 'Expected output to contain "Tokyo"' in by["1"].grade_reason
    assert by["4"].messages == (("system", "Answer with the city only."), ("user", "What is the capital of Spain?"))
    assert by["1"].line == 91  # the line the result starts on in the indented document


def test_inspect_epochs_are_attempts_and_messages_the_prompt():
    log = read_tool("inspect")
    by = log.by_id
    assert (by["capitals/3"].failures, by["capitals/3"].attempts, by["capitals/3"].grade) == (1, 2, "I")
    assert by["capitals/3"].answer == "Rio de Janeiro"
    assert str(by["capitals/3"].source).endswith(".eval/samples/3_epoch_2.json")
    assert by["capitals/1"].messages[0] == ("system", "Answer with the city only.")
    assert by["arith/2"].expected == "25" and by["arith/2"].task == "arith"


def test_openai_evals_joined_on_sample_id():
    by = read_tool("openai_evals").by_id
    it = by["test-match.s1.1"]
    assert (it.grade, it.answer, it.expected, it.task) == (False, "dog", "fox", "test-match.s1.simple-v0")
    assert it.messages[-1] == ("user", "The quick brown ")


def test_mt_bench_second_turn_is_the_whole_conversation():
    it = read_tool("mt_bench").by_id["111.2"]
    assert it.messages == (
        ("user", "What is the area of a square with side 3?"),
        ("assistant", "The area is 9."),
        ("user", "And of a square with side 5?"),
    )
    assert (it.answer, it.expected, it.grade, it.label) == ("The area is 20.", "25", 2, "math")


@pytest.mark.parametrize(
    ("tool", "name", "content", "reason"),
    [
        (
            "promptfoo",
            "out.json",
            '{"evalId": "x", "results": {"stats": {}}}',
            "not promptfoo's format: no `results.results` array",
        ),
        ("inspect", "log.json", '{"version": 2, "eval": {}}', "not inspect_ai's format: no `samples` array"),
        (
            "lm_eval",
            "samples_t_2026-01-01T00-00-00.jsonl",
            '{"id": 1}\n',
            "not lm-evaluation-harness's format: no `doc_id`",
        ),
        ("openai_evals", "run.jsonl", '{"foo": 1}\n', "not OpenAI evals's format: no `spec` line"),
        (
            "mt_bench",
            "x_single.jsonl",
            '{"question_id": 1, "model": "m", "g1_winner": "model_1"}\n',
            "not MT-Bench's format: a pairwise",
        ),
    ],
)
def test_a_document_not_in_the_tools_format_is_one_file_line_error(tmp_path, tool, name, content, reason):
    p = tmp_path / name
    p.write_text(content)
    log = read_tool(tool, [p])
    assert log.items == []
    (d,) = log.errors
    assert str(d).startswith(f"{p}:1: {reason}")


def test_bad_records_inside_a_tool_file_cost_only_themselves(tmp_path):
    src = HERE / "mt_bench/data/mt_bench"
    dst = tmp_path / "data/mt_bench"
    (dst / "model_judgment").mkdir(parents=True)
    (dst / "model_answer").mkdir()
    (dst / "question.jsonl").write_text((src / "question.jsonl").read_text())
    (dst / "model_answer/tiny-chat.jsonl").write_text((src / "model_answer/tiny-chat.jsonl").read_text())
    lines = (src / "model_judgment/gpt-4_single.jsonl").read_text().splitlines()
    bad = json.loads(lines[1]) | {"score": -1}
    lines[1] = json.dumps(bad)
    lines.insert(3, "{broken")
    p = dst / "model_judgment/gpt-4_single.jsonl"
    p.write_text("\n".join(lines) + "\n")
    log = read_tool("mt_bench", [p])
    assert sorted((str(d) for d in log.errors), key=lambda s: int(s.split(":")[1])) == [
        f"{p}:2: score -1: the judge's rating could not be parsed",
        f"{p}:4: not valid JSON (Expecting property name enclosed in double quotes at column 2)",
    ]
    assert len(log.items) == 5


def test_inspect_eval_zip_with_a_broken_sample(tmp_path):
    src = next((HERE / "inspect").glob("*.eval"))
    dst = tmp_path / src.name
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            zout.writestr(name, b"{not json" if name == "samples/2_epoch_1.json" else data)
    log = read_tool("inspect", [dst])
    assert [str(d) for d in log.errors] == [
        f"{dst}/samples/2_epoch_1.json:1: not valid JSON (Expecting property name enclosed in double quotes at column 2)"
    ]
    assert log.by_id["capitals/2"].attempts == 1


def test_lm_eval_chat_template_prompt_and_the_in_memory_arguments_form(tmp_path):
    msgs = [{"role": "system", "content": "Solve it."}, {"role": "user", "content": "2 + 2?"}]
    rows = [
        {
            "doc_id": 0,
            "doc": {"question": "2 + 2?"},
            "target": "4",
            "filter": "strict-match",
            "metrics": ["exact_match"],
            "arguments": {"gen_args_0": {"arg_0": json.dumps(msgs), "arg_1": {"until": ["\n"]}}},
            "resps": [["5"]],
            "filtered_resps": ["5"],
            "exact_match": 0.0,
        },
        {
            "doc_id": 1,
            "doc": {"question": "3 + 3?"},
            "target": "6",
            "metrics": ["exact_match"],
            "arguments": [["Q: 3 + 3?\nA:", {"until": ["\n"]}]],
            "resps": [["6"]],
            "filtered_resps": ["6"],
            "exact_match": 1.0,
        },
    ]
    p = tmp_path / "samples_sums_2026-11-30T10-00-00.000001.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    log = read_tool("lm_eval", [p])
    assert log.errors == []
    a, b = log.items
    assert a.messages == (("system", "Solve it."), ("user", "2 + 2?")) and a.answer == "5" and a.failures == 1
    assert b.prompt == "Q: 3 + 3?\nA:" and b.answer == "6" and b.failures == 0


def test_a_field_of_the_tools_own_record_can_be_mapped(tmp_path):
    from ftui.core.logs.runlog import load_run_log
    from ftui.core.workspace.workspace import Workspace
    from tests.fixtures.evallogs import copy_tool

    folder = copy_tool("lm_eval", tmp_path)
    (folder / "ftui.yaml").write_text(
        'run_log: "."\nsource: lm_eval\npass_rule: {at_least: 1}\nfields:\n  failure_label: record.filter\n'
    )
    log = load_run_log(Workspace.load(folder))
    assert log.by_id["arith/1/strict-match"].label == "strict-match" and log.by_id["mcq/1"].label == "none"
