"""An Ollama Modelfile whose TEMPLATE renders what the model's own (Jinja) chat template renders.

Ollama speaks Go templates, not Jinja, and a hand-written TEMPLATE that drifts from the model's
chat template is the usual reason an Ollama model "answers differently". So the template is
derived from the chat template itself: render growing conversations with marker contents and read
off what the chat template puts around each role's message and where the answer starts. Templates
that are not of that shape (a message's wrapping depends on its position) are refused rather than
approximated.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftui.core.base.errors import FtuiError

ROLES = ("system", "user", "assistant")
_MARK = {"system": "\x01SYS\x01", "user": "\x01USR\x01", "assistant": "\x01AST\x01"}


class TemplateError(FtuiError):
    pass


@dataclass(frozen=True)
class RoleWrapping:
    prefix: dict[str, Any]  # role -> text before the message's content
    suffix: dict[str, Any]  # role -> text after it
    generation: str  # what starts the answer
    leading: str = ""  # text before the first message (a BOS the template writes)


def chat_template_of(model_dir: Path) -> str:
    model_dir = Path(model_dir)
    jinja = model_dir / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    cfg_path = model_dir / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text(encoding="utf-8")) if cfg_path.is_file() else {}
    tpl = cfg.get("chat_template")
    if isinstance(tpl, list):  # named templates: the default one
        tpl = next((t.get("template") for t in tpl if t.get("name") == "default"), None)
    if not tpl:
        raise TemplateError(f"{model_dir}: the tokenizer has no chat template")
    return str(tpl)


def special_tokens(model_dir: Path) -> dict[str, str]:
    cfg_path = Path(model_dir) / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text(encoding="utf-8")) if cfg_path.is_file() else {}
    out = {}
    for key in ("bos_token", "eos_token"):
        v = cfg.get(key)
        if isinstance(v, dict):
            v = v.get("content")
        if isinstance(v, str) and v:
            out[key] = v
    return out


def renderer(template: str, tokens: dict[str, str]) -> Callable[[list[dict[str, Any]], bool], str]:
    """The chat template as transformers renders it (the token counter's sandboxed Jinja)."""
    import jinja2

    from ftui.core.base.tokens import compile_template

    try:
        compiled = compile_template(template)
    except jinja2.TemplateError as exc:
        raise TemplateError(f"chat template: {exc}") from None

    def render(messages: list[dict[str, Any]], add_generation_prompt: bool) -> str:
        try:
            text: str = compiled.render(messages=messages, add_generation_prompt=add_generation_prompt, **tokens)
        except jinja2.TemplateError as exc:  # the template's own raise_exception among them
            raise TemplateError(f"chat template: {exc}") from None
        return text

    return render


def _msg(role: str, n: int = 0) -> dict[str, Any]:
    return {"role": role, "content": f"{_MARK[role]}{n}"}


def derive_wrapping(template: str, tokens: dict[str, str]) -> RoleWrapping:
    render = renderer(template, tokens)
    convo = [_msg("system"), _msg("user"), _msg("assistant"), _msg("user", 1)]
    parts = [render(convo[:n], False) for n in range(1, len(convo) + 1)]
    prefix: dict[str, str] = {}
    suffix: dict[str, str] = {}
    prev = ""
    for m, text in zip(convo, parts, strict=False):
        if not text.startswith(prev):
            raise TemplateError("chat template: adding a message changes what came before it (no Ollama TEMPLATE)")
        piece = text[len(prev) :]
        marker = m["content"]
        if piece.count(marker) != 1:
            raise TemplateError(f"chat template: the {m['role']} message is not rendered once, as given")
        pre, post = piece.split(marker)
        if m["role"] in prefix and (prefix[m["role"]], suffix[m["role"]]) != (pre, post):
            raise TemplateError(f"chat template: the {m['role']} message is wrapped differently by position")
        prefix[m["role"]], suffix[m["role"]] = pre, post
        prev = text
    with_gen = render(convo, True)
    if not with_gen.startswith(parts[-1]):
        raise TemplateError("chat template: the generation prompt changes the conversation before it")
    wrap = RoleWrapping(prefix=prefix, suffix=suffix, generation=with_gen[len(parts[-1]) :], leading="")
    # The template must also agree with the wrapping for a conversation without a system message
    # (Ollama then adds the Modelfile's SYSTEM, so only the system-first shape matters) and for two rounds.
    check = [_msg("system", 2), _msg("user", 3), _msg("assistant", 4), _msg("user", 5), _msg("assistant", 6)]
    if render(check, True) != render_wrapped(wrap, check, True):
        raise TemplateError("chat template: not a per-role wrapping of messages (no Ollama TEMPLATE)")
    return wrap


def render_wrapped(wrap: RoleWrapping, messages: list[dict[str, Any]], add_generation_prompt: bool) -> str:
    out = [wrap.leading]
    for m in messages:
        out += [wrap.prefix[m["role"]], m["content"], wrap.suffix[m["role"]]]
    if add_generation_prompt:
        out.append(wrap.generation)
    return "".join(out)


def _go_literal(text: str) -> str:
    # Literal text of a Go template: only "{{" would be read as an action.
    return text.replace("{{", '{{ "{{" }}')


def go_template(wrap: RoleWrapping) -> str:
    # One line, no `{{-` trimming: the wrapping's own newlines are part of the prompt.
    out = [_go_literal(wrap.leading), "{{ range .Messages }}"]
    for i, role in enumerate(ROLES):
        kw = "if" if i == 0 else "else if"
        out.append(
            f'{{{{ {kw} eq .Role "{role}" }}}}{_go_literal(wrap.prefix[role])}{{{{ .Content }}}}'
            f"{_go_literal(wrap.suffix[role])}"
        )
    out += ["{{ end }}{{ end }}", _go_literal(wrap.generation)]
    return "".join(out)


def stop_tokens(wrap: RoleWrapping, tokens: dict[str, str]) -> list[str]:
    # The end of a turn, and the start of the next one (what user and assistant prefixes share).
    u, a = wrap.prefix["user"], wrap.prefix["assistant"]
    n = next((i for i, (x, y) in enumerate(zip(u, a, strict=False)) if x != y), min(len(u), len(a)))
    turn_start = u[:n].strip()
    out = []
    for s in (tokens.get("eos_token"), wrap.suffix["assistant"].strip(), turn_start):
        if s and s not in out:
            out.append(s)
    return out


def _quoted(text: str) -> str:
    return '"""' + text.replace('"""', '\\"\\"\\"') + '"""'


def modelfile(model_dir: Path, gguf_name: str, system: str | None) -> str:
    tokens = special_tokens(model_dir)
    wrap = derive_wrapping(chat_template_of(model_dir), tokens)
    lines = [f"FROM ./{gguf_name}", f"TEMPLATE {_quoted(go_template(wrap))}"]
    if system:
        lines.append(f"SYSTEM {_quoted(system)}")
    lines += [f"PARAMETER stop {json.dumps(s)}" for s in stop_tokens(wrap, tokens)]
    return "\n".join(lines) + "\n"
