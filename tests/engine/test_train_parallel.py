"""Data-parallel training on the CPU (gloo) through the detached child, on a tiny random Llama.

Loss tolerance. Transformers averages the token count across devices (average_tokens_across_devices,
on by default), so each rank's loss is its token-loss sum over the *global* token count times the
world size, and the logged loss (the mean over ranks) is the global token mean: the very number one
process computes on the same global batch. With lora_dropout 0 and the seedable sampler giving the
two ranks the two halves of the one-process batch, the curves differ only by float summation order
(fp32, ~1e-7 relative per reduction), which the optimizer carries into later steps. 1e-4 relative
leaves room for that and is still ~100x smaller than a step's loss change here (~5e-3 relative),
so a wrong data split or a gradient scaled by the world size would fail it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ftui.core.base import jobs
from ftui.core.runs import runs
from tests.engine.train_support import all_events, start, tiny_workspace, wait_final, wait_step

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "accelerate_configs"
SAME = {"lora_dropout": 0.0, "max_steps": 4, "eval_steps": 2, "save_steps": 2}


def _logs(run_dir: Path) -> list[dict]:
    return [e for e in all_events(run_dir) if e["type"] == "log"]


def _records(run_dir: Path) -> list[dict]:
    return sorted((json.loads(p.read_text()) for p in (run_dir / "ranks").glob("rank-*.json")), key=lambda r: r["rank"])


def test_two_processes_follow_the_one_process_loss_curve(tmp_path, tiny_model_dir):
    ws = tiny_workspace(tmp_path, tiny_model_dir, **SAME)
    one = start(ws, batch_size=4)
    assert wait_final(one)["type"] == "finished"
    two = start(ws, batch_size=2, processes=2)
    final = wait_final(two, timeout=300)
    assert final["type"] == "finished", final

    a, b = _logs(one), _logs(two)
    assert [e["step"] for e in b] == [1, 2, 3, 4]  # one writer: each step logged once
    for x, y in zip(a, b, strict=True):
        assert y["loss"] == pytest.approx(x["loss"], rel=1e-4), (x["step"], x["loss"], y["loss"])
    evs = all_events(two)
    started = [e for e in evs if e["type"] == "started"]
    assert len(started) == 1 and started[0]["processes"] == 2
    assert [e["step"] for e in evs if e["type"] == "checkpoint"] == [2, 4]
    assert [e["type"] for e in evs].count("finished") == 1
    launch = json.loads((two / "launch.json").read_text())
    assert "--multi_gpu" in launch["argv"] and launch["processes"] == 2
    # Both ranks trained to the end; only rank 0 saved the adapter.
    assert [(r["rank"], r["step"]) for r in _records(two)] == [(0, 4), (1, 4)]
    assert (Path(final["adapter"]) / "adapter_model.safetensors").exists()


def test_cancel_stops_every_rank_at_one_step_and_resume_continues(tmp_path, tiny_model_dir):
    ws = tiny_workspace(tmp_path, tiny_model_dir, max_steps=400, eval_steps=100, save_steps=100, batch_size=2)
    run_dir = start(ws, processes=2)
    wait_step(run_dir, 2, timeout=240)
    assert jobs.request_stop(run_dir)
    final = wait_final(run_dir, timeout=120)
    assert final["type"] == "cancelled", final
    step = final["step"]
    assert final["checkpoint"].endswith(f"checkpoint-{step}")
    assert [(r["rank"], r["step"]) for r in _records(run_dir)] == [(0, step), (1, step)]
    n_before = len(all_events(run_dir))

    cfg = json.loads((run_dir / "config.json").read_text())
    cfg["max_steps"] = step + 2
    (run_dir / "config.json").write_text(json.dumps(cfg))
    runs.start_training(run_dir, resume=True)
    final2 = wait_final(run_dir, timeout=300)
    assert final2["type"] == "finished", final2
    resumed = all_events(run_dir)[n_before:]
    assert next(e for e in resumed if e["type"] == "started")["resumed_from"].endswith(f"checkpoint-{step}")
    assert [e["step"] for e in resumed if e["type"] == "log"] == [step + 1, step + 2]


def test_a_dead_rank_fails_the_run_with_its_traceback(tmp_path, tiny_model_dir, monkeypatch):
    # Rank 1 alone breaks at its third step; rank 0 then loses its peer in the gradient all-reduce.
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import os\n"
        "if os.environ.get('RANK') == '1':\n"
        "    import transformers\n"
        "    step = transformers.Trainer.training_step\n"
        "    def broken(self, *a, **k):\n"
        "        if self.state.global_step >= 2:\n"
        "            raise RuntimeError('rank one broke at step 2')\n"
        "        return step(self, *a, **k)\n"
        "    transformers.Trainer.training_step = broken\n"
    )
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(hook), str(REPO), os.environ.get("PYTHONPATH", "")]))
    ws = tiny_workspace(tmp_path, tiny_model_dir, max_steps=50, eval_steps=100, save_steps=100, batch_size=2)
    run_dir = start(ws, processes=2)
    final = wait_final(run_dir, timeout=300)
    assert final["type"] == "failed", final
    assert final["error"].startswith("rank 1 of 2: RuntimeError: rank one broke at step 2")
    assert any("rank one broke" in line for line in final["traceback_tail"])
    assert runs.read_state(run_dir).state == "failed"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_machines_rehearsed_as_two_local_launches(tmp_path, tiny_model_dir):
    port = _free_port()
    ws = tiny_workspace(tmp_path, tiny_model_dir, **SAME, batch_size=2)
    run_dirs = []
    for rank in (0, 1):
        acc = yaml.safe_load((CONFIGS / f"two_machines_rank{rank}.yaml").read_text())
        acc["main_process_port"] = port
        path = tmp_path / f"machine{rank}.yaml"
        path.write_text(yaml.safe_dump(acc))
        run_dirs.append(start(ws, accelerate_config=str(path)))
    main, other = (wait_final(d, timeout=300) for d in run_dirs)
    assert main["type"] == "finished", main
    assert other["type"] == "finished" and other["machine_rank"] == 1, other
    assert [e["step"] for e in _logs(run_dirs[0])] == [1, 2, 3, 4]
    started = next(e for e in all_events(run_dirs[0]) if e["type"] == "started")
    assert started["processes"] == 2
    # Machine 1 holds a rank but no events of training: those are rank 0's.
    assert _logs(run_dirs[1]) == [] and _records(run_dirs[1])[0]["rank"] == 1
    assert (Path(main["adapter"]) / "adapter_model.safetensors").exists()


def test_dry_run_prints_the_launch_and_reports_each_process(tmp_path, tiny_model_dir):
    ws = tiny_workspace(tmp_path, tiny_model_dir, batch_size=2)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-m", "ftui", "train", "--workspace", str(ws.root), "--dry-run", "--processes", "2"],
        capture_output=True,
        text=True,
        env=env,
        timeout=400,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    assert "command: " in text and "accelerate.commands.launch --num_processes 2 --multi_gpu" in text
    assert "environment: OMP_NUM_THREADS=" in text
    assert "smoke run passed: 2 steps" in text and "tokens/s" in text
    assert "rank 0: peak memory" in text and "rank 1: peak memory" in text
    # The smoke run does not join the runs list.
    assert runs.list_runs(ws) == []


def _processes_of(run_dir: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if str(run_dir) in cmd and state != "Z":
            found.append(int(entry.name))
    return found


def test_ranks_do_not_outlive_a_killed_launcher(tmp_path, tiny_model_dir):
    import signal

    ws = tiny_workspace(tmp_path, tiny_model_dir, max_steps=2000, eval_steps=1000, save_steps=1000, batch_size=2)
    run_dir = start(ws, processes=2)
    wait_step(run_dir, 1, timeout=240)
    assert len(_processes_of(run_dir)) >= 3  # the launcher, accelerate/torchrun, two ranks
    os.kill(jobs.read_pid(run_dir), signal.SIGKILL)  # like an OOM kill of the run's own process
    from tests.engine.train_support import wait_for

    wait_for(lambda: not _processes_of(run_dir), timeout=120, run_dir=run_dir)
    assert runs.read_state(run_dir).state in ("dead", "cancelled")
