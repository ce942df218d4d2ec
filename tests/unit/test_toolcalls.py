"""Tool calls through the loop's core: reading, rows, formats both ways, checks and grading."""

from __future__ import annotations

import json

import pytest

from ftui.core.base import toolcalls
from ftui.core.build import builder, formats
from ftui.core.build.checks import run_checks
from ftui.core.curate.corrections import CorrectionStore
from ftui.core.grade.grading import grade
from ftui.core.logs.runlog import load_run_log
from ftui.sample.agents import TOOLS
from tests.fixtures.toolcalls import workspace as agents_ws
from tests.unit.test_cli_data import run

FIX = __import__("pathlib").Path(__file__).resolve().parents[1] / "fixtures" / "toolcalls"
GLAIVE = FIX / "glaive_toolcall_demo.json"
OPENAI = FIX / "openai_tools.jsonl"


def test_parse_calls_strict_and_lenient():
    call = '{"name": "get_weather", "arguments": {"city": "Oslo", "unit": "celsius"}}'
    assert toolcalls.parse_calls(call) == [{"name": "get_weather", "arguments": {"city": "Oslo", "unit": "celsius"}}]
    assert toolcalls.parse_calls(f"<tool_call>\n{call}\n</tool_call>") is not None
    assert toolcalls.parse_calls(f"```json\n{call}\n```") is not None
    assert toolcalls.parse_calls(f"Sure! {call}") is None
    assert toolcalls.parse_calls(f"Sure! {call} done", lenient=True)[0]["name"] == "get_weather"
    assert toolcalls.parse_calls('{"file_path": "a.py"}') is None  # JSON, but not a call
    # OpenAI's arguments are a JSON string; the canonical text holds them as an object.
    msg = {"role": "assistant", "tool_calls": toolcalls.calls_to_openai(toolcalls.parse_calls(call))}
    assert msg["tool_calls"][0]["function"]["arguments"] == '{"city": "Oslo", "unit": "celsius"}'
    assert toolcalls.message_text(msg) == call


def test_fallback_puts_tools_in_the_system_turn_and_calls_as_text():
    msgs = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Oslo?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": toolcalls.calls_to_openai(
                [{"name": "get_weather", "arguments": {"city": "Oslo", "unit": "celsius"}}]
            ),
        },
        {"role": "tool", "tool_call_id": "call_0", "content": '{"t": 3}'},
    ]
    out = toolcalls.fallback_messages(msgs, TOOLS)
    assert out[0]["content"].startswith("Be brief.\n\n" + toolcalls.FALLBACK_INSTRUCTION)
    assert '"name": "convert_currency"' in out[0]["content"]
    assert out[2] == {
        "role": "assistant",
        "content": '{"name": "get_weather", "arguments": {"city": "Oslo", "unit": "celsius"}}',
    }
    assert out[3] == {"role": "tool", "content": '{"t": 3}'}
    assert all(set(m) == {"role", "content"} for m in out)


def test_schema_problems_name_the_argument():
    ok = {"name": "get_weather", "arguments": {"city": "Oslo", "unit": "celsius"}}
    assert toolcalls.call_problems(ok, TOOLS) == []
    bad = {"name": "get_weather", "arguments": {"city": "Oslo", "unit": "kelvin"}}
    assert toolcalls.call_problems(bad, TOOLS) == ["`unit`: 'kelvin' is not one of ['celsius', 'fahrenheit']"]
    assert "not a declared tool" in toolcalls.call_problems({"name": "nope", "arguments": {}}, TOOLS)[0]
    missing = toolcalls.call_problems({"name": "get_weather", "arguments": {"city": "Oslo"}}, TOOLS)
    assert missing == ["'unit' is a required property"]


def test_run_log_reads_calls_and_agent_conversations(tmp_path):
    ws = agents_ws.make(tmp_path)
    log = load_run_log(ws)
    assert not log.errors
    by = log.by_id
    # An OpenAI tool_calls message and a JSON call in the text are both the same canonical call.
    assert by["w-denver"].answer == '{"name": "get_weather", "arguments": {"city": "Denver", "unit": "celsius"}}'
    assert by["w-hanoi"].answer == '{"name": "get_weather", "arguments": {"city": "Hanoi", "unit": "celsius"}}'
    assert by["w-paris"].answer.startswith("The weather")
    assert toolcalls.tool_names(toolcalls.load_tools(by["w-paris"].tools)) == [
        "get_weather",
        "convert_currency",
        "find_flights",
    ]
    agent = by["agent-1"]
    roles = [r for r, _ in agent.messages]
    assert roles == ["system", "user", "assistant", "tool"] and agent.answer == "There is flight LA801."
    assert json.loads(agent.messages[2][1])["name"] == "find_flights"


