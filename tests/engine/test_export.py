"""Exports of a tiny random Llama + a trained LoRA adapter, loaded back by their real consumers."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from ftui.core.base.events import read_events
from ftui.core.judge import evalrun
from ftui.core.ship import exports, parity
from ftui.core.ship.modelfile import chat_template_of, modelfile
from ftui.engine.judge.evaluate import main as eval_main
from ftui.engine.ship.export import main as export_main
from tests.fixtures.eval_run import make_eval_workspace
from tests.fixtures.fixture_messages import wrong_symbol_messages
from tests.fixtures.tiny_adapter import train_tiny_adapter

TARGET = "src/mod_3.py"
PROMPT = [{"role": "system", "content": "You are a code assistant."}, {"role": "user", "content": "Where is it?"}]


@pytest.fixture(scope="module")
def adapter(tiny_model_dir, tmp_path_factory):
    msgs = wrong_symbol_messages()
    return train_tiny_adapter(
        tiny_model_dir, tmp_path_factory.mktemp("adapter") / "adapter", msgs, TARGET, steps=150, lr=1e-2
    )


@pytest.fixture
def ws_run(tiny_model_dir, adapter, tmp_path):
    return make_eval_workspace(tmp_path / "ws", tiny_model_dir, adapter)


def _export(ws, run_dir, fmt, quant=None, parity_check=False, out=None):
    jd = exports.prepare_export(ws, run_dir, fmt, quant, out, parity=parity_check)
    rc = export_main(jd)
    evs, _ = read_events(jd / exports.EVENTS)
    return rc, jd, evs


def _peft_merged(model_dir, adapter):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    return PeftModel.from_pretrained(base, adapter).merge_and_unload().eval()


def test_merged_export_loads_in_transformers_and_equals_the_peft_merge(ws_run, tiny_model_dir, adapter):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ws, run_dir = ws_run
    rc, _jd, evs = _export(ws, run_dir, "merged")
    assert rc == 0, evs[-1]
    out = run_dir / "exports" / "merged"
    assert evs[-1]["type"] == "finished" and evs[-1]["out"] == str(out)
    assert any(e["type"] == "progress" and e["unit"] == "shards" for e in evs)
    manifest = json.loads((out / exports.MANIFEST).read_text())
    assert manifest["format"] == "merged" and manifest["merged_modules"] == 14
    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(out)
    ids = tok(tok.apply_chat_template(PROMPT, tokenize=False, add_generation_prompt=True), return_tensors="pt")
    with torch.no_grad():
        got = model(**ids).logits
        want = _peft_merged(tiny_model_dir, adapter)(**ids).logits
    assert torch.allclose(got, want, atol=1e-5)
    assert tok.chat_template == AutoTokenizer.from_pretrained(tiny_model_dir).chat_template


def test_merge_of_a_sharded_model_reads_one_shard_at_a_time(tiny_model_dir, adapter, tmp_path, monkeypatch):
    import weakref

    import safetensors.torch
    from transformers import AutoModelForCausalLM

    from ftui.engine.ship import export_merge

    sharded = tmp_path / "sharded"
    AutoModelForCausalLM.from_pretrained(tiny_model_dir).save_pretrained(sharded, max_shard_size="40KB")
    for f in tiny_model_dir.glob("tok*"):
        shutil.copy2(f, sharded / f.name)
    shards = export_merge.weight_shards(sharded)
    assert len(shards) >= 3
    dest = tmp_path / "merged"
    dest.mkdir()

    refs: list[weakref.ref] = []  # every tensor read from a shard or written to one

    def held() -> int:
        return sum(r() is not None for r in refs)

    opened: list[str] = []
    real_open, real_save = export_merge.safe_open, safetensors.torch.save_file

    class WatchedShard:
        def __init__(self, path, framework):
            self.is_shard = Path(path) in shards
            if self.is_shard:
                # Before a shard is read, the earlier ones are written and none of their tensors is held.
                assert [n for n in opened if not (dest / n).is_file()] == []
                assert held() == 0, f"{held()} tensors of earlier shards still held when opening {path}"
                opened.append(Path(path).name)
            self.fh = real_open(path, framework=framework)

        def __enter__(self):
            self.fh.__enter__()
            return self

        def __exit__(self, *exc):
            return self.fh.__exit__(*exc)

        def keys(self):
            return self.fh.keys()

        def metadata(self):
            return self.fh.metadata()

        def get_tensor(self, key):
            t = self.fh.get_tensor(key)
            if self.is_shard:
                refs.append(weakref.ref(t))
            return t

    def watched_save(tensors, filename, metadata=None):
        refs.extend(weakref.ref(t) for t in tensors.values())
        return real_save(tensors, filename, metadata=metadata)

    monkeypatch.setattr(export_merge, "safe_open", WatchedShard)
    monkeypatch.setattr(safetensors.torch, "save_file", watched_save)
    done = []
    info = export_merge.write_merged(sharded, adapter, dest, lambda i, n, name: done.append((i, n, name)))
    monkeypatch.undo()
    assert opened == [s.name for s in shards]
    assert done == [(i, len(shards), s.name) for i, s in enumerate(shards, start=1)]
    assert info == {"merged_modules": 14, "shards": len(shards)}
    assert (dest / export_merge.INDEX).is_file()

    # What PEFT's in-memory merge of the whole model gives, weight for weight.
    got = AutoModelForCausalLM.from_pretrained(dest, dtype=torch.float32).state_dict()
    want = _peft_merged(sharded, adapter).state_dict()
    assert sorted(got) == sorted(want)
    for k in want:
        assert torch.allclose(got[k], want[k], atol=1e-6), k


def test_export_reports_its_peak_memory_beside_the_model_size(ws_run, tiny_model_dir):
    ws, run_dir = ws_run
    rc, _jd, evs = _export(ws, run_dir, "merged")
    assert rc == 0, evs[-1]
    mem = evs[-1]["memory"]
    weights = sum(f.stat().st_size for f in tiny_model_dir.glob("*.safetensors"))
    assert mem["model_bytes"] == weights and mem["shards"] == 1
    assert mem["peak_rss_bytes"] >= mem["start_rss_bytes"] > 0
    manifest = json.loads((run_dir / "exports" / "merged" / exports.MANIFEST).read_text())
    assert manifest["memory"] == mem
    assert exports.memory_text(mem).startswith("peak memory ")


def test_adapter_export_loads_with_peft_and_says_how_to_serve_it_on_vllm(ws_run, tiny_model_dir, adapter):
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoTokenizer

    ws, run_dir = ws_run
    rc, _, evs = _export(ws, run_dir, "adapter")
    assert rc == 0, evs[-1]
    out = run_dir / "exports" / "adapter"
    readme = (out / "README.md").read_text()
    assert f"--enable-lora --lora-modules ftui-{run_dir.name}={out}" in readme
    assert not (out / "config.json").exists() and (out / "tokenizer.json").exists()
    model = AutoPeftModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(out)
    assert tok.chat_template
    ids = tok(tok.apply_chat_template(PROMPT, tokenize=False, add_generation_prompt=True), return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(model(**ids).logits, _peft_merged(tiny_model_dir, adapter)(**ids).logits, atol=1e-5)


@pytest.mark.parametrize("quant,tol", [("f16", 2e-2), ("q8_0", 8e-2)])
def test_gguf_export_loads_in_llama_cpp_with_template_and_tokenizer(ws_run, tiny_model_dir, adapter, quant, tol):
    llama_cpp = pytest.importorskip("llama_cpp")
    import numpy as np
    from transformers import AutoTokenizer

    ws, run_dir = ws_run
    rc, _, evs = _export(ws, run_dir, "gguf", quant)
    assert rc == 0, evs[-1]
    path = run_dir / "exports" / f"gguf-{quant}" / "model.gguf"
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=512, logits_all=True, verbose=False)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert llm.metadata["general.architecture"] == "llama"
    assert llm.metadata["tokenizer.chat_template"] == tok.chat_template
    text = tok.apply_chat_template(PROMPT, tokenize=False, add_generation_prompt=True)
    want_ids = tok(text, add_special_tokens=False)["input_ids"]
    assert llm.tokenize(text.encode(), add_bos=False, special=True) == want_ids
    llm.eval(want_ids)
    got = np.array(llm.scores[: len(want_ids)])
    with torch.no_grad():
        want = _peft_merged(tiny_model_dir, adapter)(torch.tensor([want_ids])).logits[0].numpy()
    assert np.abs(got - want).max() < tol
    assert (got.argmax(-1) == want.argmax(-1)).mean() > 0.9


def _go_render(template: str, messages: list[dict], tmp_path) -> str:
    # Ollama renders TEMPLATE with Go's text/template over {.System, .Messages[].Role/.Content}.
    prog = tmp_path / "render.go"
    prog.write_text(
        """package main
