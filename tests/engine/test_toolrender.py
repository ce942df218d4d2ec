"""Which rendering a request with tools gets: the template's own, or the fallback; and an endpoint's
tool_calls read back as a call."""

from __future__ import annotations

import json
from types import SimpleNamespace

from ftui.core.base import toolcalls
from ftui.engine.infer import toolrender
from ftui.sample.agents import TOOLS

# A ChatML template that writes tools into the system turn and calls as <tool_call> blocks, the way
# Qwen 2.5's does.
TOOL_TEMPLATE = (
    "{% if tools %}<|im_start|>system\n# Tools\n{% for t in tools %}{{ t['function'] | tojson }}\n{% endfor %}"
    "<|im_end|>\n{% endif %}"
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m.get('tool_calls') %}{% for c in m['tool_calls'] %}<tool_call>{{ c['function'] | tojson }}</tool_call>"
    "{% endfor %}{% else %}{{ m['content'] }}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _tok(tiny_model_dir, template=None):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    if template:
        tok.chat_template = template
    return tok


def test_template_without_tools_gets_the_fallback(tiny_model_dir):
    tok = _tok(tiny_model_dir)
    assert toolrender.renders_tools(tok) is False
    text = toolrender.prompt_text(tok, [{"role": "user", "content": "Oslo?"}], TOOLS)
    assert toolcalls.FALLBACK_INSTRUCTION in text and '"name": "find_flights"' in text


def test_template_with_tools_renders_them_and_trains_on_its_own_rendering(tiny_model_dir):
    tok = _tok(tiny_model_dir, TOOL_TEMPLATE)
    assert toolrender.renders_tools(tok) is True
    prompt = [{"role": "user", "content": "Oslo?"}]
    text = toolrender.prompt_text(tok, prompt, TOOLS)
    assert "# Tools" in text and toolcalls.FALLBACK_INSTRUCTION not in text
    answer = [
        toolcalls.answer_message('{"name": "get_weather", "arguments": {"city": "Oslo", "unit": "celsius"}}', TOOLS)
    ]
    row = toolrender.text_row(tok, prompt, answer, TOOLS)
    assert row["prompt"] == text
    assert row["completion"].startswith('<tool_call>{"name": "get_weather"')


def test_endpoint_is_sent_the_tools_and_its_calls_come_back_as_calls():
    from ftui.engine.infer.generate import EndpointGenerator

    sent = {}

    def create(**kw):
        sent.update(kw)
        call = {"id": "x", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}
        msg = SimpleNamespace(content=None, tool_calls=[call])
        return SimpleNamespace(choices=[SimpleNamespace(message=msg)])

    client = SimpleNamespace(chat=SimpleNamespace(completions=SimpleNamespace(create=create)))
    gen = EndpointGenerator("http://x/v1", "m", client=client)
    out = gen.generate([[{"role": "user", "content": "Oslo?"}]], tools_list=[TOOLS])
    assert sent["tools"] == TOOLS
    assert json.loads(out[0]) == {"name": "get_weather", "arguments": {"city": "Oslo"}}
