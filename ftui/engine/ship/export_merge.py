"""Folding a LoRA adapter into the base weights one safetensors shard at a time.

Loading the model and calling `merge_and_unload` holds the whole model (twice, briefly) in memory;
reading one shard, adding `scale * B @ A` to the weights the adapter touches and writing it back
keeps the peak near one shard plus the adapter, whatever the model's size.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open

# Files of a model folder that are weights (rewritten) rather than config/tokenizer (copied).
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
INDEX = "model.safetensors.index.json"


class MergeError(ValueError):
    pass


@dataclass
class LoraDelta:
    a: torch.Tensor  # (r, in)
    b: torch.Tensor  # (out, r)
    scale: float
    fan_in_fan_out: bool = False

    def delta(self) -> torch.Tensor:
        d = (self.b.float() @ self.a.float()) * self.scale
        return d.T if self.fan_in_fan_out else d


def _pattern_value(module: str, patterns: dict, default):
    # PEFT's rank_pattern/alpha_pattern keys match a module name by its dotted suffix (or a regex).
    for key, value in (patterns or {}).items():
        if re.fullmatch(rf"(.*\.)?{key}", module):
            return value
    return default


def load_lora(adapter: Path | str) -> dict[str, LoraDelta]:
    """The adapter's deltas keyed by the base weight's name (`model.layers.0.self_attn.q_proj.weight`)."""
    adapter = Path(adapter)
    cfg = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    kind = cfg.get("peft_type", "LORA")
    if kind != "LORA":
        raise MergeError(f"{adapter}/adapter_config.json: adapter type {kind} cannot be merged (LoRA only)")
    if cfg.get("use_dora"):
        raise MergeError(f"{adapter}/adapter_config.json: DoRA adapters cannot be merged shard by shard")
    if cfg.get("modules_to_save"):
        raise MergeError(f"{adapter}/adapter_config.json: modules_to_save is not supported by the merge")
    weights = adapter / "adapter_model.safetensors"
    if not weights.is_file():
        raise MergeError(f"{weights}: adapter weights missing")
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    with safe_open(str(weights), framework="pt") as fh:
        for key in fh.keys():  # noqa: SIM118 - safe_open is not a mapping
            m = re.fullmatch(r"(?:base_model\.model\.)?(.+)\.lora_([AB])(?:\.[^.]+)?\.weight", key)
            if not m:
                raise MergeError(f"{weights}: unexpected tensor {key}")
            pairs.setdefault(m.group(1), {})[m.group(2)] = fh.get_tensor(key)
    r0, alpha0 = int(cfg.get("r", 8)), float(cfg.get("lora_alpha", 8))
    out: dict[str, LoraDelta] = {}
    for module, ab in pairs.items():
        if set(ab) != {"A", "B"}:
            raise MergeError(f"{weights}: {module} has only lora_{next(iter(ab))}")
        r = int(_pattern_value(module, cfg.get("rank_pattern"), r0))
        alpha = float(_pattern_value(module, cfg.get("alpha_pattern"), alpha0))
        scale = alpha / (r**0.5) if cfg.get("use_rslora") else alpha / r
        out[f"{module}.weight"] = LoraDelta(ab["A"], ab["B"], scale, bool(cfg.get("fan_in_fan_out")))
    return out


def weight_shards(model_dir: Path) -> list[Path]:
    model_dir = Path(model_dir)
    index = model_dir / INDEX
    if index.is_file():
        names = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        return [model_dir / n for n in names]
    shards = sorted(model_dir.glob("*.safetensors"))
    if not shards:
        raise MergeError(f"{model_dir}: no safetensors weights (a .bin-only model needs converting first)")
    return shards


def _merge_shard(shard: Path, pending: dict[str, LoraDelta]) -> tuple[dict[str, torch.Tensor], dict]:
    """One shard's tensors with the deltas that land in it (popped from `pending`) added."""
    tensors: dict[str, torch.Tensor] = {}
    with safe_open(str(shard), framework="pt") as fh:
        meta = fh.metadata() or {}
        for key in fh.keys():  # noqa: SIM118
            t = fh.get_tensor(key)
            d = pending.pop(key, None)
            if d is not None:
                delta = d.delta()
                if delta.shape != t.shape:
                    raise MergeError(f"{shard}: {key} is {tuple(t.shape)}, the adapter's delta {tuple(delta.shape)}")
                t = (t.float() + delta).to(t.dtype)
            tensors[key] = t
    return tensors, meta


def merged_shards(
    model_dir: Path, deltas: dict[str, LoraDelta] | None, progress: Callable[[int, int, str], None] | None = None
) -> Iterator[tuple[Path, dict[str, torch.Tensor], dict]]:
    """(shard path, merged tensors, shard metadata) one shard at a time; every delta must land.

    Each shard is merged in its own call, so no tensor of it stays referenced here while the next
    one is read; the consumer drops its reference before asking for the next.
    """
    shards = weight_shards(model_dir)
    pending = dict(deltas or {})
    for i, shard in enumerate(shards, start=1):
        tensors, meta = _merge_shard(shard, pending)
        if progress is not None:
            progress(i, len(shards), shard.name)
        yield shard, tensors, meta
        del tensors
    if pending:
        raise MergeError(
            f"{model_dir}: the adapter changes weights the base does not have: {', '.join(sorted(pending)[:3])}"
        )


def copy_model_files(model_dir: Path, dest: Path) -> list[str]:
    """Config, tokenizer, chat template: every file of the model folder that is not weights."""
    import shutil

    copied = []
    for f in sorted(Path(model_dir).iterdir()):
        if f.is_file() and not f.name.endswith(WEIGHT_SUFFIXES) and f.name != INDEX and not f.name.startswith("."):
            shutil.copy2(f, dest / f.name)
            copied.append(f.name)
    return copied


def write_merged(
    model_dir: Path, adapter: Path | None, dest: Path, progress: Callable[[int, int, str], None] | None = None
) -> dict:
    """A complete transformers folder in `dest` (which must exist): merged shards + every other file."""
    from safetensors.torch import save_file

    model_dir, dest = Path(model_dir), Path(dest)
    deltas = load_lora(adapter) if adapter is not None else None
    copy_model_files(model_dir, dest)
    index = model_dir / INDEX
    for shard, tensors, meta in merged_shards(model_dir, deltas, progress):
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(dest / shard.name), metadata=meta)
        # Dropped before the next shard is read: the loop variable would keep this one alive meanwhile.
        del tensors
    if index.is_file():
        (dest / INDEX).write_text(index.read_text(encoding="utf-8"), encoding="utf-8")
    return {"merged_modules": len(deltas or {}), "shards": len(weight_shards(model_dir))}
