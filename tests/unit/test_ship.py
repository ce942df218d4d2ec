"""Core of shipping: Modelfile templates derived from chat templates, parity counts, serve and export refusals."""

from __future__ import annotations

import json
import socket

import pytest

from ftui.cli import main as cli_main
from ftui.core.ship import exports, parity, serving
from ftui.core.ship.modelfile import TemplateError, derive_wrapping, go_template, render_wrapped, renderer, stop_tokens
from tests.fixtures.eval_run import make_eval_workspace
from tests.fixtures.tiny_model import CHATML

LLAMA3 = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)
# The first user turn is marked: no per-role wrapping can say that.
POSITIONAL = (
    "{% for message in messages %}{% if loop.index == 2 %}FIRST {% endif %}"
    "{{ message['role'] }}: {{ message['content'] }}\\n{% endfor %}"
)
CONVO = [
    {"role": "system", "content": "sys"},
    {"role": "user", "content": "q1"},
    {"role": "assistant", "content": "a1"},
    {"role": "user", "content": "q2"},
]


@pytest.mark.parametrize("template", [CHATML, LLAMA3])
def test_wrapping_renders_like_the_chat_template(template):
    tokens = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}
    wrap = derive_wrapping(template, tokens)
    render = renderer(template, tokens)
    assert render_wrapped(wrap, CONVO, True) == render(CONVO, True)
    assert render_wrapped(wrap, CONVO[:2], True) == render(CONVO[:2], True)
    tpl = go_template(wrap)
    assert "{{-" not in tpl and tpl.count('eq .Role "') == 3


def test_chatml_stops_at_end_and_start_of_turn():
    wrap = derive_wrapping(CHATML, {"eos_token": "<|im_end|>"})
    assert stop_tokens(wrap, {"eos_token": "<|im_end|>"}) == ["<|im_end|>", "<|im_start|>"]


def test_a_position_dependent_template_is_refused():
    with pytest.raises(TemplateError, match=r"wrapped differently by position|not a per-role wrapping"):
        derive_wrapping(POSITIONAL, {})


def test_parity_compare_counts_identical_same_grade_and_flips():
    p, f = {"passed": True}, {"passed": False}
    recs = [
        {"id": "a", "reference_answer": "x", "reference_grade": p, "export_answer": "x", "export_grade": p},
        {"id": "b", "reference_answer": "x", "reference_grade": p, "export_answer": "y", "export_grade": p},
        {"id": "c", "reference_answer": "x", "reference_grade": p, "export_answer": "z", "export_grade": f},
        {"id": "d", "reference_answer": "x", "reference_grade": f, "export_answer": "w", "export_grade": p},
    ]
    s = parity.compare(recs)
    assert (s["items"], s["identical"], s["same_grade"], s["flips"]) == (4, 1, 2, 2)
    assert s["lost"] == ["c"] and s["gained"] == ["d"]
    assert s["anchors"] == 0 and parity.items_text(s) == "4 benchmark items"
    s = parity.compare([*recs, {**recs[0], "id": "anchor-1", "cluster": parity.ANCHOR_CLUSTER}])
    assert s["anchors"] == 1 and parity.items_text(s) == "5 (4 benchmark items + 1 anchor)"
    assert parity.exceeds(s, 0.0) and parity.exceeds(s, 0.25) and not parity.exceeds(s, 0.5)


@pytest.fixture
def ws_run(tmp_path):
    # A model folder that only needs a config.json: these checks never load weights.
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "llama"}))
    return make_eval_workspace(tmp_path / "ws", model)


