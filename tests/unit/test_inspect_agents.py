"""inspect_ai agent logs, as inspect_ai itself writes them: the tools, the calls and their results come
in whole, and a final answer that is a call is graded, corrected and built as a call."""

from __future__ import annotations

import json

import pytest

from ftui.core.base import toolcalls
from ftui.core.build import builder
from ftui.core.curate.corrections import CorrectionStore
from ftui.core.grade.grading import grade, spec_for
from ftui.core.logs.passrule import PassRule
from ftui.core.logs.runlog import load_run_log, read_items
from ftui.core.logs.sources import SOURCES, detect
from ftui.core.workspace.workspace import Workspace
from tests.fixtures.evallogs import HERE, copy_tool
from tests.unit.test_cli_init import run

AGENTS = HERE / "inspect_agents"
LOGS = [next(AGENTS.glob("*.eval")), next(AGENTS.glob("*.json"))]
SYSTEM = ("system", "You are a travel desk. Use the tools to answer.")


def weather(city: str, unit: str = "celsius") -> str:
    return toolcalls.call_text([{"name": "get_weather", "arguments": {"city": city, "unit": unit}}])


def read(path):
    return read_items([path], rule=PassRule.from_config(SOURCES["inspect"].rule, ()), source="inspect")


def records(path):
    diags: list = []
    out = {rec["question_id"]: rec for _, _, rec in SOURCES["inspect"].records(path, diags)}
    assert diags == []
    return out


@pytest.mark.parametrize("path", LOGS, ids=["eval-zip", "json"])
def test_agent_samples_keep_their_calls_results_and_tools(path):
    assert detect(path) == "inspect"
    log = read(path)
    assert log.diagnostics == []
    tokyo = log.by_id["travel/tokyo"]
    assert tokyo.messages == (
        SYSTEM,
        ("user", "Flights from Paris to Tokyo on 2026-04-02, then the weather in Tokyo in celsius."),
        (
            "assistant",
            toolcalls.call_text(
                [
                    {
                        "name": "find_flights",
                        "arguments": {"origin": "Paris", "destination": "Tokyo", "date": "2026-04-02"},
                    }
                ]
            ),
        ),
        ("tool", '{"flights": ["LA801"]}'),
    )
    # The final answer is a call (inspect logs its text as ""), not an empty answer.
    assert tokyo.answer == weather("Paris") and tokyo.expected == weather("Tokyo") and tokyo.grade == "I"
    tools = toolcalls.load_tools(tokyo.tools)
    assert toolcalls.tool_names(tools) == ["get_weather", "find_flights"]
    assert tools[0]["function"]["parameters"] == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "The city, e.g. Oslo."},
            "unit": {"type": "string", "description": "The temperature unit.", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city", "unit"],
        "additionalProperties": False,
    }
    # inspect stores event text over 100 characters once, as an attachment: it comes back whole.
    assert tools[1]["function"]["description"].startswith("Flights between two cities on a date: each flight's")
    assert "attachment://" not in tokyo.tools
    assert log.by_id["travel/lima"].answer == weather("Lima")
    cairo = log.by_id["travel/cairo"]
    assert cairo.answer == "It is hot in Cairo, about 95 degrees." and cairo.tools == tokyo.tools


@pytest.mark.parametrize("path", LOGS, ids=["eval-zip", "json"])
def test_the_record_is_openai_shaped_with_inspect_ids(path):
    rec = records(path)["travel/tokyo"]
    call, result, final = rec["prompt"][2], rec["prompt"][3], rec["prompt"][4]
    assert call["tool_calls"] == [
        {
            "id": "call_flights_tokyo",
            "type": "function",
            "function": {
                "name": "find_flights",
                "arguments": '{"origin": "Paris", "destination": "Tokyo", "date": "2026-04-02"}',
            },
        }
    ]
    assert result == {"role": "tool", "tool_call_id": "call_flights_tokyo", "content": '{"flights": ["LA801"]}'}
    assert final["tool_calls"][0]["id"] == "call_weather_tokyo" and rec["answer"]["tool_calls"] == final["tool_calls"]
    assert rec["tools"][0] == {"type": "function", "function": rec["tools"][0]["function"]}


