"""`ftui serve` end to end on a tiny Llama: a real `openai` client asks the base and the fine-tune by
name, and `ftui eval --served` grades what is served like the in-process evaluation did."""

from __future__ import annotations

import json
import socket

import pytest

from ftui.cli import main as cli_main
from ftui.core.judge import evalrun
from ftui.core.ship import serving
from ftui.core.ship.parity import served_vs_judged
from ftui.engine.judge.evaluate import main as eval_main
from tests.fixtures.eval_run import make_eval_workspace
from tests.fixtures.fixture_messages import wrong_symbol_messages
from tests.fixtures.tiny_adapter import train_tiny_adapter

pytest.importorskip("llama_cpp")
pytestmark = pytest.mark.slow

TARGET = "src/mod_3.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((serving.HOST, 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tiny_model_dir, tmp_path):
    msgs = wrong_symbol_messages()
    adapter = train_tiny_adapter(tiny_model_dir, tmp_path / "adapter", msgs, TARGET, steps=150, lr=1e-2)
    ws, run_dir = make_eval_workspace(tmp_path / "ws", tiny_model_dir, adapter)
    port = _free_port()
    serving.start(ws, [run_dir], port=port, quant="f16")
    try:
        serving.wait_healthy(ws, timeout=600)
        yield ws, run_dir, port, msgs
    finally:
        serving.stop(ws)


def test_openai_client_reaches_base_and_fine_tune_and_served_eval_matches(served, capsys):
    from openai import OpenAI

    ws, run_dir, port, msgs = served
    client = OpenAI(base_url=serving.base_url(port), api_key="not-needed")
    assert sorted(m.id for m in client.models.list().data) == sorted(["base", run_dir.name])
    tuned = client.chat.completions.create(model=run_dir.name, messages=msgs, temperature=0, max_tokens=16)
    base = client.chat.completions.create(model="base", messages=msgs, temperature=0, max_tokens=16)
    assert tuned.choices[0].message.content.startswith(TARGET)
    assert not base.choices[0].message.content.startswith(TARGET)
    # Asked as OpenAI's API is asked (temperature 0, no penalty named): the answer of a greedy request.
    greedy = client.chat.completions.create(
        model=run_dir.name, messages=msgs, temperature=0, max_tokens=48, extra_body=serving.LLAMA_CPP_GREEDY
    )
    plain = client.chat.completions.create(model=run_dir.name, messages=msgs, temperature=0, max_tokens=48)
    assert plain.choices[0].message.content == greedy.choices[0].message.content

    assert cli_main(["serve", "--status", "--json", "-w", str(ws.root)]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["healthy"] and status["engine"] == "llama.cpp"
    assert (serving.serve_dir(ws) / serving.LOG).is_file()

    # The judged evaluation (in-process, adapter on) and the same benchmark against the endpoint.
    evalrun.write_plan(evalrun.plan_eval(ws, run_dir))
    assert eval_main(run_dir) == 0
    ep = serving.served_endpoint(ws, run_dir)
    plan = evalrun.plan_eval(ws, run_dir, tuned_endpoint=ep, dir_name=evalrun.SERVED_DIR)
    evalrun.write_plan(plan)
    assert eval_main(run_dir, ["--dir", evalrun.SERVED_DIR]) == 0
    served_report = evalrun.read_report(run_dir, evalrun.SERVED_DIR)
    # Asked greedy without llama.cpp's repeat penalty, as the judged model decoded.
    tuned_side = served_report["sides"]["tuned"]
    assert tuned_side.startswith(f"endpoint:{serving.base_url(port)}:{run_dir.name}:")
    assert '"repeat_penalty": 1.0' in tuned_side
    assert evalrun.read_report(run_dir)["sides"]["tuned"] == "model + adapter"  # the judged report stays
    cmp = served_vs_judged(run_dir)
    assert cmp["items"] == len(served_report["items"]) and cmp["flips"] == 0
    assert cmp["identical"] == cmp["items"]
    by = {r["id"]: r for r in cmp["rows"]}
    assert by["wrong_symbol-3"]["export_grade"]["passed"]

    assert serving.stop(ws)
    assert serving.status(ws)["state"] != "running"
    assert serving.port_free(port)
