"""Batched greedy generation for evaluation: one model load serves both the base and tuned side.

The base side is the same weights with the LoRA adapter switched off (PEFT `disable_adapter`), so
comparing the two measures the adapter and nothing else (same tokenizer, template, dtype, device).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch

from ftui.engine.infer.decode import ContinuousDecoder
from ftui.engine.infer.decode import supports as supports_continuous

# Counted so the throughput benchmark (and tests) can prove one evaluation loads the model once.
LOADS = 0

Progress = Callable[[int, int], None]


def resolve_model_path(model: str, progress: Callable[[str], None] | None = None) -> str:
    """A model name as the workspace knows it -> something `from_pretrained` accepts."""
    from ftui.engine.weights.models import resolve_model

    return str(resolve_model(model, progress=progress))


def pick_device(device: str = "auto") -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _dtype_for(device: str, dtype: str = "auto"):
    """The weights' precision: device.weights_dtype decides bf16 vs fp32 (bf16 on a CPU only with
    native bf16 units); a CUDA GPU without bf16 keeps fp16 under `auto`."""
    from ftui.engine.weights.device import torch_dtype, weights_dtype

    weights = weights_dtype(dtype, device)
    if device.startswith("cuda") and dtype == "auto" and weights == "fp32":
        return torch.float16
    return torch_dtype(weights)


class Generator:
    """A loaded model (+ optional adapter) that answers chat prompts in batches."""

    def __init__(self, model, tokenizer, *, model_name: str, adapter: str | None, device: str):
        self.model = model
        self.tokenizer = tokenizer
        self.model_name = model_name
        self.adapter = adapter
        self.device = device
        self.dtype = "bf16" if getattr(model, "dtype", None) == torch.bfloat16 else "fp32"
        self.has_adapter = adapter is not None
        # Continuous batching where the model's cache allows it; `model.generate` batches otherwise.
        self.continuous = supports_continuous(model)
        # Quantized (QLoRA) weights cannot take a merge without rounding the adapter into 4 bits.
        self.mergeable = (
            self.has_adapter
            and not getattr(model, "is_quantized", False)
            and getattr(getattr(model, "config", None), "quantization_config", None) is None
        )

    def prompt_text(self, messages: list[dict], tools: Any = None) -> str:
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            from ftui.engine.infer.toolrender import prompt_text

            return prompt_text(tok, messages, tools)
        if tools:
            from ftui.core.base.toolcalls import fallback_messages, load_tools

            messages = fallback_messages(messages, load_tools(tools))
        # A base model without a chat template: a plain transcript still ends where the answer starts.
        lines = [f"{m['role']}: {m['content']}" for m in messages]
        return "\n\n".join(lines) + "\n\nassistant: "

    def _adapter_ctx(self, adapter: bool):
        if adapter:
            if not self.has_adapter:
                raise ValueError("asked for the fine-tuned side but no adapter is loaded")
            return self._merged() if self.mergeable else contextlib.nullcontext()
        if self.has_adapter:
            return self.model.disable_adapter()
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def _merged(self):
        """The adapter folded into the weights for one pass, then taken out again.

        An unmerged LoRA on every linear layer adds two small matmuls per layer and token; on CPU
        that was about a fifth of a decoding step. Merging is exact up to float rounding, and it
        is undone before the base side could run again. In bf16 an unmerge would not give the base
        weights back (each add and subtract rounds to 8 bits of mantissa), so they are restored
        from a copy instead.
        """
        saved = None
        if self.dtype == "bf16":
            saved = {n: m.base_layer.weight.detach().clone() for n, m in self._lora_layers()}
        self.model.merge_adapter()
        try:
            yield
        finally:
            if saved is None:
                self.model.unmerge_adapter()
            else:
                with torch.no_grad():
                    for n, m in self._lora_layers():
                        m.base_layer.weight.copy_(saved[n])
                        m.merged_adapters.clear()

    def _lora_layers(self):
        from peft.tuners.lora import LoraLayer

        return [(n, m) for n, m in self.model.named_modules() if isinstance(m, LoraLayer)]

    @torch.inference_mode()
    def generate(
        self,
        messages_list: list[list[dict]],
        *,
        adapter: bool,
        max_new_tokens: int = 128,
        batch_size: int = 8,
        progress: Progress | None = None,
        on_batch: Callable[[list[int], list[str]], None] | None = None,
        temperature: float = 0.0,
        seed: int = 0,
        tools_list: list[Any] | None = None,
    ) -> list[str]:
        """Greedy answers in input order, `batch_size` rows decoded at a time.

        `on_batch(indices, answers)` sees answers as they complete, so a caller can persist them
        before a long run ends (or dies). `tools_list` holds each prompt's tool definitions.
        """
        tools_list = tools_list or [None] * len(messages_list)
        texts = [self.prompt_text(m, t) for m, t in zip(messages_list, tools_list, strict=True)]
        tok = self.tokenizer
        prompts = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
        # Items sharing a system prompt are usually the same task: neighbours share a prefix computed
        # once, and have similar prompt and answer lengths, which wastes fewest padded tokens.
        system = [m[0]["content"] if m and m[0].get("role") == "system" else "" for m in messages_list]
        order = sorted(range(len(texts)), key=lambda i: (system[i], len(prompts[i])))
        out: list[str | None] = [None] * len(texts)
        done = 0
        batch_size = max(1, int(batch_size))

        def finished(idx: list[int], answers: list[str]) -> None:
            nonlocal done
            for i, a in zip(idx, answers, strict=False):
                out[i] = a
            if on_batch is not None:
                on_batch(idx, answers)
            done += len(idx)
            if progress is not None:
                progress(done, len(texts))

        with self._adapter_ctx(adapter):
            if self.continuous:
                decoder = ContinuousDecoder(
                    self.model, tok, device=self.device, pad_id=tok.pad_token_id, temperature=temperature, seed=seed
                )
                decoder.run(
                    prompts,
                    max_new_tokens=max_new_tokens,
                    batch_size=batch_size,
                    order=order,
                    on_finished=lambda idx, toks: finished(idx, [self._text(t) for t in toks]),
                )
            else:
                for start in range(0, len(order), batch_size):
                    idx = order[start : start + batch_size]
                    finished(idx, self._generate_batch([texts[i] for i in idx], max_new_tokens, temperature))
        return [a or "" for a in out]

    def _text(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(tokens, skip_special_tokens=True).strip()

    def _generate_batch(self, texts: list[str], max_new_tokens: int, temperature: float = 0.0) -> list[str]:
        """One padded batch through `model.generate`, for models whose cache the decoder cannot re-pad."""
        tok = self.tokenizer
        # The chat template already holds any BOS the model wants; adding it again shifts answers.
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.model.device)
        gen = self.model.generate(
            **enc,
            max_new_tokens=max_new_tokens,
            do_sample=temperature > 0,
            temperature=temperature if temperature > 0 else None,
            top_p=None,
            top_k=None,
            pad_token_id=tok.pad_token_id,
        )
        new = gen[:, enc["input_ids"].shape[1] :]
        return [s.strip() for s in tok.batch_decode(new, skip_special_tokens=True)]


def load_for_generation(
    model: str,
    adapter: str | Path | None = None,
    device: str = "auto",
    progress: Callable[[str], None] | None = None,
    dtype: str = "auto",
) -> Generator:
    """Load the model once (and the adapter on top of it when given); `dtype` is auto | fp32 | bf16."""
    global LOADS
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_model_path(model, progress)
    device = pick_device(device)
    if device == "cpu":
        from ftui.engine.weights.device import apply_cpu_speedups

        apply_cpu_speedups()
    tok = AutoTokenizer.from_pretrained(path)
    tok.padding_side = "left"  # decoder-only batches must end where generation starts
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    from ftui.engine.weights.device import cast_frozen_weights

    base: Any = AutoModelForCausalLM.from_pretrained(path, dtype=_dtype_for(device, dtype))
    if base.dtype == torch.bfloat16:
        cast_frozen_weights(base, "bf16")  # zeroes the denormals the cast kept
    base.to(device)
    if getattr(base.generation_config, "pad_token_id", None) is None:
        base.generation_config.pad_token_id = tok.pad_token_id
    adapter_str = None
    if adapter is not None:
        from peft import PeftModel

        adapter_str = str(adapter)
        if not (Path(adapter_str) / "adapter_config.json").exists():
            raise FileNotFoundError(
                f"{adapter_str}: no adapter_config.json (is this a finished run's adapter/ folder?)"
            )
        base = PeftModel.from_pretrained(base, adapter_str, is_trainable=False)
    base.eval()
    LOADS += 1
    return Generator(base, tok, model_name=model, adapter=adapter_str, device=device)


def generate_answers(model, messages_list, adapter=None, max_new_tokens: int = 128, batch_size: int = 8) -> list[str]:
    """One-shot helper: load, answer every prompt (tuned side when an adapter is given), return."""
    gen = load_for_generation(model, adapter)
    return gen.generate(
        messages_list, adapter=adapter is not None, max_new_tokens=max_new_tokens, batch_size=batch_size
    )


class EndpointGenerator:
    """Either side of the comparison served by an OpenAI-compatible chat endpoint."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str = "OPENAI_API_KEY",
        client=None,
        timeout: float = 120.0,
        extra_body: dict | None = None,
    ):
        # Server-specific decoding fields sent with every request (a hosted API would refuse them).
        self.extra_body = dict(extra_body) if extra_body else None
        self.base_url = base_url
        self.model_name = model
        self.api_key_env = api_key_env
        if client is None:
            from openai import OpenAI

            # Local servers (vLLM, llama.cpp) accept any key; the env var name is in the error if one is needed.
            key = os.environ.get(api_key_env) or "not-set"
            client = OpenAI(base_url=base_url, api_key=key, timeout=timeout, max_retries=2)
        self.client = client

    def generate(
        self,
        messages_list: Iterable[list[dict]],
        *,
        max_new_tokens: int = 128,
        progress: Progress | None = None,
        on_batch: Callable[[list[int], list[str]], None] | None = None,
        tools_list: list[Any] | None = None,
        **_: object,
    ) -> list[str]:
        messages_list = list(messages_list)
        tools_list = tools_list or [None] * len(messages_list)
        out = []
        for i, messages in enumerate(messages_list, start=1):
            out.append(self._one(messages, max_new_tokens, tools_list[i - 1]))
            if on_batch is not None:
                on_batch([i - 1], [out[-1]])
            if progress is not None:
                progress(i, len(messages_list))
        return out

    def _one(self, messages: list[dict], max_new_tokens: int, tools: Any = None) -> str:
        from openai import APIStatusError

        from ftui.core.base import toolcalls

        extra = {"tools": toolcalls.load_tools(tools)} if tools else {}
        for attempt in range(3):
            try:
                resp = self.client.chat.completions.create(
                    model=self.model_name,
                    messages=messages,
                    temperature=0,
                    max_tokens=max_new_tokens,
                    extra_body=self.extra_body,
                    **extra,
                )
                msg = resp.choices[0].message
                # A call comes back as tool_calls: kept as its canonical text, as the log reader keeps one.
                calls = toolcalls.calls_from_openai(
                    [c.model_dump() if hasattr(c, "model_dump") else c for c in getattr(msg, "tool_calls", None) or []]
                )
                if calls:
                    return toolcalls.call_text(calls)
                return (msg.content or "").strip()
            except APIStatusError as exc:
                if exc.status_code in (401, 403):
                    raise RuntimeError(
                        f"{self.base_url}: {exc.status_code} unauthorized (set ${self.api_key_env})"
                    ) from None
                if attempt == 2 or exc.status_code < 500:
                    raise
                time.sleep(2**attempt)
        raise AssertionError("unreachable")