import ("encoding/json"; "os"; "text/template")
type Msg struct { Role string; Content string }
func main() {
  var in struct { Template string; Messages []Msg }
  json.NewDecoder(os.Stdin).Decode(&in)
  t := template.Must(template.New("m").Parse(in.Template))
  if err := t.Execute(os.Stdout, map[string]any{"Messages": in.Messages}); err != nil { panic(err) }
}
"""
    )
    env = {"GOCACHE": str(tmp_path / "gocache"), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin:/usr/local/bin"}
    payload = json.dumps({"Template": template, "Messages": messages})
    return subprocess.run(
        ["go", "run", str(prog)], input=payload, capture_output=True, text=True, check=True, env=env, timeout=300
    ).stdout


def _template_of(modelfile_text: str) -> str:
    return modelfile_text.split('TEMPLATE """', 1)[1].split('"""', 1)[0]


CONVERSATION = [
    {"role": "system", "content": "You are a code assistant."},
    {"role": "user", "content": "Where is validate_path?\nAnswer in JSON."},
    {"role": "assistant", "content": '{"file_path": "utils/security.py"}'},
    {"role": "user", "content": "And its test? {{ not an action }}"},
]


@pytest.mark.skipif(shutil.which("go") is None, reason="Go (the language Ollama's templates are in) is not installed")
def test_ollama_modelfile_template_renders_the_chat_template_prompt(ws_run, tiny_model_dir, tmp_path):
    from transformers import AutoTokenizer

    ws, run_dir = ws_run
    rc, _, evs = _export(ws, run_dir, "ollama", "q8_0")
    assert rc == 0, evs[-1]
    out = run_dir / "exports" / "ollama-q8_0"
    text = (out / "Modelfile").read_text()
    assert text.startswith("FROM ./model.gguf\n") and (out / "model.gguf").is_file()
    assert 'SYSTEM """You are a code assistant."""' in text and 'PARAMETER stop "<|im_end|>"' in text
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    want = tok.apply_chat_template(CONVERSATION, tokenize=False, add_generation_prompt=True)
    assert _go_render(_template_of(text), CONVERSATION, tmp_path) == want


@pytest.mark.skipif(shutil.which("go") is None, reason="Go (the language Ollama's templates are in) is not installed")
def test_ollama_template_of_the_embedded_model_renders_its_chat_template(tmp_path):
    from ftui.core.base.models import converted_dir

    model_dir = converted_dir()
    if not (model_dir / "tokenizer_config.json").exists():
        pytest.skip("the embedded model is not prepared")
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    want = tok.apply_chat_template(CONVERSATION, tokenize=False, add_generation_prompt=True)
    tpl = _template_of(modelfile(model_dir, "model.gguf", "sys"))
    assert chat_template_of(model_dir) == tok.chat_template
    assert _go_render(tpl, CONVERSATION, tmp_path) == want


def test_unsupported_architecture_and_missing_adapter_are_one_clear_line(ws_run, tiny_model_dir, tmp_path):
    ws, run_dir = ws_run
    other = tmp_path / "qwen"
    shutil.copytree(tiny_model_dir, other)
    cfg = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**cfg, "model_type": "qwen2"}))
    cfg = json.loads((run_dir / "config.json").read_text())
    (run_dir / "config.json").write_text(json.dumps({**cfg, "model": str(other)}))
    with pytest.raises(exports.ExportError, match=r"architecture 'qwen2' has no GGUF export") as exc:
        exports.prepare_export(ws, run_dir, "gguf", "q8_0")
    assert "\n" not in str(exc.value)
    exports.prepare_export(ws, run_dir, "merged")  # any architecture merges

    shutil.rmtree(run_dir / "adapter")
    with pytest.raises(exports.ExportError, match=r"has no adapter \(state: dead\); export a finished run") as exc:
        exports.prepare_export(ws, run_dir, "merged")
    assert "\n" not in str(exc.value)


def test_a_failed_export_leaves_the_previous_one_in_place(ws_run):
    ws, run_dir = ws_run
    rc, _, _ = _export(ws, run_dir, "gguf", "f16")
    assert rc == 0
    out = run_dir / "exports" / "gguf-f16"
    before = (out / "model.gguf").read_bytes()
    # A broken adapter: the next export fails halfway.
    (run_dir / "adapter" / "adapter_model.safetensors").write_bytes(b"not safetensors")
    rc, _, evs = _export(ws, run_dir, "gguf", "f16")
    assert rc == 1 and evs[-1]["type"] == "failed"
    assert (out / "model.gguf").read_bytes() == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["gguf-f16"]  # no temp folder left behind


def test_parity_after_merged_export_is_identical_and_gguf_parity_is_reported(ws_run):
    ws, run_dir = ws_run
    evalrun.write_plan(evalrun.plan_eval(ws, run_dir))
    assert eval_main(run_dir) == 0
    report = evalrun.read_report(run_dir)
    rc, _, evs = _export(ws, run_dir, "merged", parity_check=True)
    assert rc == 0, evs[-1]
    summary = evs[-1]["parity"]
    n_eval = len(report["items"])
    # Evaluated items plus the build's anchors (ok-0 was trained on, so only the evaluation left it out).
    assert summary["items"] == n_eval + 1
    assert summary["identical"] == summary["items"] and summary["flips"] == 0
    result = parity.read_result(run_dir / "parity" / "merged")
    rows = {r["id"]: r for r in result["summary"]["rows"]}
    judged = {it["id"]: it for it in report["items"]}
    assert rows["wrong_symbol-3"]["export_answer"] == judged["wrong_symbol-3"]["tuned_answer"]
    assert rows["wrong_symbol-3"]["export_answer"].startswith(TARGET)
    assert rows["ok-0"]["cluster"] == "anchor"
    assert "identical answers" in parity.render_text(result)

    if pytest.importorskip("llama_cpp"):
        rc, _, evs = _export(ws, run_dir, "gguf", "f16", parity_check=True)
        assert rc == 0, evs[-1]
        s = evs[-1]["parity"]
        assert s["items"] == n_eval + 1 and s["identical"] + (s["items"] - s["identical"]) == s["items"]
        res = parity.read_result(run_dir / "parity" / "gguf-f16")
        assert res["consumer"].startswith("llama.cpp")
        assert res["summary"]["same_grade"] + res["summary"]["flips"] == res["summary"]["items"]
        # The judged model answered the anchor once, for both checks.
        assert len((run_dir / "parity" / "reference_answers.jsonl").read_text().splitlines()) == 1