def _correct(ws, ids):
    store = CorrectionStore(ws)
    log = load_run_log(ws)
    for i in ids:
        item = log.by_id[i]
        city = i.split("-", 1)[1].capitalize() if i.startswith("w-") else "Lima"
        store.save(item, toolcalls.call_text([agents_ws.weather(city)]))


def test_build_rows_keep_tools_and_tool_calls_and_dpo_pairs(tmp_path):
    ws = agents_ws.make(tmp_path)
    _correct(ws, ["w-paris", "w-tokyo", "w-lima", "w-oslo", "w-cairo", "agent-1"])
    b = builder.build(ws)
    rows = {r["id"]: r for r in b.rows("train")}
    paris = rows["w-paris"]
    assert paris["tools"] == TOOLS and paris["parallel_tool_calls"] is False
    last = paris["messages"][-1]
    assert last["role"] == "assistant" and last["content"] is None
    assert json.loads(last["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris", "unit": "celsius"}
    agent = rows["agent-1"]["messages"]
    assert agent[2]["tool_calls"][0]["function"]["name"] == "find_flights"
    assert agent[3]["tool_call_id"] == agent[2]["tool_calls"][0]["id"]
    # DPO: the call is chosen, the prose rejected.
    dpo = {r["id"]: r for r in b.rows("dpo_train")}
    assert dpo["w-paris"]["chosen"][0]["tool_calls"] and dpo["w-paris"]["rejected"][0]["content"].startswith("The")
    # Exported as LLaMA-Factory sharegpt: function_call / observation turns and the tools column.
    formats.write(b.rows("train"), tmp_path / "lf" / "train.json", "sharegpt")
    sg = {json.dumps(r["conversations"][0]): r for r in json.loads((tmp_path / "lf" / "train.json").read_text())}
    one = next(r for r in sg.values() if "Flights Oslo" in r["conversations"][0]["value"])
    assert [t["from"] for t in one["conversations"]] == ["human", "function_call", "observation", "function_call"]
    assert json.loads(one["tools"])[0]["name"] == "get_weather"
    info = json.loads((tmp_path / "lf" / "dataset_info.json").read_text())["train"]
    assert info["columns"]["tools"] == "tools" and info["tags"]["function_tag"] == "function_call"
    formats.write(b.rows("dpo_train"), tmp_path / "lf" / "dpo.json", "sharegpt-preference")
    pref = json.loads((tmp_path / "lf" / "dpo.json").read_text())[0]
    assert pref["chosen"]["from"] == "function_call" and pref["rejected"]["from"] == "gpt"


def test_glaive_sharegpt_round_trips_with_tools_and_calls(tmp_path):
    res = formats.read(GLAIVE)
    assert res.format == "sharegpt" and not res.problems and len(res.rows) == 3
    area = res.rows[1]
    assert area["tools"][0] == {
        "type": "function",
        "function": json.loads(json.loads(GLAIVE.read_text())[1]["tools"])[0],
    }
    assert [m["role"] for m in area["messages"]][:4] == ["user", "assistant", "tool", "assistant"]
    assert area["messages"][1]["tool_calls"][0]["function"]["name"] == "calculate_area"
    formats.write(res.rows, tmp_path / "out.json", "sharegpt")
    assert json.loads((tmp_path / "out.json").read_text()) == json.loads(GLAIVE.read_text())
    # Through OpenAI's layout and back: the calls and tools survive (an empty `tools: "[]"` is
    # left out of OpenAI's file, which does not accept an empty list).
    formats.write(res.rows, tmp_path / "openai.jsonl", "openai-chat")
    back = formats.read(tmp_path / "openai.jsonl")
    formats.write(back.rows, tmp_path / "again.json", "sharegpt")
    want = json.loads(GLAIVE.read_text())
    want[0].pop("tools")
    assert json.loads((tmp_path / "again.json").read_text()) == want


def test_openai_tools_jsonl_round_trips(tmp_path):
    res = formats.read(OPENAI)
    assert res.format == "openai-chat" and not res.problems
    formats.write(res.rows, tmp_path / "out.jsonl", "openai-chat")
    assert [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()] == [
        json.loads(x) for x in OPENAI.read_text().splitlines()
    ]
    # Through sharegpt and back: same calls, tools and results (call ids are renumbered).
    formats.write(res.rows, tmp_path / "sg.json", "sharegpt")
    back = formats.read(tmp_path / "sg.json").rows
    for a, b in zip(res.rows, back, strict=True):
        assert a["tools"] == b["tools"]
        assert toolcalls.plain(a["messages"]) == toolcalls.plain(b["messages"])


def test_cli_import_round_trip(tmp_path, capsys):
    code, out, _ = run(capsys, "import", GLAIVE, "--as", "openai-chat", "-o", tmp_path / "g.jsonl", "--json")
    assert code == 0 and json.loads(out)["rows"] == 3
    code, out, _ = run(capsys, "import", tmp_path / "g.jsonl", "--as", "sharegpt", "-o", tmp_path / "g.json")
    assert code == 0
    assert json.loads((tmp_path / "g.json").read_text())[1:] == json.loads(GLAIVE.read_text())[1:]


def test_check_validates_calls_against_schemas_and_counts_tools(tmp_path):
    rows = [json.loads(x) for x in OPENAI.read_text().splitlines()]
    bad = json.loads(json.dumps(rows[0]))
    bad["messages"][1]["tool_calls"][0]["function"]["arguments"] = '{"location": "Oslo", "format": "kelvin"}'
    rep = run_checks([rows[0], bad])
    found = [f for f in rep.findings if f.kind == "bad_tool_call"]
    assert len(found) == 1 and "`format`: 'kelvin' is not one of" in found[0].message

    class Counting:
        def __init__(self):
            self.seen = []

        def count_many(self, convs, tools=None):
            self.seen.append(tools)
            return [10] * len(convs)

    tok = Counting()
    run_checks([rows[0]], tokenizer=tok)
    assert tok.seen == [[rows[0]["tools"]]]


def test_tokens_render_tools_by_fallback_for_smollm2_template():
    from ftui.core.base.models import local_model_dir
    from ftui.core.base.tokens import ChatTokenizer

    d = local_model_dir("smollm2-135m-instruct")
    if d is None:
        pytest.skip("embedded model not prepared")
    tok = ChatTokenizer.from_dir(d)
    assert tok.renders_tools() is False
    msgs = [{"role": "user", "content": "Oslo?"}]
    text = tok.render(msgs, tools=TOOLS)
    assert toolcalls.FALLBACK_INSTRUCTION in text and "get_weather" in text
    assert tok.count(msgs, tools=TOOLS) > tok.count(msgs) + 50


@pytest.mark.parametrize(
    ("answer", "spec", "passed", "reason"),
    [
        ('{"name": "get_weather", "arguments": {"city": "Oslo", "unit": "celsius"}}', {}, True, "calls `get_weather`"),
        ('{"name": "get_weather", "arguments": {"unit": "celsius", "city": "Oslo"}}', {}, True, "expected arguments"),
        (
            '{"name": "get_weather", "arguments": {"city": "Lima", "unit": "celsius"}}',
            {},
            False,
            '`city` is "Lima", expected "Oslo"',
        ),
        ('{"name": "find_flights", "arguments": {}}', {}, False, "called `find_flights`, expected `get_weather`"),
        ("It is cold in Oslo.", {}, False, "no tool call in the answer (expected `get_weather`)"),
        (
            '{"name": "get_weather", "arguments": {"city": "Oslo", "unit": "fahrenheit"}}',
            {"arguments": "keys", "keys": ["city"]},
            True,
            "equal on city",
        ),
        (
            '{"name": "get_weather", "arguments": {"city": "Lima", "unit": "fahrenheit"}}',
            {"arguments": "schema"},
            True,
            "its schema accepts",
        ),
        (
            '{"name": "get_weather", "arguments": {"city": "Lima", "unit": "kelvin"}}',
            {"arguments": "schema"},
            False,
            "`unit`: 'kelvin' is not one of",
        ),
    ],
)
def test_tool_call_grader(answer, spec, passed, reason):
    expected = '{"name": "get_weather", "arguments": {"city": "Oslo", "unit": "celsius"}}'
    g = grade(answer, expected, {"kind": "tool_call", **spec}, tools=TOOLS)
    assert g.passed is passed and reason in g.reason and g.grader == "tool_call"


def test_show_lists_the_tools_and_check_reads_calls_as_answers(tmp_path, capsys):
    ws = agents_ws.make(tmp_path)
    code, out, _ = run(capsys, "show", "w-paris", "-w", ws.root)
    assert code == 0 and "get_weather(city, unit) — Current weather in a city" in out
    _correct(ws, ["w-paris", "w-tokyo"])
    b = builder.build(ws)
    rep = run_checks(b.train_path)
    assert not [f for f in rep.findings if f.kind in ("output_too_short", "bad_tool_call", "missing_content")]
