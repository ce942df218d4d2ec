"""Combinations of an accelerate config and a run's settings that are known to fail, refused before
any process starts, each with the one setting to change.

Where each rule comes from:
- [peft-fsdp] PEFT docs, accelerate/fsdp.md, "Use PEFT QLoRA and FSDP": QLoRA under FSDP needs
  `fsdp_cpu_ram_efficient_loading: true` and `fsdp_use_orig_params: false`, and the 4-bit weights
  stored in the training dtype (`bnb_4bit_quant_storage`, which ftui sets itself under FSDP/ZeRO-3).
- [peft-ds] PEFT docs, accelerate/deepspeed.md, "Use PEFT QLoRA and DeepSpeed with ZeRO3": ZeRO-3
  with QLoRA needs `zero3_init_flag: true` (and the same quant storage dtype).
- [accelerate] accelerate 1.15 commands/launch.py and utils/launch.py: several machines need
  `main_process_ip` and `main_process_port`; num_processes counts all machines' processes;
  `--multi_gpu` needs at least 2 processes in all.
- [transformers] a model placed with a device_map across several GPUs (model parallel) cannot be
  wrapped by DDP; ftui places each rank's whole model on its own GPU, and refuses a config that asks
  for one process while GPUs are meant to be shared out (`gpu_ids` listing several GPUs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ftui.core.base.errors import InputError


def _flag(section: dict[str, Any], key: str) -> bool | None:
    value = section.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def problems(acc: dict[str, Any], cfg: dict[str, Any], device: str | None = None) -> list[str]:
    """Every known-bad combination in accelerate config `acc` for run settings `cfg`, one line each."""
    out: list[str] = []
    kind = str(acc.get("distributed_type") or "NO").upper()
    qlora = bool(cfg.get("qlora"))
    machines = int(acc.get("num_machines") or 1)
    fsdp = acc.get("fsdp_config") or {}
    ds = acc.get("deepspeed_config") or {}
    if kind in ("FSDP", "DEEPSPEED") and (device == "cpu" or cfg.get("device") == "cpu"):
        out.append(
            f"distributed_type {kind} shards on CUDA GPUs; for CPU processes set distributed_type: MULTI_GPU "
            "(ftui runs it with gloo) or train.device: cuda"
        )
    if kind == "FSDP" and qlora:  # [peft-fsdp]
        if _flag(fsdp, "fsdp_cpu_ram_efficient_loading") is not True:
            out.append("QLoRA with FSDP: set fsdp_config.fsdp_cpu_ram_efficient_loading: true")
        if _flag(fsdp, "fsdp_use_orig_params") is not False:
            out.append("QLoRA with FSDP: set fsdp_config.fsdp_use_orig_params: false")
    zero3 = kind == "DEEPSPEED" and int(ds.get("zero_stage") or 0) == 3
    if zero3 and qlora and _flag(ds, "zero3_init_flag") is not True:  # [peft-ds]
        out.append("QLoRA with DeepSpeed ZeRO-3: set deepspeed_config.zero3_init_flag: true")
    if machines > 1:  # [accelerate]
        for key in ("main_process_ip", "main_process_port"):
            if not acc.get(key):
                out.append(f"{machines} machines: set {key} (the address of machine rank 0)")
        rank = acc.get("machine_rank")
        if rank is None or not 0 <= int(rank) < machines:
            out.append(f"{machines} machines: set machine_rank to this machine's number, 0 to {machines - 1}")
        n = acc.get("num_processes")
        if n is not None and int(n) % machines:
            out.append(
                f"num_processes counts every machine's processes: make it a multiple of num_machines ({machines})"
            )
    n = int(acc.get("num_processes") or 0)
    gpu_ids = str(acc.get("gpu_ids") or "all")
    if kind == "MULTI_GPU" and not cfg.get("processes") and n == 1:  # [accelerate]
        out.append("distributed_type MULTI_GPU needs at least 2 processes: set num_processes (or train.processes)")
    if kind in ("NO", "MULTI_GPU") and gpu_ids != "all" and n and len(gpu_ids.split(",")) > n:  # [transformers]
        out.append(
            f"gpu_ids lists {len(gpu_ids.split(','))} GPUs for {n} process(es): ftui runs one whole model per "
            "process (data parallel), so set num_processes to the number of GPUs"
        )
    return out


def check_file(path: Path, cfg: dict[str, Any], device: str | None = None) -> None:
    """Refuse a known-bad accelerate config with a one-line error naming the file and the setting."""
    from ftui.core.runs.launch import read_accelerate_config

    found = problems(read_accelerate_config(path), cfg, device)
    if found:
        raise InputError(path, None, found[0] + (f" (and {len(found) - 1} more)" if len(found) > 1 else ""))


def check_launch(cfg: dict[str, Any], device: str | None = None) -> None:
    if cfg.get("accelerate_config"):
        check_file(Path(cfg["accelerate_config"]), cfg, device)
