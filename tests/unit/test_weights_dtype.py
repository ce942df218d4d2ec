"""The frozen weights' precision: auto picks bf16 only where the hardware computes in bf16."""

from __future__ import annotations

import pytest

from ftui.core.base.errors import ConfigError
from ftui.core.workspace.workspace import Workspace
from ftui.engine.weights import device as D

ICE_LAKE = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw avx512vl avx512_vnni\n"
SAPPHIRE_RAPIDS = "processor\t: 0\nflags\t\t: fpu avx512f avx512_vnni avx512_bf16 amx_tile amx_bf16\n"
COOPER_LAKE = "processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16\n"


@pytest.mark.parametrize(
    ("text", "native"), [(ICE_LAKE, False), (SAPPHIRE_RAPIDS, True), (COOPER_LAKE, True), ("", False)]
)
def test_native_bf16_is_read_from_the_cpu_flags(tmp_path, text, native):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(text)
    assert D.cpu_native_bf16(cpuinfo) is native


def test_missing_cpuinfo_means_no_native_bf16(tmp_path):
    assert D.cpu_native_bf16(tmp_path / "absent") is False


@pytest.mark.parametrize(
    ("native", "auto_bf16", "requested", "weights"),
    [
        (True, True, "auto", "bf16"),
        (True, False, "auto", "fp32"),  # the default until the demo's verdict holds in bf16 there
        (False, True, "auto", "fp32"),  # emulated bf16 is slower than fp32: auto never picks it
        (True, True, "fp32", "fp32"),
        (False, False, "bf16", "bf16"),  # asked for by name: honoured, even if emulated
    ],
)
def test_cpu_plan_keeps_lora_in_fp32_and_never_autocasts(monkeypatch, native, auto_bf16, requested, weights):
    monkeypatch.setattr(D, "cpu_native_bf16", lambda *a, **k: native)
    monkeypatch.setattr(D, "CPU_AUTO_BF16", auto_bf16)
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    plan = D.plan_device("auto", dtype=requested)
    assert plan.device == "cpu" and plan.weights == weights
    assert not plan.bf16 and not plan.fp16  # no autocast on CPU: only the stored weights change
    assert ("bf16 frozen weights, fp32 LoRA" in plan.describe()) is (weights == "bf16")


def test_emulated_bf16_is_said(monkeypatch):
    monkeypatch.setattr(D, "cpu_native_bf16", lambda *a, **k: False)
    assert "emulated" in (D.emulated_bf16_warning("bf16", "cpu") or "")
    assert D.emulated_bf16_warning("fp32", "cpu") is None
    monkeypatch.setattr(D, "cpu_native_bf16", lambda *a, **k: True)
    assert D.emulated_bf16_warning("bf16", "cpu") is None


def test_unknown_dtype_is_refused():
    with pytest.raises(D.DeviceError, match="auto, fp32, bf16"):
        D.weights_dtype("fp16", "cpu")


def test_cuda_without_bf16_refuses_bf16(monkeypatch):
    monkeypatch.setattr(D, "cuda_bf16", lambda: True)
    assert D.weights_dtype("auto", "cuda") == "bf16"
    monkeypatch.setattr(D, "cuda_bf16", lambda: False)
    assert D.weights_dtype("auto", "cuda") == "fp32"
    with pytest.raises(D.DeviceError, match="does not support bf16"):
        D.weights_dtype("bf16", "cuda")


def test_cast_zeroes_denormals_and_leaves_fp32_alone():
    import torch

    # Another test in this process may have turned on the CPU's flush-to-zero, which would zero the
    # denormals below as they are written, before the cast this test is about.
    torch.set_flush_denormal(False)
    layer = torch.nn.Linear(4, 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1e-39, 0.5, -2e-40, 1.0], [3.0, -1e-38, 0.25, 1e-30]]))
    D.cast_frozen_weights(layer, "fp32")
    assert layer.weight.dtype == torch.float32 and layer.weight[0, 0] != 0
    D.cast_frozen_weights(layer, "bf16")
    w = layer.weight
    assert w.dtype == torch.bfloat16
    assert w[0, 0] == 0 and w[0, 2] == 0 and w[0, 1] == 0.5 and w[1, 3] != 0


@pytest.mark.parametrize("section", ["train", "eval"])
def test_workspace_dtype_is_validated(tmp_path, section):
    (tmp_path / "log.jsonl").write_text("")
    (tmp_path / "ftui.yaml").write_text(f"run_log: log.jsonl\n{section}:\n  dtype: fp16\n")
    with pytest.raises(ConfigError, match=rf"{section}\.dtype must be auto, fp32 or bf16") as err:
        Workspace.load(tmp_path)
    assert ":3" in str(err.value)
    (tmp_path / "ftui.yaml").write_text(f"run_log: log.jsonl\n{section}:\n  dtype: bf16\n")
    assert getattr(Workspace.load(tmp_path), section).dtype == "bf16"
