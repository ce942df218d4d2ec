"""promptfoo results whose answer is a call, in the shapes its OpenAI chat provider returns them."""

from __future__ import annotations

import json

from ftui.core.base import toolcalls
from ftui.core.grade.grading import grade
from ftui.core.logs.fields import Fields
from ftui.core.logs.passrule import PassRule
from ftui.core.logs.runlog import read_items
from ftui.core.logs.sources import SOURCES
from tests.fixtures.evallogs import HERE

CALL = {"name": "get_weather", "arguments": {"city": "Oslo", "unit": "celsius"}}
ENTRY = {
    "id": "call_abc",
    "type": "function",
    "function": {"name": "get_weather", "arguments": json.dumps(CALL["arguments"])},
}


def test_tool_calls_output_reads_as_the_call(tmp_path):
    doc = json.loads((HERE / "promptfoo/out.json").read_text())
    results = doc["results"]["results"]
    results[0]["response"]["output"] = [ENTRY]  # no text: the tool_calls list
    results[1]["response"]["output"] = {"role": "assistant", "content": "Checking.", "tool_calls": [ENTRY]}
    results[2]["response"]["output"] = {"name": "get_weather", "arguments": json.dumps(CALL["arguments"])}
    results[3]["response"]["output"] = {"city": "Oslo"}  # a JSON answer that is not a call
    p = tmp_path / "out.json"
    p.write_text(json.dumps(doc, indent=2))
    log = read_items([p], rule=PassRule.from_config(SOURCES["promptfoo"].rule, ()), source="promptfoo")
    assert log.errors == []
    answers = [it.answer for it in log.items]
    assert answers[:3] == [toolcalls.call_text([CALL])] * 3
    assert answers[3] == '{"city": "Oslo"}'
    g = grade(answers[1], json.dumps(CALL), {"kind": "tool_call"})
    assert g.passed and "calls `get_weather`" in g.reason


def test_tools_passed_in_vars_are_mapped_with_a_field(tmp_path):
    from ftui.sample.agents import TOOLS

    doc = json.loads((HERE / "promptfoo/out.json").read_text())
    res = doc["results"]["results"][0]
    res["vars"]["tools"] = TOOLS
    res["response"]["output"] = json.dumps(CALL)  # a JSON call in the text, read as a call once tools are declared
    p = tmp_path / "out.json"
    p.write_text(json.dumps(doc, indent=2))
    rule = PassRule.from_config(SOURCES["promptfoo"].rule, ())
    log = read_items([p], Fields(tools="record.vars.tools"), rule, source="promptfoo")
    it = log.items[0]
    assert toolcalls.load_tools(it.tools) == TOOLS and it.answer == toolcalls.call_text([CALL])
    assert log.items[1].tools is None
