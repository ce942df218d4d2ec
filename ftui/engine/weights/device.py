"""Training and evaluation defaults per device, and the precision of the frozen weights.

TRL's configs turn on bf16 autocast and gradient checkpointing by default; on a CPU that made a LoRA
step about 13x slower, so the device decides these, not the library.

`dtype` (train.dtype, eval.dtype) is the precision of the frozen base weights: bf16 halves the bytes
every step reads and runs on the CPU's bf16 dot-product units where it has them. The LoRA weights
and the optimizer state stay fp32 in every case. On a CPU without AVX512-BF16 or AMX, bf16 matmuls
are emulated and ran 3-5x slower than fp32 (measured on an Ice Lake Xeon).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ftui.core.workspace.settings import DTYPES

# /proc/cpuinfo flags of the CPUs that do bf16 arithmetic in hardware.
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
# `auto` picks bf16 on a CPU (with native bf16) only once the sample demo has kept its verdict with
# bf16 weights on such a CPU; that is not measured yet (README: "bf16 frozen weights"), so on a
# CPU `auto` stays fp32 and bf16 is asked for by name. CUDA GPUs with bf16 use it as before.
CPU_AUTO_BF16 = False


class DeviceError(RuntimeError):
    """The requested device or precision cannot be used on this machine."""


@dataclass(frozen=True)
class DevicePlan:
    device: str  # "cpu" | "cuda"
    gpu_count: int
    bf16: bool
    fp16: bool
    gradient_checkpointing: bool
    qlora: bool
    # Precision of the frozen base weights ("bf16" | "fp32"); LoRA weights and optimizer stay fp32.
    weights: str = "fp32"

    def describe(self) -> str:
        precision = "bf16" if self.bf16 else "fp16" if self.fp16 else "fp32"
        where = f"{self.gpu_count}x cuda" if self.device == "cuda" else "cpu"
        if self.device == "cpu" and self.weights == "bf16":
            precision = "bf16 frozen weights, fp32 LoRA"
        extra = ", 4-bit base (QLoRA)" if self.qlora else ""
        return f"{where}, {precision}{extra}"


def cpu_native_bf16(cpuinfo: Path | str = "/proc/cpuinfo") -> bool:
    """Whether the CPU computes in bf16 natively (AVX512-BF16 or AMX), from the kernel's CPU flags.

    torch 2.13 has no query for it: `torch.backends.cpu.get_cpu_capability()` says "AVX512" on CPUs
    with and without it, and oneDNN's bf16 check is true on any AVX-512 CPU (it emulates).
    """
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.partition(":")[2].split())
            return any(f in flags for f in NATIVE_BF16_FLAGS)
    return False


def cuda_bf16() -> bool:
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def weights_dtype(requested: str, device: str) -> str:
    """The frozen weights' precision for `requested` (auto | fp32 | bf16) on `device`: "bf16" or "fp32"."""
    if requested not in DTYPES:
        raise DeviceError(f"dtype must be one of {', '.join(DTYPES)}, not {requested!r}")
    if requested == "fp32":
        return "fp32"
    native = cuda_bf16() if device.startswith("cuda") else cpu_native_bf16()
    if requested == "bf16":
        if device.startswith("cuda") and not native:
            raise DeviceError("dtype is bf16 but this GPU does not support bf16 (use fp32 or auto)")
        return "bf16"
    return "bf16" if native and (device.startswith("cuda") or CPU_AUTO_BF16) else "fp32"


def emulated_bf16_warning(weights: str, device: str) -> str | None:
    """What to tell a user who asked for bf16 on a CPU that only emulates it."""
    if weights == "bf16" and not device.startswith("cuda") and not cpu_native_bf16():
        return "this CPU has no native bf16 (AVX512-BF16 or AMX): bf16 weights run emulated, slower than fp32"
    return None


def torch_dtype(weights: str):
    import torch

    return torch.bfloat16 if weights == "bf16" else torch.float32


def plan_device(requested: str = "auto", qlora: bool = False, dtype: str = "auto") -> DevicePlan:
    import torch

    cuda = torch.cuda.is_available()
    if requested == "cuda" and not cuda:
        raise DeviceError("train.device is cuda but no CUDA GPU is visible (torch.cuda.is_available() is False)")
    device = "cuda" if (requested == "cuda" or (requested == "auto" and cuda)) else "cpu"
    if qlora:
        if device != "cuda":
            raise DeviceError(
                "QLoRA loads the base model in 4-bit with bitsandbytes, which needs a CUDA GPU; "
                "this run is on the CPU. Turn qlora off (plain LoRA works on the CPU) or run on a GPU box."
            )
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            raise DeviceError(
                "QLoRA needs the bitsandbytes package: pip install 'ftui[gpu]' (or turn qlora off)"
            ) from None
    weights = weights_dtype(dtype, device)
    if device == "cpu":
        # No autocast on CPU (13x slower): bf16 here means the frozen weights are stored in bf16.
        return DevicePlan("cpu", 0, bf16=False, fp16=False, gradient_checkpointing=False, qlora=False, weights=weights)
    bf16 = weights == "bf16"
    # Checkpointing trades compute for memory: worth it on a GPU where memory is the limit.
    return DevicePlan(
        "cuda",
        torch.cuda.device_count(),
        bf16=bf16,
        fp16=not bf16 and dtype == "auto",
        gradient_checkpointing=True,
        qlora=qlora,
        weights=weights,
    )


def apply_cpu_speedups() -> None:
    """Flush denormal floats to zero.

    The embedded model's weights come dequantized from Q4_1 and hold many denormal values; x86 CPUs
    handle those in microcode, which made a LoRA step on SmolLM2-135M ~10x slower (1.8 s vs 14-24 s
    for 2x140 tokens on this machine). Zero is what the GPU kernels would produce anyway.
    """
    import torch

    torch.set_flush_denormal(True)


def cast_frozen_weights(model, weights: str) -> None:
    """Store the model's weights in bf16 (before the LoRA layers exist, so those stay fp32).

    bf16 keeps fp32's exponent range, so the embedded model's denormal weights survive the cast;
    they are zeroed here, as the flush does for fp32, rather than left to each kernel.
    """
    if weights != "bf16":
        return
    import torch

    model.to(torch.bfloat16)
    tiny = torch.finfo(torch.bfloat16).tiny
    with torch.no_grad():
        for p in model.parameters():
            p.masked_fill_(p.abs() < tiny, 0)


def memory_mb(device: str) -> float | None:
    """Peak GPU memory on CUDA, resident set size on CPU."""
    if device == "cuda":
        import torch

        return round(torch.cuda.max_memory_allocated() / 2**20, 1)
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        import os

        return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
    except (OSError, ValueError, IndexError):
        return None
