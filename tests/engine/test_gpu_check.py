"""`make gpu-check` (benchmarks/gpu_check.py): its message on a machine without CUDA, and its
engine-vs-plain-loop measurement run on the CPU with the tiny model (QLoRA alone needs CUDA)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "gpu_check.py"


def test_without_cuda_it_says_so_and_runs_nothing():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the check would run")
    out = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stdout == ""
    assert out.stderr.strip().startswith("gpu-check needs a CUDA GPU and this machine has none")
    assert "nothing was run" in out.stderr


@pytest.mark.slow
@pytest.mark.parametrize("name", ["bf16-lora-sft", "dpo"])
def test_each_training_check_measures_the_engine_beside_a_plain_loop(name, tiny_model_dir):
    sys.path.insert(0, str(SCRIPT.parent))
    import gpu_check

    r = gpu_check.run_check(name, steps=2, warmup=1, model_name=str(tiny_model_dir), device="cpu")
    assert r["check"] == name
    assert r["engine_tokens_per_s"] > 0 and r["plain_tokens_per_s"] > 0
    assert r["ratio"] == pytest.approx(r["engine_tokens_per_s"] / r["plain_tokens_per_s"], rel=0.01)
    assert r["peak_vram_mb"] is None  # no GPU here
