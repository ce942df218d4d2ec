"""`make gpu-check`: the CUDA paths, run for real on a GPU box, each beside a plain PyTorch loop.

On the embedded SmolLM2-135M, a few steps each of
  - QLoRA SFT (4-bit nf4 base, double quantization, bitsandbytes),
  - bf16 LoRA SFT,
  - DPO (LoRA, the reference is the base with the adapter off),
through the engine's own trainer (ftui.engine.train.run.make_trainer), recording the collated batches,
then the same batches through a plain forward+backward+AdamW loop; and an evaluation (the engine's
real base+tuned evaluation vs one prompt at a time, benchmarks/eval_throughput.py). Prints tokens/s,
peak VRAM and the engine/plain ratio of each; exits 1 if any check fails, 2 (with a message saying
so) on a machine without CUDA. Each check runs in its own process, so peak VRAM is its own and one
crash does not hide the others. A few minutes on one GPU.

    .venv/bin/python benchmarks/gpu_check.py [--steps 6] [--warmup 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

CHECKS = {
    "qlora-sft": {"method": "sft", "qlora": True},
    "bf16-lora-sft": {"method": "sft", "qlora": False},
    "dpo": {"method": "dpo", "qlora": False},
}
NO_CUDA = (
    "gpu-check needs a CUDA GPU and this machine has none (torch.cuda.is_available() is False): "
    "nothing was run. Run `make gpu-check` on a GPU box; the CPU paths are covered by `make test`."
)


def cuda_or_exit() -> None:
    import torch

    if not torch.cuda.is_available():
        print(NO_CUDA, file=sys.stderr, flush=True)
        raise SystemExit(2)


def write_dpo_build(folder: Path, n: int = 64) -> Path:
    from train_throughput import write_bench_build

    write_bench_build(folder, n)
    rows = []
    for line in (folder / "train.jsonl").read_text().splitlines():
        msgs = json.loads(line)["messages"]
        good = msgs[-1]["content"]
        rows.append(
            {
                "id": json.loads(line)["id"],
                "cluster": "c",
                "prompt": msgs[:-1],
                "chosen": [{"role": "assistant", "content": good}],
                "rejected": [{"role": "assistant", "content": good.replace("utils/security.py", "tests/test_x.py")}],
            }
        )
    (folder / "dpo_train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def _sft_loss(model, batch):
    return model(**{k: batch[k] for k in ("input_ids", "attention_mask", "labels")}).loss


def _dpo_loss(model, batch, beta: float):
    """Sigmoid DPO on TRL's preference batch: chosen rows first, then rejected; completion tokens only."""
    import torch
    import torch.nn.functional as F

    ids, mask, comp = batch["input_ids"], batch["attention_mask"], batch["completion_mask"]

    def logps(m):
        logits = m(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        tok = torch.gather(logits.log_softmax(-1), 2, ids[:, 1:, None]).squeeze(2)
        return (tok * comp[:, 1:]).sum(-1)

    pol = logps(model)
    with torch.no_grad(), model.disable_adapter():
        ref = logps(model)
    n = ids.shape[0] // 2
    margin = (pol[:n] - ref[:n]) - (pol[n:] - ref[n:])
    return -F.logsigmoid(beta * margin).mean()


def run_check(name: str, steps: int, warmup: int, model_name: str, device: str = "cuda") -> dict:
    """One training check: the engine's trainer, then a plain loop on the very same batches."""
    import torch
    from train_throughput import StepClock

    from ftui.core.workspace.settings import TrainConfig
    from ftui.engine.child import StopRequest
    from ftui.engine.train.callback import BestTracker, EventsCallback
    from ftui.engine.train.data import load_datasets
    from ftui.engine.train.run import make_trainer
    from ftui.engine.weights.device import DevicePlan
    from ftui.engine.weights.models import load_model_and_tokenizer

    spec = CHECKS[name]
    cuda = device == "cuda"
    bf16 = cuda and torch.cuda.is_bf16_supported()
    plan = DevicePlan(device, 1 if cuda else 0, bf16, cuda and not bf16, cuda, spec["qlora"])
    tmp = Path(tempfile.mkdtemp(prefix=f"ftui-gpu-check-{name}-"))
    build = write_dpo_build(tmp / "build")
    train_ds, _ = load_datasets(build, spec["method"])
    model, tok, _ = load_model_and_tokenizer(model_name, device, qlora=plan.qlora, bf16=plan.bf16)
    total = warmup + steps
    cfg = {
        "method": spec["method"],
        "max_steps": total,
        "batch_size": 4,
        "max_length": 256,
        "learning_rate": 2e-4,
        "lora_r": 16,
        "lora_alpha": 32,
        "lora_dropout": 0.0,
        "save_steps": 10_000,
        "log_steps": 1,
        "beta": 0.1,
    }
    clock = StepClock(warmup)
    events = EventsCallback(tmp / "events.jsonl", tmp, device, StopRequest(tmp), BestTracker(0), tmp / "adapter")
    trainer = make_trainer(
        TrainConfig.from_dict(cfg), plan, model, tok, train_ds, None, tmp / "ckpt", callbacks=[events, clock.callback]
    )
    trainer.args.save_strategy = "no"
    recorded: list[dict] = []
    collate = trainer.data_collator

    def recording(features):
        batch = collate(features)
        recorded.append({k: v.clone() for k, v in batch.items() if torch.is_tensor(v)})
        return batch

    trainer.data_collator = recording
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    engine_rate = clock.tokens_per_s
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else None

    peft_model = trainer.model
    dev = next(peft_model.parameters()).device
    params = [p for p in peft_model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=2e-4)
    peft_model.train()
    tokens, t0 = 0, time.perf_counter()
    for i, raw in enumerate(recorded[:total]):
        if i == warmup:
            if cuda:
                torch.cuda.synchronize()
            tokens, t0 = 0, time.perf_counter()
        batch = {k: v.to(dev) for k, v in raw.items()}
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=plan.bf16):
            loss = _sft_loss(peft_model, batch) if spec["method"] == "sft" else _dpo_loss(peft_model, batch, 0.1)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        tokens += int(batch["attention_mask"].sum())
    if cuda:
        torch.cuda.synchronize()
    plain_rate = tokens / (time.perf_counter() - t0)
    if not torch.isfinite(loss):
        raise RuntimeError(f"{name}: the loss is not finite ({loss.item()})")
    return {
        "check": name,
        "engine_tokens_per_s": round(engine_rate, 1),
        "plain_tokens_per_s": round(plain_rate, 1),
        "ratio": round(engine_rate / plain_rate, 3),
        "peak_vram_mb": None if peak is None else round(peak, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--one", choices=sorted(CHECKS), help=argparse.SUPPRESS)  # a single check, in this process
    opts = ap.parse_args(argv)
    cuda_or_exit()
    if opts.one:
        print(json.dumps(run_check(opts.one, opts.steps, opts.warmup, opts.model)), flush=True)
        return 0
    failed = []
    for name in CHECKS:
        t0 = time.monotonic()
        cmd = [sys.executable, __file__, "--one", name, "--steps", str(opts.steps), "--warmup", str(opts.warmup)]
        out = subprocess.run([*cmd, "--model", opts.model], capture_output=True, text=True)
        lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
        if out.returncode != 0 or not lines:
            failed.append(name)
            print(f"FAIL {name}: exit {out.returncode}\n{out.stderr[-3000:]}", flush=True)
            continue
        r = json.loads(lines[-1])
        print(
            f"ok   {name:<14} engine {r['engine_tokens_per_s']:8.0f} tok/s  plain {r['plain_tokens_per_s']:8.0f} tok/s"
            f"  ratio {r['ratio']:.2f}  peak VRAM {r['peak_vram_mb']:.0f} MB  ({time.monotonic() - t0:.0f} s)",
            flush=True,
        )
    t0 = time.monotonic()
    out = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "eval_throughput.py")], capture_output=True, text=True
    )
    if out.returncode != 0:
        failed.append("evaluation")
        print(f"FAIL evaluation: exit {out.returncode}\n{out.stderr[-3000:]}", flush=True)
    else:
        print(f"ok   evaluation ({time.monotonic() - t0:.0f} s)\n" + out.stdout.strip(), flush=True)
    if failed:
        print(f"gpu-check FAILED: {', '.join(failed)}", flush=True)
        return 1
    print("gpu-check passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
