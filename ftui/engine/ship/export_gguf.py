"""A llama-architecture model (adapter folded in) written as one GGUF file with the `gguf` package.

Facts taken from llama.cpp's converter: the `llama` graph wants the q and k projections' rows
regrouped from HF's rotate-half layout into interleaved pairs; 1-D tensors (norms) stay F32;
Q8_0 works on blocks of 32 along the last axis, so a tensor whose rows are not a multiple of 32
stays F16. The tokenizer goes in as a byte-level BPE vocabulary with its merges, special ids and
the chat template, so llama.cpp renders the same prompt transformers did.

Tensors are streamed: the header is written from the shards' shapes, then each shard is merged,
converted and written before the next one is read.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import safe_open

from ftui.core.ship.exports import GGUF_ARCHITECTURES
from ftui.engine.ship.export_merge import load_lora, merged_shards, weight_shards

QUANT_TYPES = {"f16": "F16", "q8_0": "Q8_0"}
FILE_TYPES = {"f16": "MOSTLY_F16", "q8_0": "MOSTLY_Q8_0"}


class GGUFExportError(ValueError):
    pass


def _config(model_dir: Path) -> dict:
    return json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))


def check_supported(model_dir: Path) -> dict:
    cfg = _config(model_dir)
    arch = cfg.get("model_type")
    if arch not in GGUF_ARCHITECTURES:
        raise GGUFExportError(
            f"{model_dir}/config.json: architecture {arch!r} has no GGUF export here "
            f"(supported: {', '.join(GGUF_ARCHITECTURES)}); export --to merged and use llama.cpp's converter"
        )
    rope = cfg.get("rope_parameters") or cfg.get("rope_scaling") or {}
    rope_type = rope.get("rope_type") or rope.get("type") or "default"
    if rope_type not in ("default", None):
        raise GGUFExportError(f"{model_dir}/config.json: rope type {rope_type!r} is not supported by the GGUF export")
    if cfg.get("attention_bias") or cfg.get("mlp_bias"):
        raise GGUFExportError(f"{model_dir}/config.json: biases in attention/MLP are not supported by the GGUF export")
    return cfg


def _permute(w: np.ndarray, n_head: int) -> np.ndarray:
    # HF stores each head's rotary dims as two halves; llama.cpp's rope expects them interleaved.
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _target_type(gguf: Any, name: str, shape: tuple[int, ...], quant: str) -> Any:
    Q = gguf.GGMLQuantizationType
    if len(shape) == 1:
        return Q.F32
    if quant == "q8_0":
        block = gguf.GGML_QUANT_SIZES[Q.Q8_0][0]
        return Q.Q8_0 if shape[-1] % block == 0 else Q.F16
    return Q.F16


def pre_tokenizer_name(tokenizer_json: dict) -> str:
    """llama.cpp's name for the pre-tokenizer: plain byte-level with GPT-2's split is `gpt-2`."""
    pre = tokenizer_json.get("pre_tokenizer") or {}
    if pre.get("type") == "ByteLevel" and pre.get("use_regex", True):
        return "gpt-2"
    return "default"


def _tokenizer(gguf, writer, model_dir: Path, n_vocab: int) -> dict:
    from gguf.vocab import BpeVocab, SpecialVocab

    model_dir = Path(model_dir)
    tj_path = model_dir / "tokenizer.json"
    if not tj_path.is_file():
        raise GGUFExportError(f"{model_dir}: no tokenizer.json (the GGUF export needs a fast tokenizer)")
    tj = json.loads(tj_path.read_text(encoding="utf-8"))
    try:
        vocab = BpeVocab(model_dir)
    except FileNotFoundError:
        kind = (tj.get("model") or {}).get("type")
        raise GGUFExportError(
            f"{tj_path}: tokenizer kind {kind!r} is not byte-level BPE; the GGUF export handles byte-level BPE only"
        ) from None
    special = {t["content"] for t in tj.get("added_tokens") or [] if t.get("special")}
    tokens, types = [], []
    for text, _score, typ in vocab.all_tokens():
        tokens.append(text)
        s = text.decode("utf-8") if isinstance(text, bytes) else text
        types.append(gguf.TokenType.CONTROL if s in special else typ)
    if len(tokens) > n_vocab:
        raise GGUFExportError(f"{tj_path}: {len(tokens)} tokens but the model's vocab_size is {n_vocab}")
    for i in range(len(tokens), n_vocab):  # the embedding has rows no token uses
        tokens.append(f"[PAD{i}]".encode())
        types.append(gguf.TokenType.UNUSED)
    pre = pre_tokenizer_name(tj)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    sv = SpecialVocab(model_dir, load_merges=True, n_vocab=n_vocab)
    if not sv.chat_template:
        raise GGUFExportError(f"{model_dir}: the tokenizer has no chat template to carry into the GGUF file")
    sv.add_to_gguf(writer, quiet=True)
    return {"tokens": len(tokens), "pre_tokenizer": pre, "special_ids": dict(sv.special_token_ids)}


def write_gguf(
    model_dir: Path,
    adapter: Path | None,
    dest_file: Path,
    quant: str,
    *,
    name: str = "model",
    progress: Callable[[int, int, str], None] | None = None,
) -> dict:
    import gguf

    if quant not in QUANT_TYPES:
        raise GGUFExportError(f"unknown GGUF type {quant!r} (one of: {', '.join(QUANT_TYPES)})")
    model_dir = Path(model_dir)
    cfg = check_supported(model_dir)
    n_layer = int(cfg["num_hidden_layers"])
    n_head = int(cfg["num_attention_heads"])
    n_kv = int(cfg.get("num_key_value_heads") or n_head)
    hidden = int(cfg["hidden_size"])
    head_dim = int(cfg.get("head_dim") or hidden // n_head)
    n_vocab = int(cfg["vocab_size"])
    rope = cfg.get("rope_parameters") or {}
    theta = float(rope.get("rope_theta") or cfg.get("rope_theta") or 10000.0)
    tied = bool(cfg.get("tie_word_embeddings"))
    tmap = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, n_layer)

    def gguf_name(hf: str) -> str | None:
        if hf.endswith("rotary_emb.inv_freq") or (tied and hf == "lm_head.weight"):
            return None
        new = tmap.get_name(hf, try_suffixes=(".weight", ".bias"))
        if new is None:
            raise GGUFExportError(f"{model_dir}: tensor {hf} has no place in llama.cpp's llama graph")
        return new

    writer = gguf.GGUFWriter(str(dest_file), "llama")
    writer.add_name(name)
    writer.add_context_length(int(cfg.get("max_position_embeddings") or 2048))
    writer.add_embedding_length(hidden)
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(int(cfg["intermediate_size"]))
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_kv)
    writer.add_rope_freq_base(theta)
    writer.add_layer_norm_rms_eps(float(cfg.get("rms_norm_eps") or 1e-6))
    writer.add_rope_dimension_count(head_dim)
    if head_dim * n_head != hidden:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    writer.add_vocab_size(n_vocab)
    writer.add_file_type(getattr(gguf.LlamaFileType, FILE_TYPES[quant]))
    tok = _tokenizer(gguf, writer, model_dir, n_vocab)

    # Pass 1: tensor infos from the shards' headers (no weights read).
    plan: list[tuple[str, str, Any]] = []
    for shard in weight_shards(model_dir):
        with safe_open(str(shard), framework="pt") as fh:
            for key in fh.keys():  # noqa: SIM118
                new = gguf_name(key)
                if new is None:
                    continue
                shape = tuple(fh.get_slice(key).get_shape())
                qt = _target_type(gguf, new, shape, quant)
                dtype: Any
                if qt == gguf.GGMLQuantizationType.F32:
                    dtype, nbytes, info_shape = np.float32, int(np.prod(shape)) * 4, shape
                elif qt == gguf.GGMLQuantizationType.F16:
                    dtype, nbytes, info_shape = np.float16, int(np.prod(shape)) * 2, shape
                else:
                    info_shape = gguf.quant_shape_to_byte_shape(shape, qt)
                    dtype, nbytes = np.uint8, int(np.prod(info_shape))
                writer.add_tensor_info(new, info_shape, np.dtype(dtype), nbytes, raw_dtype=qt)
                plan.append((key, new, qt))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()

    # Pass 2: merge, convert and write, shard by shard, in the order of pass 1.
    deltas = load_lora(adapter) if adapter is not None else None
    order = iter(plan)
    counts: dict[str, int] = {}

    def write_shard(tensors: dict) -> None:
        # Its own call, so no tensor or array of this shard is still referenced when the next is read.
        for key, t in tensors.items():
            new = gguf_name(key)
            if new is None:
                continue
            pkey, pnew, qt = next(order)
            assert (pkey, pnew) == (key, new), "shard order changed between passes"
            data = t.float().numpy()
            if key.endswith("self_attn.q_proj.weight"):
                data = _permute(data, n_head)
            elif key.endswith("self_attn.k_proj.weight"):
                data = _permute(data, n_kv)
            data = gguf.quants.quantize(data, qt)
            writer.write_tensor_data(data)
            counts[qt.name] = counts.get(qt.name, 0) + 1

    for _shard, tensors, _meta in merged_shards(model_dir, deltas, progress):
        write_shard(tensors)
        del tensors
    writer.close()
    return {"tensors": counts, "tokenizer": tok, "file": Path(dest_file).name}
