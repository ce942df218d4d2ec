"""A run trained on bf16 frozen weights saves an fp32 adapter that loads and answers in fp32."""

from __future__ import annotations

import pytest

from tests.engine.train_support import all_events, start, tiny_workspace, wait_final

pytestmark = pytest.mark.slow


def test_bf16_run_saves_an_fp32_adapter_that_evaluates_in_fp32(tmp_path, tiny_model_dir):
    import torch
    from safetensors.torch import load_file

    from ftui.engine.infer.generate import load_for_generation

    ws = tiny_workspace(tmp_path, tiny_model_dir, max_steps=4, eval_steps=2, save_steps=2, dtype="bf16")
    run_dir = start(ws)
    final = wait_final(run_dir)
    assert final["type"] == "finished", final
    started = next(e for e in all_events(run_dir) if e["type"] == "started")
    assert started["dtype"] == "bf16" and "bf16 frozen weights, fp32 LoRA" in started["device"]
    assert started["config"]["dtype"] == "bf16"
    from ftui.engine.weights.device import cpu_native_bf16

    said = any("emulated" in e.get("message", "") for e in all_events(run_dir) if e["type"] == "status")
    assert said is not cpu_native_bf16()  # a CPU without bf16 units is named as such
    weights = load_file(f"{final['adapter']}/adapter_model.safetensors")
    assert weights and {t.dtype for t in weights.values()} == {torch.float32}

    msgs = [[{"role": "user", "content": "Where is validate_path defined?"}]]
    gen = load_for_generation(str(tiny_model_dir), final["adapter"], "cpu", dtype="fp32")
    assert gen.dtype == "fp32" and gen.model.get_base_model().dtype == torch.float32
    tuned_fp32 = gen.generate(msgs, adapter=True, max_new_tokens=8)
    assert tuned_fp32 == gen.generate(msgs, adapter=True, max_new_tokens=8)

    # bf16 evaluation of the same adapter: after a merged (tuned) pass the base weights are exactly
    # what they were, so the base side answers the same before and after.
    gen16 = load_for_generation(str(tiny_model_dir), final["adapter"], "cpu", dtype="bf16")
    assert gen16.dtype == "bf16"
    before = {n: p.detach().clone() for n, p in gen16.model.named_parameters() if "lora_" not in n}
    base_first = gen16.generate(msgs, adapter=False, max_new_tokens=8)
    gen16.generate(msgs, adapter=True, max_new_tokens=8)
    assert all(torch.equal(p, before[n]) for n, p in gen16.model.named_parameters() if "lora_" not in n)
    assert gen16.generate(msgs, adapter=False, max_new_tokens=8) == base_first
