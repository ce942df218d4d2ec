from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from ftui.core.base import tokens
from ftui.core.base.models import EMBEDDED, local_model_dir

CONVERSATIONS = [
    [
        {"role": "system", "content": "You are a code assistant."},
        {
            "role": "user",
            "content": "Evidence:\ndef validate_path(p): return p\n\nQuestion: Where is validate_path defined?",
        },
        {"role": "assistant", "content": '{"file_path": "utils/security.py", "symbol": "validate_path"}'},
    ],
    [
        {"role": "user", "content": "Summarize the module: ünïcödé, 日本語, tabs\tand  spaces."},
        {"role": "assistant", "content": "It loads the config,\nparses arguments and starts the server."},
    ],
    [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
        {"role": "assistant", "content": "d" * 300},
    ],
]


def _transformers_counts(model_dir, convs, add_generation_prompt=False):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    return [
        len(tok.apply_chat_template(c, tokenize=True, add_generation_prompt=add_generation_prompt, return_dict=False))
        for c in convs
    ]


def test_counts_equal_transformers_on_the_tiny_model(tiny_model_dir):
    ct = tokens.ChatTokenizer.from_dir(tiny_model_dir)
    assert ct.count_many(CONVERSATIONS) == _transformers_counts(tiny_model_dir, CONVERSATIONS)
    assert [ct.count(c, add_generation_prompt=True) for c in CONVERSATIONS] == _transformers_counts(
        tiny_model_dir, CONVERSATIONS, add_generation_prompt=True
    )


@pytest.mark.skipif(local_model_dir(EMBEDDED) is None, reason="embedded model not converted on this machine")
def test_counts_and_text_equal_transformers_on_the_embedded_model():
    d = local_model_dir(EMBEDDED)
    ct = tokens.load_for_model(EMBEDDED, prepare=False)
    assert ct.count_many(CONVERSATIONS) == _transformers_counts(d, CONVERSATIONS)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(d))
    # SmolLM2's template adds its own system prompt when there is none: the text must match too.
    assert ct.render(CONVERSATIONS[1]) == tok.apply_chat_template(CONVERSATIONS[1], tokenize=False)
    assert "You are a helpful AI assistant named SmolLM" in ct.render(CONVERSATIONS[1])


def test_template_sees_special_tokens_tojson_and_generation_blocks(tiny_model_dir, tmp_path):
    d = tmp_path / "m"
    shutil.copytree(tiny_model_dir, d)
    (d / "chat_template.jinja").unlink(missing_ok=True)
    cfg = json.loads((d / "tokenizer_config.json").read_text())
    cfg["chat_template"] = (
        "{{ bos_token }}{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}"
        "{{ m.content | tojson }}{% endgeneration %}{% else %}{{ m.content }}{% endif %}{% endfor %}"
    )
    (d / "tokenizer_config.json").write_text(json.dumps(cfg))
    ct = tokens.ChatTokenizer.from_dir(d)
    text = ct.render([{"role": "user", "content": "<a>"}, {"role": "assistant", "content": "é"}])
    assert text == '<|im_start|><a>"é"'  # bos from the config; tojson without HTML escaping or ASCII escapes


def test_sandbox_blocks_unsafe_templates(tiny_model_dir, tmp_path):
    d = tmp_path / "m"
    shutil.copytree(tiny_model_dir, d)
    (d / "chat_template.jinja").unlink(missing_ok=True)
    cfg = json.loads((d / "tokenizer_config.json").read_text())
    cfg["chat_template"] = "{{ messages.__class__.__mro__ }}"
    (d / "tokenizer_config.json").write_text(json.dumps(cfg))
    import jinja2

    with pytest.raises(jinja2.exceptions.SecurityError):
        tokens.ChatTokenizer.from_dir(d).render([{"role": "user", "content": "x"}])


def test_missing_files_are_clear_errors(tmp_path, tiny_model_dir):
    with pytest.raises(tokens.TokenizerError, match=r"no tokenizer\.json"):
        tokens.ChatTokenizer.from_dir(tmp_path)
    d = tmp_path / "nt"
    shutil.copytree(tiny_model_dir, d)
    (d / "chat_template.jinja").unlink(missing_ok=True)
    cfg = json.loads((d / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (d / "tokenizer_config.json").write_text(json.dumps(cfg))
    with pytest.raises(tokens.TokenizerError, match="no chat template"):
        tokens.ChatTokenizer.from_dir(d)
    with pytest.raises(tokens.TokenizerError, match="no local files"):
        tokens.load_for_model(str(tmp_path / "does-not-exist"))


def test_core_tokens_module_does_not_import_transformers():
    code = (
        "import sys, ftui.core.base.tokens, ftui.core.build.checks, ftui.core.build.formats, ftui.core.build.builder; "
        "bad = [m for m in ('torch', 'transformers', 'datasets', 'textual') if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_embedded_model_is_prepared_once_by_the_engine_when_missing(monkeypatch, tiny_model_dir):
    calls, said = [], []
    state = {"ready": False}

    def fake_local_dir(name):
        return tiny_model_dir if state["ready"] else None

    def fake_run(cmd, **kw):
        calls.append(cmd)
        state["ready"] = True
        return subprocess.CompletedProcess(cmd, 0, stdout="done\n")

    monkeypatch.setattr(tokens, "local_model_dir", fake_local_dir)
    monkeypatch.setattr(tokens.subprocess, "run", fake_run)
    ct = tokens.load_for_model(EMBEDDED, say=said.append)
    assert calls == [[sys.executable, "-m", "ftui.engine", "prepare-model", EMBEDDED]]
    assert said and "preparing model" in said[0]
    assert ct.count(CONVERSATIONS[0]) > 0

    state["ready"] = False
    monkeypatch.setattr(
        tokens.subprocess, "run", lambda cmd, **kw: subprocess.CompletedProcess(cmd, 1, stdout="boom: no GGUF file\n")
    )
    with pytest.raises(tokens.TokenizerError, match="boom: no GGUF file"):
        tokens.load_for_model(EMBEDDED, say=said.append)
