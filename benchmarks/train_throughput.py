"""Training throughput: the engine (TRL SFTTrainer + ftui's callback) vs a plain PyTorch loop.

Both run on the embedded SmolLM2-135M with the same LoRA adapter, over the very same collated
batches (the engine's batches are recorded, then replayed by the plain loop), in one process.
Prints tokens/s for each and the ratio engine/plain (target >= 0.85), for each precision of the
frozen weights (`--dtypes fp32,bf16`, alternated inside each round so load falls on both alike), and
the ratio of the bf16 engine to the fp32 one (target >= 1.5x where the CPU has native bf16).

    .venv/bin/python benchmarks/train_throughput.py [--steps 10] [--warmup 2] [--rounds 3] [--profile]
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
                    clock.c0 = time.process_time()
                clock.t1, clock.tok1 = time.perf_counter(), state.num_input_tokens_seen
                clock.c1 = time.process_time()

        self.callback = _CB()
        self.t0 = self.t1 = self.c0 = self.c1 = 0.0
        self.tok0 = self.tok1 = 0

    @property
    def tokens_per_s(self) -> float:
        return (self.tok1 - self.tok0) / (self.t1 - self.t0)

    @property
    def tokens_per_cpu_s(self) -> float:
        """Per CPU second of this process: what a neighbour's load changes least on a shared machine."""
        return (self.tok1 - self.tok0) / (self.c1 - self.c0)


