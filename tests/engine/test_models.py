"""Model resolution: embedded default converted once (locked, atomic), local folders, hub ids."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ftui.core.base import models as core_models
from ftui.engine.weights import models


def _fake_converter(src: Path, calls: list):
    def convert(gguf: Path, dest: Path) -> None:
        calls.append(gguf)
        time.sleep(0.3)  # long enough for a second caller to queue on the lock
        for f in src.iterdir():
            if f.is_file():
                shutil.copy(f, dest / f.name)

    return convert


def test_embedded_model_is_converted_once_even_with_concurrent_callers(tmp_path, monkeypatch, tiny_model_dir):
    monkeypatch.setenv("FTUI_CACHE_DIR", str(tmp_path / "cache"))
    calls: list = []
    gguf = tmp_path / "fake.gguf"
    gguf.write_bytes(b"GGUF")
    seen: list[str] = []
    results: list[Path] = []

    def prepare():
        results.append(
            models.prepare_embedded(progress=seen.append, converter=_fake_converter(tiny_model_dir, calls), gguf=gguf)
        )

    threads = [threading.Thread(target=prepare) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    target = core_models.converted_dir()
    assert calls == [gguf]
    assert results == [target] * 3
    assert models.is_complete(target)
    assert any("converting embedded model" in m for m in seen)
    # No temp folders are left beside the result.
    assert sorted(p.name for p in target.parent.iterdir() if not p.name.endswith(".lock")) == [target.name]
    assert core_models.local_model_dir(core_models.EMBEDDED) == target


def test_a_failed_conversion_leaves_nothing_and_an_incomplete_folder_is_redone(tmp_path, monkeypatch, tiny_model_dir):
    monkeypatch.setenv("FTUI_CACHE_DIR", str(tmp_path / "cache"))
    gguf = tmp_path / "fake.gguf"
    gguf.write_bytes(b"GGUF")

    def broken(gguf, dest):
        (dest / "config.json").write_text("{}")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        models.prepare_embedded(converter=broken, gguf=gguf)
    target = core_models.converted_dir()
    assert not target.exists()
    assert [p for p in target.parent.iterdir() if not p.name.endswith(".lock")] == []
    # A folder missing its weights (say, copied by hand) is not trusted: it is converted again.
    target.mkdir()
    (target / "config.json").write_text("{}")
    calls: list = []
    assert models.prepare_embedded(converter=_fake_converter(tiny_model_dir, calls), gguf=gguf) == target
    assert len(calls) == 1 and models.is_complete(target)


def test_an_existing_complete_copy_is_reused_without_a_marker(tmp_path, monkeypatch, tiny_model_dir):
    monkeypatch.setenv("FTUI_CACHE_DIR", str(tmp_path / "cache"))
    shutil.copytree(tiny_model_dir, core_models.converted_dir())

    def never(*a):
        raise AssertionError("must not convert")

    assert models.prepare_embedded(converter=never) == core_models.converted_dir()


def test_resolve_local_folder_and_hub_id(tmp_path, tiny_model_dir):
    assert models.resolve_model(str(tiny_model_dir)) == tiny_model_dir.resolve()
    assert models.resolve_model("HuggingFaceTB/SmolLM2-360M-Instruct") == "HuggingFaceTB/SmolLM2-360M-Instruct"
    with pytest.raises(FileNotFoundError):
        models.resolve_model(str(tmp_path / "no-such-folder"))


def test_embedded_gguf_ships_in_the_package():
    path = models.embedded_gguf()
    assert path.name == core_models.EMBEDDED_GGUF and path.stat().st_size > 50_000_000


def test_prepare_model_command_prints_the_folder_last(tmp_path, tiny_model_dir):
    out = subprocess.run(
        [sys.executable, "-m", "ftui.engine", "prepare-model", str(tiny_model_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == str(tiny_model_dir.resolve())
    bad = subprocess.run(
        [sys.executable, "-m", "ftui.engine", "prepare-model", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1 and "model folder not found" in bad.stderr


def test_engine_help_does_not_import_the_training_stack():
    code = (
        "import sys; from ftui.engine.__main__ import build_parser; build_parser(); "
        "print(sorted(m for m in ('torch', 'transformers', 'trl', 'peft') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_core_runs_and_train_command_stay_torch_free():
    code = (
        "import sys; import ftui.core.runs.runs, ftui.commands.train; "
        "print(sorted(m for m in ('torch', 'transformers', 'trl', 'peft', 'datasets', 'textual') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr
