"""The embedded SmolLM2-135M trains for a few steps end to end through `ftui train --follow`."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from ftui.core.base import events
from ftui.core.base.models import EMBEDDED, local_model_dir
from ftui.core.runs import runs
from ftui.core.workspace.workspace import Workspace
from tests.fixtures.tiny_build import write_workspace


@pytest.mark.slow
def test_embedded_model_trains_through_the_cli(tmp_path):
    if local_model_dir(EMBEDDED) is None:
        # Converting takes ~40 s on its own; the run would still work (it converts first), but the
        # test budget assumes the cached copy that `python -m ftui.engine prepare-model` makes.
        subprocess.run([sys.executable, "-m", "ftui.engine", "prepare-model"], check=True, timeout=600)
    root = write_workspace(
        tmp_path / "ws",
        EMBEDDED,
        n_train=4,
        n_eval=1,
        train={
            "max_steps": 3,
            "eval_steps": 2,
            "save_steps": 3,
            "batch_size": 2,
            "max_length": 128,
            "lora_r": 8,
            "lora_alpha": 16,
        },
    )
    t0 = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "ftui", "train", str(root), "--follow"], capture_output=True, text=True, timeout=240
    )
    elapsed = time.monotonic() - t0
    assert out.returncode == 0, out.stdout + out.stderr
    assert "step 3/3" in out.stdout and "finished in" in out.stdout
    [info] = runs.list_runs(Workspace.load(root))
    assert info.state == "finished" and info.step == 3
    evs, _ = events.read_events(info.dir / "events.jsonl")
    started = next(e for e in evs if e["type"] == "started")
    assert started["model"] == EMBEDDED and started["total_params"] > 100_000_000
    assert started["device"] == "cpu, fp32"
    logs = [e for e in evs if e["type"] == "log"]
    assert len(logs) == 3 and all(0 < e["loss"] < 20 and e["tokens_per_s"] > 0 for e in logs)
    assert [e["step"] for e in evs if e["type"] == "eval"] == [2, 3]  # step 3: the final evaluation
    # all-linear: every projection of the Llama blocks carries an adapter.
    adapter = json.loads((info.dir / "adapter" / "adapter_config.json").read_text())
    assert adapter["r"] == 8 and {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"} <= set(
        adapter["target_modules"]
    )
    print(f"embedded 3-step run: {elapsed:.1f} s wall")