def test_a_failed_tool_call_reads_as_the_model_was_shown_it(tmp_path):
    doc = json.loads(LOGS[1].read_text())
    sample = next(s for s in doc["samples"] if s["id"] == "tokyo")
    sample["messages"][3]["error"] = {"type": "timeout", "message": "Command timed out before completing."}
    p = tmp_path / LOGS[1].name
    p.write_text(json.dumps(doc))
    assert read(p).by_id["travel/tokyo"].messages[3] == ("tool", "Error: Command timed out before completing.")


def test_init_clusters_show_grade_and_build_keep_tools_and_calls(tmp_path, capsys):
    folder = copy_tool("inspect_agents", tmp_path)
    code, out, _ = run(capsys, "init", folder, "--yes")
    assert code == 0, out
    assert "requests declare tools: answers are read and graded as tool calls" in out
    # The .eval and the .json hold the same samples: two runs of each question.
    assert "3 items, up to 2 runs a question: 1 pass, 2 fail; 0 lines skipped" in out
    assert "grader: {kind: tool_call, arguments: equal}" in (folder / "ftui.yaml").read_text()
    code, out, _ = run(capsys, "clusters", folder, "--json")
    data = json.loads(out)
    assert code == 0 and data["summary"]["skipped"] == 0 and (data["passing"], data["failures"]) == (1, 2)
    code, out, _ = run(capsys, "show", "travel/tokyo", "-w", folder)
    assert code == 0 and "[tool]" in out and '{"name": "find_flights", "arguments": {"origin": "Paris"' in out
    assert "Tools:\n  get_weather(city, unit) — Current weather in a city." in out
    assert f"Model answer:\n  {weather('Paris')}" in out

    ws = Workspace.load(folder)
    log = load_run_log(ws)
    verdicts = {}
    for it in log.items:
        g = grade(it.answer, it.expected, spec_for(ws, it), tools=it.tools)
        verdicts[it.id] = (g.passed, g.reason, g.grader)
    assert verdicts == {
        "travel/lima": (True, "calls `get_weather` with the expected arguments", "tool_call"),
        "travel/tokyo": (False, '`city` is "Paris", expected "Tokyo"', "tool_call"),
        "travel/cairo": (
            False,
            'no tool call in the answer (expected `get_weather`): "It is hot in Cairo, about 95 degrees."',
            "tool_call",
        ),
    }

    with open(folder / "ftui.yaml", "a") as fh:
        fh.write("build: {heldout: 0.0, validation: 0.0, anchor_ratio: 1.0}\n")
    ws = Workspace.load(folder)
    store = CorrectionStore(ws)
    store.save(log.by_id["travel/tokyo"], weather("Tokyo"))
    store.save(log.by_id["travel/cairo"], weather("Cairo", "fahrenheit"))
    rows = {r["id"]: r for r in builder.build(ws).rows("train")}
    tokyo = rows["travel/tokyo"]
    assert tokyo["tools"] == toolcalls.load_tools(log.by_id["travel/tokyo"].tools)
    msgs = tokyo["messages"]
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "tool", "assistant"]
    assert msgs[2]["tool_calls"][0]["function"]["name"] == "find_flights"
    assert msgs[3]["tool_call_id"] == msgs[2]["tool_calls"][0]["id"]
    assert msgs[4]["content"] is None
    assert json.loads(msgs[4]["tool_calls"][0]["function"]["arguments"]) == {"city": "Tokyo", "unit": "celsius"}
    cairo = rows["travel/cairo"]["messages"][-1]
    assert cairo["tool_calls"][0]["function"]["name"] == "get_weather"
