"""Training throughput: the engine (TRL SFTTrainer + ftui's callback) vs a plain PyTorch loop.

Both run on the embedded SmolLM2-135M with the same LoRA adapter, over the very same collated
batches (the engine's batches are recorded, then replayed by the plain loop), in one process.
Prints tokens/s for each and the ratio engine/plain (target >= 0.85).

    .venv/bin/python benchmarks/train_throughput.py [--steps 10] [--warmup 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

QUESTIONS = [
    "Where is validate_path defined and what does it return for a path outside the root?",
    "Which test covers the config loader, and what does it assert about missing keys?",
    "Summarize what the server module does at start-up, in order.",
    "What exception does parse_args raise on an unknown flag, and where is it caught?",
]
EVIDENCE = (
    "def validate_path(p, root):\n    full = os.path.realpath(os.path.join(root, p))\n"
    "    if not full.startswith(root):\n        raise ValueError('path escapes root')\n    return full\n"
)


def write_bench_build(folder: Path, n: int = 64) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        q = QUESTIONS[i % len(QUESTIONS)]
        rows.append(
            {
                "id": f"b{i}",
                "cluster": "c",
                "kind": "correction",
                "messages": [
                    {"role": "system", "content": "You are a code assistant. Answer from the evidence only."},
                    {"role": "user", "content": f"Evidence:\n{EVIDENCE}\nQuestion: {q} (case {i})"},
                    {
                        "role": "assistant",
                        "content": '{"file_path": "utils/security.py", "symbol": "validate_path", '
                        f'"answer": "It returns the resolved path; case {i}."}}',
                    },
                ],
            }
        )
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "manifest.json").write_text(json.dumps({"schema": 1, "build_id": "bench"}))
    return folder


class StepClock:
    """Times the engine between the end of the warm-up steps and the last step."""

    def __init__(self, warmup: int):
        from transformers import TrainerCallback

        clock = self

        class _CB(TrainerCallback):
            def on_step_end(self, args, state, control, **kw):
                if state.global_step == warmup:
                    clock.t0, clock.tok0 = time.perf_counter(), state.num_input_tokens_seen
                clock.t1, clock.tok1 = time.perf_counter(), state.num_input_tokens_seen

        self.callback = _CB()
        self.t0 = self.t1 = 0.0
        self.tok0 = self.tok1 = 0

    @property
    def tokens_per_s(self) -> float:
        return (self.tok1 - self.tok0) / (self.t1 - self.t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10, help="timed steps per round")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3, help="engine/plain rounds; the best of each is reported")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    opts = ap.parse_args()

    import torch

    from ftui.core.events import FINAL_TYPES  # noqa: F401  (the engine's own imports, as in a run)
    from ftui.core.workspace import TrainConfig
    from ftui.engine.callback import BestTracker, EventsCallback
    from ftui.engine.data import load_datasets
    from ftui.engine.device import apply_cpu_speedups, plan_device
    from ftui.engine.models import load_model_and_tokenizer
    from ftui.engine.train import make_trainer

    torch.manual_seed(0)
    tmp = Path(tempfile.mkdtemp(prefix="ftui-bench-"))
    build = write_bench_build(tmp / "build")
    train_ds, _ = load_datasets(build, "sft")
    plan = plan_device("auto")
    if plan.device == "cpu":
        apply_cpu_speedups()  # as the engine's child does; the plain loop runs in the same process
    model, tok, path = load_model_and_tokenizer(opts.model, plan.device, bf16=plan.bf16)
    total = opts.warmup + opts.steps
    cfg = {
        "method": "sft",
        "max_steps": total,
        "batch_size": opts.batch_size,
        "max_length": opts.max_length,
        "learning_rate": 2e-4,
        "lora_r": 16,
        "lora_alpha": 32,
        "lora_dropout": 0.05,
        "target_modules": "all-linear",
        "save_steps": 10_000,
        "log_steps": 1,
    }
    clock = StepClock(opts.warmup)
    # The engine's real event callback writes to a scratch events file, so its cost is measured too.
    events_cb = EventsCallback(
        tmp / "events.jsonl", tmp, plan.device, threading.Event(), BestTracker(0), tmp / "adapter"
    )
    trainer = make_trainer(
        TrainConfig.from_dict(cfg),
        plan,
        model,
        tok,
        train_ds,
        None,
        tmp / "ckpt",
        callbacks=[events_cb, clock.callback],
    )
    trainer.args.save_strategy = "no"

    recorded: list[dict] = []
    collate = trainer.data_collator

    def recording_collator(features):
        batch = collate(features)
        recorded.append({k: v.clone() for k, v in batch.items() if torch.is_tensor(v)})
        return batch

    trainer.data_collator = recording_collator
    peft_model = trainer.model
    device = next(peft_model.parameters()).device

    def plain_round(batches: list[dict]) -> float:
        params = [p for p in peft_model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=2e-4)
        peft_model.train()
        tokens, t0 = 0, None
        for i, batch in enumerate(batches):
            if i == opts.warmup:
                t0 = time.perf_counter()
            inputs = {k: v.to(device) for k, v in batch.items() if k in ("input_ids", "attention_mask", "labels")}
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=plan.bf16):
                loss = peft_model(**inputs).loss
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            if i >= opts.warmup:
                tokens += int(inputs["attention_mask"].sum())
        if device.type == "cuda":
            torch.cuda.synchronize()
        return tokens / (time.perf_counter() - t0)

    engine, plain = [], []
    for r in range(opts.rounds):
        recorded.clear()
        trainer.train()
        engine.append(clock.tokens_per_s)
        plain.append(plain_round(list(recorded[:total])))
        print(f"round {r + 1}: engine {engine[-1]:.1f} tok/s, plain loop {plain[-1]:.1f} tok/s", flush=True)
    best_e, best_p = max(engine), max(plain)
    ratio = best_e / best_p
    print(
        f"model {opts.model} ({path}) on {plan.describe()}, batch {opts.batch_size}, "
        f"{opts.steps} timed steps after {opts.warmup} warm-up, best of {opts.rounds} rounds"
    )
    print(f"engine (SFTTrainer + ftui callback): {best_e:.1f} tokens/s")
    print(f"plain PyTorch forward+backward+AdamW: {best_p:.1f} tokens/s")
    print(f"ratio engine/plain: {ratio:.3f} (target >= 0.85) {'OK' if ratio >= 0.85 else 'BELOW TARGET'}")


if __name__ == "__main__":
    main()