class Side:
    """One precision's engine (trainer + recorded batches) and its plain loop on the same PEFT model."""

    def __init__(self, dtype: str, opts, train_ds, tmp: Path):
        import torch

        from ftui.core.workspace.settings import TrainConfig
        from ftui.engine.train.callback import BestTracker, EventsCallback
        from ftui.engine.train.run import make_trainer
        from ftui.engine.weights.device import plan_device
        from ftui.engine.weights.models import load_model_and_tokenizer

        self.dtype, self.opts = dtype, opts
        self.plan = plan_device("auto", dtype=dtype)
        torch.manual_seed(0)
        model, tok, self.path = load_model_and_tokenizer(
            opts.model, self.plan.device, bf16=self.plan.bf16, weights=self.plan.weights
        )
        self.total = opts.warmup + opts.steps
        cfg = {
            "method": "sft",
            "max_steps": self.total,
            "batch_size": opts.batch_size,
            "max_length": opts.max_length,
            "learning_rate": 2e-4,
            "lora_r": 16,
            "lora_alpha": 32,
            "lora_dropout": 0.05,
            "target_modules": "all-linear",
            "save_steps": 10_000,
            "log_steps": 1,
            "seed": 0,
        }
        self.clock = StepClock(opts.warmup)
        out = tmp / dtype
        # The engine's real event callback writes to a scratch events file, so its cost is measured too.
        events_cb = EventsCallback(
            out / "events.jsonl", out, self.plan.device, threading.Event(), BestTracker(0), out / "adapter"
        )
        self.trainer = make_trainer(
            TrainConfig.from_dict(cfg),
            self.plan,
            model,
            tok,
            train_ds,
            None,
            out / "ckpt",
            callbacks=[events_cb, self.clock.callback],
        )
        self.trainer.args.save_strategy = "no"
        self.recorded: list[dict] = []
        collate = self.trainer.data_collator

        def recording_collator(features):
            batch = collate(features)
            self.recorded.append({k: v.clone() for k, v in batch.items() if torch.is_tensor(v)})
            return batch

        self.trainer.data_collator = recording_collator
        self.engine: list[float] = []
        self.plain: list[float] = []
        self.engine_cpu: list[float] = []
        self.plain_cpu: list[float] = []

    def engine_round(self) -> float:
        self.recorded.clear()
        self.trainer.train()
        self.engine.append(self.clock.tokens_per_s)
        self.engine_cpu.append(self.clock.tokens_per_cpu_s)
        return self.engine[-1]

    def plain_round(self, batches: list[dict]) -> float:
        """forward + backward + AdamW over `batches` (the engine's own, so both sides see the same tokens)."""
        import torch

        peft_model = self.trainer.model
        device = next(peft_model.parameters()).device
        params = [p for p in peft_model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=2e-4)
        peft_model.train()
        tokens, t0, c0 = 0, 0.0, 0.0
        for i, batch in enumerate(batches):
            if i == self.opts.warmup:
                t0, c0 = time.perf_counter(), time.process_time()
            inputs = {k: v.to(device) for k, v in batch.items() if k in ("input_ids", "attention_mask", "labels")}
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.plan.bf16):
                loss = peft_model(**inputs).loss
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            if i >= self.opts.warmup:
                tokens += int(inputs["attention_mask"].sum())
        if device.type == "cuda":
            torch.cuda.synchronize()
        self.plain.append(tokens / (time.perf_counter() - t0))
        self.plain_cpu.append(tokens / (time.process_time() - c0))
        return self.plain[-1]

    def profile(self, rows: int = 12) -> str:
        """Where an engine step's time goes: torch.profiler over the recorded batches, top ops by self CPU time."""
        import torch
        from torch.profiler import ProfilerActivity, profile

        peft_model = self.trainer.model
        params = [p for p in peft_model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=2e-4)
        batches = [
            {k: v for k, v in b.items() if k in ("input_ids", "attention_mask", "labels")} for b in self.recorded
        ]
        peft_model.train()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for batch in batches[self.opts.warmup : self.opts.warmup + 3]:
                peft_model(**batch).loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
        return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10, help="timed steps per round")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3, help="rounds; each runs every dtype's engine and plain loop")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--dtypes", default="fp32,bf16", help="frozen-weight precisions to compare, interleaved")
    ap.add_argument("--profile", action="store_true", help="print torch.profiler's top ops per dtype at the end")
    opts = ap.parse_args()

    import os

    from ftui.core.base.events import FINAL_TYPES  # noqa: F401  (the engine's own imports, as in a run)
    from ftui.engine.train.data import load_datasets
    from ftui.engine.weights.device import apply_cpu_speedups, cpu_native_bf16, plan_device

    tmp = Path(tempfile.mkdtemp(prefix="ftui-bench-"))
    build = write_bench_build(tmp / "build")
    train_ds, _ = load_datasets(build, "sft")
    if plan_device("auto").device == "cpu":
        apply_cpu_speedups()  # as the engine's child does; the plain loop runs in the same process
    sides = [Side(d.strip(), opts, train_ds, tmp) for d in opts.dtypes.split(",") if d.strip()]
    # Alternating the precisions inside each round makes a neighbour's load fall on both alike.
    for r in range(opts.rounds):
        for side in sides:
            e = side.engine_round()
            p = side.plain_round(list(side.recorded[: side.total]))
            print(f"round {r + 1} {side.dtype}: engine {e:.1f} tok/s, plain loop {p:.1f} tok/s", flush=True)
    print(
        f"model {opts.model} ({sides[0].path}), batch {opts.batch_size}, {opts.steps} timed steps after "
        f"{opts.warmup} warm-up, best of {opts.rounds} rounds; native bf16 on this CPU: "
        f"{'yes' if cpu_native_bf16() else 'no'}; load average {os.getloadavg()[0]:.1f}"
    )
    for side in sides:
        best_e, best_p = max(side.engine), max(side.plain)
        ratio = best_e / best_p
        print(
            f"{side.dtype} ({side.plan.describe()}): engine {best_e:.1f} tok/s, plain loop {best_p:.1f} tok/s, "
            f"ratio engine/plain {ratio:.3f} (target >= 0.85) {'OK' if ratio >= 0.85 else 'BELOW TARGET'}"
        )
    if len(sides) == 2:
        a, b = sides
        per_round = [y / x for x, y in zip(a.engine, b.engine, strict=False)]
        ratio = max(b.engine) / max(a.engine)
        print(
            f"engine {b.dtype}/{a.dtype}: {ratio:.2f}x (best of each; per round "
            + ", ".join(f"{x:.2f}" for x in per_round)
            + f") (target >= 1.5x) {'OK' if ratio >= 1.5 else 'BELOW TARGET'}; per CPU second "
            f"{max(b.engine_cpu) / max(a.engine_cpu):.2f}x"
        )
    if opts.profile:
        for side in sides:
            print(f"\n--- {side.dtype}: top ops over 3 steps (self CPU time) ---\n{side.profile()}")


if __name__ == "__main__":
    main()
