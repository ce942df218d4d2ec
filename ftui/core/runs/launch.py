"""How a training run is launched: one process, or `accelerate launch` with several.

Pure Python (no torch): the engine's supervisor passes in what it measured about the machine (GPUs,
cores) and gets back the exact command and environment, which `ftui train --dry-run` also prints.

Facts taken from accelerate 1.15's launcher (accelerate/commands/launch.py, utils/launch.py, state.py):
- `accelerate launch --cpu` goes through its *simple* launcher, which starts ONE process unless
  mpirun is used; several processes come from the torchrun launcher, chosen by `--multi_gpu`.
- Under torchrun each process has LOCAL_RANK; a process asking for the CPU (TrainingArguments
  use_cpu) then becomes DistributedType.MULTI_CPU with the gloo backend (mpi only if torch has it).
- Explicit flags win over a config file (`--multi_gpu` even over its distributed_type), so with a
  config file ftui passes only the process count it was asked for.
- `--main_process_port 0` picks a free port (single machine); several machines need a fixed one.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftui.core.base.errors import InputError


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    # Only the variables ftui sets on top of the inherited environment (printed by --dry-run).
    env: dict[str, str] = field(default_factory=dict)
    processes: int = 1  # on this machine
    machines: int = 1
    machine_rank: int = 0

    @property
    def via_accelerate(self) -> bool:
        return "accelerate.commands.launch" in self.argv

    def to_dict(self) -> dict[str, Any]:
        return {
            "argv": self.argv,
            "env": self.env,
            "processes": self.processes,
            "machines": self.machines,
            "machine_rank": self.machine_rank,
            "command": self.shell(),
        }

    def shell(self) -> str:
        import shlex

        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(self.env.items()))
        return (env + " " if env else "") + shlex.join(self.argv)


def read_accelerate_config(path: Path) -> dict[str, Any]:
    """An accelerate config file (YAML or JSON, as `accelerate config` writes it)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, None, "train.accelerate_config: file not found") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(path, mark.line + 1 if mark else None, f"invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(path, 1, "an accelerate config must be a mapping")
    return data


def plan_launch(
    cfg: dict[str, Any],
    run_dir: Path,
    resume: bool,
    device: str,
    gpu_count: int,
    cpu_count: int | None = None,
) -> Launch:
    """The command that runs `cfg`'s training on this machine.

    `cfg` is the run's config.json; `device` is where the engine decided to train ("cpu"/"cuda").
    """
    engine = ["-m", "ftui.engine", "train", str(run_dir)] + (["--resume"] if resume else [])
    requested = int(cfg.get("processes") or 0)
    config_file = cfg.get("accelerate_config")
    acc: dict[str, Any] = read_accelerate_config(Path(config_file)) if config_file else {}
    machines = int(acc.get("num_machines") or 1)
    machine_rank = int(acc.get("machine_rank") or 0)
    if requested:
        local = requested
    elif acc.get("num_processes"):
        local = max(1, int(acc["num_processes"]) // machines)
    else:
        # Unset: one process per visible GPU on CUDA, one on the CPU.
        local = max(1, gpu_count) if device == "cuda" else 1
    if device == "cuda" and local > max(gpu_count, 1):
        raise InputError(
            Path(run_dir) / "config.json",
            None,
            f"train.processes is {local} but this machine has {gpu_count} GPU(s): one process per GPU at most",
        )
    if local * machines == 1 and not config_file:
        return Launch([sys.executable, *engine])
    argv = [sys.executable, "-m", "accelerate.commands.launch"]
    if config_file:
        argv += ["--config_file", str(config_file)]
    # accelerate's num_processes counts every machine's processes.
    argv += ["--num_processes", str(local * machines)]
    if device == "cpu" or not config_file:
        # The torchrun launcher, on CPU too (see above): each process then picks gloo itself.
        argv += ["--multi_gpu"]
    if not config_file:
        argv += ["--num_machines", "1", "--main_process_port", "0"]
    if device == "cpu":
        argv += ["--mixed_precision", "no"]
    argv += ["--module", *engine[1:]]
    env = {}
    if device == "cpu":
        # Intra-op threads: the cores shared between this machine's processes. torchrun would set 1
        # per process; a lone process uses them all.
        cores = cpu_count or os.cpu_count() or 1
        env["OMP_NUM_THREADS"] = str(max(1, cores // local))
    return Launch(argv, env, processes=local, machines=machines, machine_rank=machine_rank)
