"""Evaluation throughput: the engine's batched base+tuned evaluation vs one prompt at a time.

Both sides answer the same sample-benchmark items with the embedded SmolLM2-135M and a LoRA
adapter, greedy, same max_new_tokens, in one process. The engine run is the real evaluation
(`ftui.engine.evaluate.Evaluation`: plan, one model load, base pass with the adapter off, tuned
pass with it on, grading, report); the baseline calls `model.generate` once per prompt and side.
Prints items/s for each, the ratio (target >= 4x) and the number of model loads per evaluation.

    .venv/bin/python benchmarks/eval_throughput.py [--items 16] [--max-new-tokens 48] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ftui.core.workspace import EvalConfig  # noqa: E402 (after the path is set)


def make_workspace(root: Path, n: int, max_new_tokens: int, batch_size: int):
    from ftui.core.workspace import Workspace
    from ftui.sample.questions import all_questions

    qs = all_questions(REPO / "sample_data")
    # A stride over the whole list mixes task types (and so prompt and answer lengths).
    step = max(1, len(qs) // n)
    rows = [q.record() for q in qs[::step][:n]]
    for r in rows:
        r["grade"] = "incorrect"
        r["answer"] = ""
    root.mkdir(parents=True)
    (root / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "ftui.yaml").write_text(
        f"run_log: runs.jsonl\neval:\n  max_new_tokens: {max_new_tokens}\n  batch_size: {batch_size}\n"
    )
    return Workspace.load(root)


def make_adapter(model_path: str, out: Path) -> Path:
    """A LoRA adapter with small random weights (trained or not, it costs the same to run)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    peft = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", init_lora_weights=False))
    peft.save_pretrained(out)
    return out


def make_run(ws, model: str, adapter: Path) -> Path:
    run_dir = ws.state.runs / "bench-run"
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(
        json.dumps({"run_id": run_dir.name, "model": model, "device": "cpu", "method": "sft"})
    )
    (run_dir / "adapter").symlink_to(adapter, target_is_directory=True)
    return run_dir


def one_at_a_time(
    model: str, adapter: Path, messages: list[list[dict]], max_new_tokens: int
) -> tuple[float, float, list, list]:
    """Plain `generate`, one prompt per call, base (adapter off) then tuned, for every item."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ftui.engine.generate import resolve_model_path

    path = resolve_model_path(model)
    tok = AutoTokenizer.from_pretrained(path)
    base = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    peft = PeftModel.from_pretrained(base, str(adapter)).eval()

    def answer(msgs):
        text = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        enc = tok(text, return_tensors="pt", add_special_tokens=False)
        out = peft.generate(
            **enc,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            pad_token_id=tok.pad_token_id or tok.eos_token_id,
        )
        return tok.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True).strip()

    base_out, tuned_out = [], []
    t0, c0 = time.perf_counter(), time.process_time()
    with torch.inference_mode():
        for msgs in messages:
            with peft.disable_adapter():
                base_out.append(answer(msgs))
            tuned_out.append(answer(msgs))
    return time.perf_counter() - t0, time.process_time() - c0, base_out, tuned_out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--batch-size", type=int, default=EvalConfig.batch_size)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    args = ap.parse_args(argv)

    import torch

    from ftui.core import evalrun
    from ftui.engine import generate as G
    from ftui.engine.evaluate import Evaluation
    from ftui.engine.generate import resolve_model_path

    print(
        f"torch threads: {torch.get_num_threads()}; model {args.model}; {args.items} items x 2 sides; "
        f"max_new_tokens {args.max_new_tokens}; batch size {args.batch_size}",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ws = make_workspace(tmp / "ws", args.items, args.max_new_tokens, args.batch_size)
        adapter = make_adapter(resolve_model_path(args.model), tmp / "adapter")
        run_dir = make_run(ws, args.model, adapter)
        plan = evalrun.plan_eval(ws, run_dir)
        evalrun.write_plan(plan)
        n = len(plan.items)

        loads = G.LOADS
        t0, c0 = time.perf_counter(), time.process_time()
        ev = Evaluation(run_dir, lambda *a, **k: None)
        report_path = ev.run()
        engine_s, engine_cpu = time.perf_counter() - t0, time.process_time() - c0
        engine_loads = G.LOADS - loads
        report = json.loads(report_path.read_text())
        print(
            f"engine (batched, incl. model load and grading): {engine_s:7.1f} s wall  {n / engine_s:6.3f} items/s  "
            f"({engine_cpu:.0f} s CPU)  model loads: {engine_loads}",
            flush=True,
        )

        plain_s, plain_cpu, base_out, tuned_out = one_at_a_time(
            args.model, adapter, [it["messages"] for it in plan.items], args.max_new_tokens
        )
        print(
            f"one prompt at a time (generation only):         {plain_s:7.1f} s wall  {n / plain_s:6.3f} items/s  "
            f"({plain_cpu:.0f} s CPU)",
            flush=True,
        )

        same_base = sum(a == it["base_answer"] for a, it in zip(base_out, report["items"], strict=False))
        same_tuned = sum(a == it["tuned_answer"] for a, it in zip(tuned_out, report["items"], strict=False))
        ratio = plain_s / engine_s
        # CPU seconds are printed too: on a shared, oversubscribed machine wall time mostly measures the neighbours.
        print(
            f"ratio: {ratio:.2f}x wall, {plain_cpu / engine_cpu:.2f}x CPU time (target >= 4x); "
            f"load average {os.getloadavg()[0]:.1f}; identical answers: base {same_base}/{n}, tuned {same_tuned}/{n}"
        )
        ok = engine_loads == 1
        print("exactly one model load per evaluation: " + ("yes" if ok else f"NO ({engine_loads})"))
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
