"""What the processes of a data-parallel run agree on, and what each leaves behind for the supervisor.

Only global rank 0 writes events. Every rank takes the same stop decisions (a collective on each
decision), so all of them leave the training loop at the same step and none waits forever in a
gradient all-reduce its peers have left. Each rank writes RUN_DIR/ranks/rank-N.json when it ends:
its peak memory, or its failure with the traceback, so the supervisor can report a dead rank.
"""

from __future__ import annotations

import json
import os
import resource
import time
from pathlib import Path
from typing import Any

RANKS_DIR = "ranks"


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    # Under `accelerate launch` every rank runs the engine; only rank 0 may write events.
    return rank() == 0


def _dist():
    try:
        import torch.distributed as dist
    except ImportError:
        return None
    return dist if dist.is_available() and dist.is_initialized() else None


def _tensor(value: int):
    import torch

    dist = _dist()
    device = "cpu"
    if dist is not None and dist.get_backend() == "nccl":
        device = f"cuda:{torch.cuda.current_device()}"
    return torch.tensor([value], device=device)


def any_rank(flag: bool) -> bool:
    """True on every rank when any rank's flag is set (a cancel seen by one rank stops all)."""
    dist = _dist()
    if dist is None:
        return flag
    t = _tensor(1 if flag else 0)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def rank_zero_says(flag: bool) -> bool:
    """Rank 0's flag on every rank: decisions that only rank 0 can take (it alone runs the probes)."""
    dist = _dist()
    if dist is None:
        return flag
    t = _tensor(1 if flag else 0)
    dist.broadcast(t, src=0)
    return bool(t.item())


def peak_memory_mb(device: str) -> float | None:
    """This process's peak: allocated CUDA memory on a GPU, the resident set's high-water mark on CPU."""
    if device == "cuda":
        import torch

        return round(torch.cuda.max_memory_allocated() / 2**20, 1)
    # Linux reports ru_maxrss in KiB.
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def write_record(run_dir: Path, **fields: Any) -> None:
    """This rank's end-of-life record (atomic: the supervisor may read it at any moment)."""
    d = Path(run_dir) / RANKS_DIR
    d.mkdir(parents=True, exist_ok=True)
    rec = {"rank": rank(), "world_size": world_size(), "pid": os.getpid(), "t": time.time(), **fields}
    tmp = d / f".rank-{rank()}.json.tmp"
    tmp.write_text(json.dumps(rec))
    tmp.replace(d / f"rank-{rank()}.json")


def read_records(run_dir: Path) -> list[dict[str, Any]]:
    out = []
    for p in sorted((Path(run_dir) / RANKS_DIR).glob("rank-*.json")):
        try:
            out.append(json.loads(p.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    return sorted(out, key=lambda r: r.get("rank", 0))


def clear_records(run_dir: Path) -> None:
    for p in (Path(run_dir) / RANKS_DIR).glob("*rank-*.json*"):
        p.unlink(missing_ok=True)


def first_failure(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The failure that came first: the others are usually its consequence (a peer left a collective)."""
    failed = [r for r in records if r.get("error")]
    return min(failed, key=lambda r: r["t"]) if failed else None
