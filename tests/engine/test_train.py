"""The training engine end to end through the detached child, on a tiny random Llama (CPU)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from ftui.core.base import events, jobs
from ftui.core.runs import runs
from tests.engine.train_support import all_events, start, tiny_workspace, wait_final, wait_for, wait_step

pytestmark = pytest.mark.slow


def _check_stream(evs: list[dict]) -> None:
    for ev in evs:
        events.validate(ev)
    kinds = [e["type"] for e in evs]
    assert "heartbeat" in kinds
    started = next(e for e in evs if e["type"] == "started")
    for key in ("model", "method", "trainable_params", "total_params", "train_size", "eval_size", "config", "pid"):
        assert key in started, key
    assert 0 < started["trainable_params"] < started["total_params"]


def _load_adapter(model_dir, adapter_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(model_dir))
    model = PeftModel.from_pretrained(base, str(adapter_dir))
    assert any("lora_A" in n for n, _ in model.named_parameters())
    return model


def test_sft_run_writes_events_and_a_loadable_adapter(tmp_path, tiny_model_dir):
    ws = tiny_workspace(tmp_path, tiny_model_dir)
    run_dir = start(ws)
    final = wait_final(run_dir)
    assert final["type"] == "finished", final
    evs = all_events(run_dir)
    _check_stream(evs)
    logs = [e for e in evs if e["type"] == "log"]
    assert [e["step"] for e in logs] == list(range(1, 13))
    assert all(e["max_steps"] == 12 and e["loss"] > 0 and "learning_rate" in e for e in logs)
    assert any(e.get("tokens_per_s") for e in logs) and all("memory_mb" in e for e in logs)
    evals = [e for e in evs if e["type"] == "eval"]
    assert [e["step"] for e in evals] == [4, 8, 12]
    assert [e["step"] for e in evs if e["type"] == "checkpoint"] == [4, 8, 12]
    best = min(evals, key=lambda e: e["eval_loss"])
    assert final["best_step"] == best["step"] and final["best_eval_loss"] == pytest.approx(best["eval_loss"])
    # The learning rate is high enough that a random model does learn the answers.
    assert logs[-1]["loss"] < logs[0]["loss"]
    _load_adapter(tiny_model_dir, final["adapter"])
    info = runs.read_state(run_dir)
    assert info.state == "finished" and info.step == 12 and info.adapter == final["adapter"]
    assert [r.id for r in runs.list_runs(ws)] == [run_dir.name]


def test_dpo_run_with_frozen_base_reference(tmp_path, tiny_model_dir):
    ws = tiny_workspace(tmp_path, tiny_model_dir, method="dpo", max_steps=6, eval_steps=4, save_steps=3)
    run_dir = start(ws)
    final = wait_final(run_dir)
    assert final["type"] == "finished", final
    evs = all_events(run_dir)
    _check_stream(evs)
    logs = [e for e in evs if e["type"] == "log"]
    # The reference is the base itself, so the first DPO loss is exactly log(2).
    assert logs[0]["loss"] == pytest.approx(0.6931, abs=1e-3)
    # Step 6 falls between evaluations: a final one judges the last steps too.
    assert [e["step"] for e in evs if e["type"] == "eval"] == [4, 6]
    assert final["best_step"] in (4, 6)
    assert next(e for e in evs if e["type"] == "started")["method"] == "dpo"
    _load_adapter(tiny_model_dir, final["adapter"])


def test_cancel_leaves_checkpoint_and_resume_continues_at_the_same_step(tmp_path, tiny_model_dir):
    ws = tiny_workspace(tmp_path, tiny_model_dir, max_steps=400, eval_steps=50, save_steps=50)
    run_dir = start(ws)
    wait_step(run_dir, 3)
    assert runs.read_state(run_dir).state == "running"
    assert jobs.request_stop(run_dir)
    final = wait_final(run_dir, timeout=60)
    assert final["type"] == "cancelled", final
    step = final["step"]
    assert 3 <= step < 400
    assert final["checkpoint"].endswith(f"checkpoint-{step}")
    assert (run_dir / "checkpoints" / f"checkpoint-{step}" / "adapter_model.safetensors").exists()
    assert runs.read_state(run_dir).state == "cancelled"
    n_before = len(all_events(run_dir))

    # Resume with a shorter horizon so the test ends soon after the resumed step.
    cfg = json.loads((run_dir / "config.json").read_text())
    cfg["max_steps"] = step + 3
    (run_dir / "config.json").write_text(json.dumps(cfg))
    runs.start_training(run_dir, resume=True)
    assert runs.read_state(run_dir).state == "running"  # the old `cancelled` no longer counts
    final2 = wait_final(run_dir)
    assert final2["type"] == "finished", final2
    # Its time covers both processes: the cancelled one's work and the resumed one's.
    assert final2["total_runtime_s"] > final2["runtime_s"] > 0
    evs = all_events(run_dir)
    resumed = evs[n_before:]
    started = next(e for e in resumed if e["type"] == "started")
    assert started["resumed_from"].endswith(f"checkpoint-{step}")
    assert [e["step"] for e in resumed if e["type"] == "log"] == [step + 1, step + 2, step + 3]
    assert runs.read_state(run_dir).state == "finished"


def test_exception_in_child_reports_failed_with_traceback(tmp_path, tiny_model_dir):
    broken = tmp_path / "broken-model"
    broken.mkdir()
    for f in tiny_model_dir.iterdir():
        if f.is_file():
            (broken / f.name).write_bytes(f.read_bytes())
    (broken / "config.json").write_text('{"model_type": "llama", "hidden_size": "not a number"}')
    ws = tiny_workspace(tmp_path, broken)
    run_dir = start(ws)
    final = wait_final(run_dir)
    assert final["type"] == "failed"
    assert final["error"].startswith("ModelLoadError: could not load model")
    assert "hidden_size" in final["error"]
    tail = final["traceback_tail"]
    assert isinstance(tail, list) and 0 < len(tail) <= 15 and all(isinstance(x, str) for x in tail)
    assert any(line.startswith("ftui.engine.train.run.ModelLoadError: could not load") for line in tail)
    assert "model:" in final["hint"]
    info = runs.read_state(run_dir)
    assert info.state == "failed" and info.error == final["error"]
    assert "Traceback" in (run_dir / "train.log").read_text()


def test_run_outlives_its_starter_and_a_killed_child_reads_dead(tmp_path, tiny_model_dir):
    ws = tiny_workspace(tmp_path, tiny_model_dir, max_steps=2000, eval_steps=1000, save_steps=1000)
    build = runs.latest_build_dir(ws)
    run_dir = runs.create_run(ws, build, {})
    # The starter is in its own session, like a CLI started over SSH; killing its whole process
    # group (what a hangup does) must not reach the training child.
    starter = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from ftui.core.runs import runs; "
            "print(runs.start_training(sys.argv[1]), flush=True); time.sleep(600)",
            str(run_dir),
        ],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    child_pid = int(starter.stdout.readline())
    os.killpg(starter.pid, signal.SIGKILL)
    starter.wait()
    wait_step(run_dir, 2)
    assert jobs.pid_alive(child_pid)
    assert runs.read_state(run_dir).state == "running"

    os.kill(child_pid, signal.SIGKILL)
    wait_for(lambda: not jobs.pid_alive(child_pid), 10)
    info = runs.read_state(run_dir)
    assert info.state == "dead"
    assert info.step is not None and info.step >= 2
    # Stopping a dead run only leaves the stop file; nothing to signal.
    assert jobs.request_stop(run_dir) is False


def test_qlora_on_cpu_fails_clearly_through_the_cli(tmp_path, tiny_model_dir):
    ws = tiny_workspace(tmp_path, tiny_model_dir, device="cpu")
    out = subprocess.run(
        [sys.executable, "-m", "ftui", "train", str(ws.root), "--qlora", "--follow"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert "FAILED: DeviceError" in out.stdout and "needs a CUDA GPU" in out.stdout
    [info] = runs.list_runs(ws)
    assert info.state == "failed" and info.config["qlora"] is True
    assert not (info.dir / "adapter").exists()


def test_device_plan_defaults_on_cpu():
    from ftui.engine.weights.device import DeviceError, plan_device

    plan = plan_device("auto")
    assert (plan.device, plan.bf16, plan.fp16, plan.gradient_checkpointing) == ("cpu", False, False, False)
    with pytest.raises(DeviceError, match="no CUDA GPU"):
        plan_device("cuda")