def test_cli_export_of_a_run_without_adapter_is_one_line(ws_run, capsys):
    ws, run_dir = ws_run
    rc = cli_main(["export-model", run_dir.name, "-w", str(ws.root), "--to", "gguf"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err
    assert err.startswith(f"ftui: {run_dir / 'adapter'}: run {run_dir.name} has no adapter")
    assert not (run_dir / exports.JOBS_DIR).exists()


def test_cli_parity_of_a_missing_export_names_what_exists(ws_run, capsys):
    ws, run_dir = ws_run
    rc = cli_main(["parity", run_dir.name, "gguf-q8_0", "-w", str(ws.root)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err and "no export 'gguf-q8_0'" in err and "(exports: none yet)" in err


def test_serve_on_a_busy_port_is_one_line_and_starts_nothing(ws_run, capsys):
    ws, run_dir = ws_run
    (run_dir / "adapter").mkdir()
    (run_dir / "adapter" / "adapter_config.json").write_text("{}")
    with socket.socket() as s:
        s.bind((serving.HOST, 0))
        s.listen()
        port = s.getsockname()[1]
        rc = cli_main(["serve", run_dir.name, "-w", str(ws.root), "--port", str(port)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err == f"ftui: port {port} on {serving.HOST} is busy; pick another with --port"
    assert not serving.serve_dir(ws).exists()


def test_serve_plan_names_base_and_runs_and_refuses_other_architectures(ws_run, tmp_path):
    ws, run_dir = ws_run
    (run_dir / "adapter").mkdir()
    (run_dir / "adapter" / "adapter_config.json").write_text("{}")
    cfg = serving.plan(ws, [run_dir], port=8999, quant="f16", engine="auto")
    assert [m["name"] for m in cfg["models"]] == ["base", run_dir.name]
    assert cfg["base_url"] == "http://127.0.0.1:8999/v1"
    (tmp_path / "model" / "config.json").write_text(json.dumps({"model_type": "gemma3"}))
    with pytest.raises(exports.ExportError, match="architecture 'gemma3' has no GGUF export"):
        serving.plan(ws, [run_dir], port=8999, quant="f16", engine="llama.cpp")


def test_vllm_command_serves_the_base_and_each_adapter_as_a_lora_module(tmp_path):
    from ftui.engine.ship.serve import vllm_command

    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "qwen2"}))  # vLLM is not limited to llama
    # A folder name with "=" and ",": vLLM's name=path form would split or misread it.
    ws, run_dir = make_eval_workspace(tmp_path / "w=s,1", model)
    other = run_dir.with_name("20260102-000000-dpo")
    other.mkdir()
    (other / "config.json").write_text((run_dir / "config.json").read_text())
    for rd, r in ((run_dir, 16), (other, 24)):
        (rd / "adapter").mkdir()
        (rd / "adapter" / "adapter_config.json").write_text(json.dumps({"r": r, "peft_type": "LORA"}))
    cfg = serving.plan(ws, [run_dir, other], port=8999, quant="f16", engine="vllm")
    cmd = vllm_command(cfg, base=model)
    assert cmd[1:5] == ["-m", "vllm.entrypoints.cli.main", "serve", str(model)]

    def value(flag: str) -> str:
        return cmd[cmd.index(flag) + 1]

    assert value("--served-model-name") == "base" and value("--port") == "8999" and value("--host") == "127.0.0.1"
    assert "--enable-lora" in cmd
    assert value("--max-lora-rank") == "32"  # ranks 16 and 24: the next value vLLM accepts
    assert value("--max-loras") == "2"
    modules = [json.loads(m) for m in cmd[cmd.index("--lora-modules") + 1 :]]
    assert modules == [
        {"name": rd.name, "path": str((rd / "adapter").resolve()), "base_model_name": "base"} for rd in (run_dir, other)
    ]
    assert "=" in modules[0]["path"] and "," in modules[0]["path"]


def test_vllm_lora_rank_is_one_vllm_accepts():
    assert [serving.vllm_lora_rank([r]) for r in (1, 2, 8, 9, 16, 300, 512)] == [1, 8, 8, 16, 16, 320, 512]
    with pytest.raises(ValueError, match="above vLLM's largest"):
        serving.vllm_lora_rank([1024])


def test_vllm_command_for_the_base_alone_has_no_lora_flags(ws_run):
    from ftui.engine.ship.serve import vllm_command

    ws, _ = ws_run
    cmd = vllm_command(serving.plan(ws, [], port=8999, quant="f16", engine="vllm"), base=ws.root)
    assert "--enable-lora" not in cmd and "--lora-modules" not in cmd


def test_the_served_side_waits_for_a_model_the_server_loads_on_first_request(ws_run):
    from ftui.core.judge import evalrun
    from ftui.engine.infer.cache import endpoint_identity
    from ftui.engine.judge.evaluate import Evaluation

    ws, run_dir = ws_run
    ep = {
        "base_url": "http://127.0.0.1:8999/v1",
        "model": run_dir.name,
        "timeout_s": serving.SERVED_TIMEOUT_S,
        "extra_body": serving.LLAMA_CPP_GREEDY,
    }
    evalrun.write_plan(evalrun.plan_eval(ws, run_dir, tuned_endpoint=ep))
    gen, _ = Evaluation(run_dir, emit=lambda *a, **k: None)._side("tuned")
    assert gen.model_name == run_dir.name and gen.client.timeout == serving.SERVED_TIMEOUT_S > 120
    # Greedy without llama.cpp's repeat penalty, as the judged model decoded; cached apart from penalised answers.
    assert gen.extra_body == {"repeat_penalty": 1.0, "top_k": 1, "min_p": 0.0}
    assert endpoint_identity(ep) != endpoint_identity({**ep, "extra_body": None})


def test_serve_threads_go_into_the_plan_and_zero_is_refused(ws_run, capsys):
    ws, _run_dir = ws_run
    assert serving.plan(ws, [], port=8999, quant="f16", engine="auto", threads=1)["threads"] == 1
    assert serving.plan(ws, [], port=8999, quant="f16", engine="auto")["threads"] is None
    rc = cli_main(["serve", "-w", str(ws.root), "--threads", "0", "--port", "8999"])
    assert rc == 2 and capsys.readouterr().err.strip() == "ftui: --threads 0: give 1 or more"
    assert not serving.serve_dir(ws).exists()


def test_parity_threads_go_into_the_check_s_plan(ws_run):
    from tests.fixtures.eval_run import write_fixture_run

    ws, run_dir = ws_run
    (run_dir / "adapter").mkdir()
    (run_dir / "adapter" / "adapter_config.json").write_text("{}")
    write_fixture_run(ws, run_dir)
    out = run_dir / "exports" / "gguf-f16"
    out.mkdir(parents=True)
    (out / exports.MANIFEST).write_text(json.dumps({"name": "gguf-f16", "format": "gguf", "quant": "f16"}))
    pd = parity.prepare(ws, run_dir, out, threads=1)
    assert json.loads((pd / "config.json").read_text())["threads"] == 1
    assert json.loads((parity.prepare(ws, run_dir, out) / "config.json").read_text())["threads"] is None
