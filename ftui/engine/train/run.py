"""One training run, start to finish, inside the detached child: `python -m ftui.engine train RUN_DIR`.

Everything the user sees of it goes through RUN_DIR/events.jsonl; stdout/stderr only feed train.log.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import time
from pathlib import Path

from ftui.core.base.events import EventWriter, read_events
from ftui.core.base.fsutil import atomic_write_json
from ftui.core.workspace.workspace import TrainConfig
from ftui.engine.child import Heartbeat, StopRequest, failure_fields, memory_hint
from ftui.engine.train import ranks
from ftui.engine.train.ranks import is_main_process


class ModelLoadError(RuntimeError):
    """The configured model could not be resolved or loaded."""


def failure_hint(exc: BaseException) -> str | None:
    from ftui.core.base.errors import FtuiError

    oom = memory_hint(
        exc,
        "lower batch_size (raise grad_accum to keep the effective batch), lower max_length, or turn on qlora on a CUDA GPU",
    )
    if oom:
        return oom
    if isinstance(exc, ModelLoadError):
        return (
            "check the workspace's `model:` setting (the embedded default, a local folder with config.json "
            "and weights, or a hub id) and that its files are complete"
        )
    if type(exc).__name__ == "DeviceError":
        return str(exc)
    if isinstance(exc, FtuiError):
        return "fix the file named above (or rebuild the dataset) and start the run again"
    return None


def read_config(run_dir: Path) -> tuple[dict, TrainConfig]:
    """A run's config.json, and its train settings rebuilt as the workspace's TrainConfig (so its
    rules and defaults hold here too); a bad or unknown setting is an error naming its line."""
    from ftui.core.base.errors import InputError
    from ftui.core.runs.runs import train_config
    from ftui.core.workspace.workspace import SettingError

    path = run_dir / "config.json"
    try:
        text = path.read_text(encoding="utf-8")
        cfg = json.loads(text)
    except FileNotFoundError:
        raise InputError(path, None, "run has no config.json") from None
    except json.JSONDecodeError as exc:
        raise InputError(path, exc.lineno, f"invalid JSON: {exc.msg}") from None
    for key in ("model", "method", "build_dir"):
        if key not in cfg:
            raise InputError(path, None, f"missing key `{key}`")
    from ftui.core.runs.runs import resolve_paths

    cfg = resolve_paths(cfg, run_dir)
    try:
        return cfg, train_config(cfg)
    except SettingError as exc:
        key = exc.problems[0][0]
        line = next((n for n, row in enumerate(text.splitlines(), 1) if f'"{key}":' in row), None)
        raise InputError(path, line, exc.first) from None
    except TypeError as exc:  # a value of the wrong type (text where a number goes)
        raise InputError(path, None, f"a train setting has the wrong type: {exc}") from None


def main(run_dir: Path | str, resume: bool = False) -> int:
    run_dir = Path(run_dir).resolve()
    events_path = run_dir / "events.jsonl"
    writer = EventWriter(events_path) if is_main_process() else None
    heartbeat = Heartbeat(writer).start()
    stop = StopRequest(run_dir).install((signal.SIGTERM, signal.SIGINT))
    t0 = time.time()

    def status(message: str) -> None:
        print(message, flush=True)
        if writer is not None:
            writer.emit("status", message=message)

    final: tuple[str, dict | None] | None = None
    # A rank of a data-parallel run reports to the supervisor (ftui.engine.train.launcher), which writes
    # the failure of whichever rank failed first; rank 0 still writes every other event.
    is_rank = ranks.world_size() > 1
    try:
        final = _train(run_dir, events_path, resume, status, stop, writer, heartbeat, t0)
    except BaseException as exc:
        final = ("failed", failure_fields(exc, failure_hint(exc)))
        if is_rank:
            ranks.write_record(run_dir, **final[1])
            final = ("failed", None)
    finally:
        heartbeat.stop()
        if final is not None and final[1] is not None and writer is not None:
            writer.emit(final[0], **final[1])
        if writer is not None:
            writer.close()
    return 1 if final is None or final[0] == "failed" else 0


def _train(run_dir, events_path, resume, status, stop, writer, heartbeat, t0):
    cfg, train = read_config(run_dir)
    method = train.method
    status(("resuming" if resume else "starting") + f" {method.upper()} run: loading the training stack...")

    from ftui.engine.weights.device import apply_cpu_speedups, plan_device

    plan = plan_device(train.device, train.qlora, dtype=train.dtype)
    if "LOCAL_RANK" not in os.environ:
        from ftui.core.runs.launch import plan_launch

        launch = plan_launch(cfg, run_dir, resume, plan.device, plan.gpu_count)
        # What ran, exactly (`ftui train --dry-run` prints it).
        atomic_write_json(run_dir / "launch.json", {"device": plan.describe(), **launch.to_dict()})
        if launch.via_accelerate:
            from ftui.core.runs.accelerate_checks import check_launch
            from ftui.engine.train.launcher import supervise

            check_launch(cfg, plan.device)
            assert writer is not None  # the supervisor is never a rank
            return supervise(run_dir, launch, writer) or ("finished", None)
    if plan.device == "cpu":
        apply_cpu_speedups()

    from transformers.trainer_utils import get_last_checkpoint

    from ftui.engine.train.callback import BestTracker, EventsCallback, save_adapter
    from ftui.engine.train.data import load_datasets
    from ftui.engine.weights.models import load_model_and_tokenizer

    build_dir = Path(cfg["build_dir"])
    from ftui.core.judge.evalrun import preserves

    train_ds, eval_ds = load_datasets(build_dir, method, kl_rows=preserves(dataclasses.asdict(train)))
    if method == "grpo":
        # GRPO has no eval loss to choose by: the graded probes watch it, and the last weights are the adapter.
        eval_ds = None
    status(f"device: {plan.describe()}; {len(train_ds)} train / {len(eval_ds) if eval_ds else 0} eval examples")
    from ftui.engine.weights.device import emulated_bf16_warning

    if warning := emulated_bf16_warning(plan.weights, plan.device):
        status(warning)
    status(f"loading model {cfg['model']}...")
    try:
        model, tok, model_path = load_model_and_tokenizer(
            cfg["model"], plan.device, qlora=plan.qlora, bf16=plan.bf16, progress=status, weights=plan.weights
        )
    except Exception as exc:
        raise ModelLoadError(f"could not load model {cfg['model']!r}: {type(exc).__name__}: {exc}") from exc
    from ftui.engine.train.data import has_tools

    if has_tools(build_dir):
        # Rows with tools are rendered as this model's template renders them (or by the fallback).
        train_ds, eval_ds = load_datasets(build_dir, method, kl_rows=preserves(dataclasses.asdict(train)), tok=tok)
        if method == "grpo":
            eval_ds = None

    ckpt_dir = run_dir / "checkpoints"
    adapter_dir = run_dir / "adapter"
    prior: list[dict] = []
    if resume:
        prior, _ = read_events(events_path)
    select_by = train.select_by
    tracker = BestTracker.from_events(prior, train.patience, select_by=select_by)
    probe_runner = None
    # Only rank 0 runs the probes; the early-stop decision they feed is broadcast to the others.
    if (eval_ds is not None or method == "grpo") and is_main_process():
        from ftui.core.runs import probes as core_probes

        probe_set = core_probes.read(run_dir)
        if probe_set and probe_set.get("items"):
            from ftui.engine.train.probes import ProbeRunner

            probe_runner = ProbeRunner(probe_set, tok, plan.device)
            status(f"probes: {len(probe_runner)} validation items answered and graded at each eval step")
    callback = EventsCallback(
        events_path,
        run_dir,
        plan.device,
        stop,
        tracker,
        adapter_dir,
        probes=probe_runner,
        stop_broken_anchors=train.stop_broken_anchors,
        probe_every=train.eval_steps if method == "grpo" else 0,
    )
    trainer = make_trainer(
        train, plan, model, tok, train_ds, eval_ds, ckpt_dir, callbacks=[callback], build_dir=build_dir
    )
    if method == "grpo":
        callback.samples = trainer.grader_reward.take
        callback.resume_from(prior)
        status(
            f"GRPO: {train.num_generations} answers per prompt, ≤{train.max_completion_length} tokens, "
            f"temperature {train.temperature}, KL weight {train.kl_beta}; reward = each item's own grader"
        )
    anchors = getattr(trainer, "anchors", None)
    if anchors is not None:
        status(f"anchor KL: {len(anchors)} anchor answers held to the base, {anchors.batch_size} per step")

    resume_from = None
    if resume:
        resume_from = get_last_checkpoint(str(ckpt_dir)) if ckpt_dir.is_dir() else None
        status(f"resuming from {resume_from}" if resume_from else "no checkpoint to resume from: starting at step 0")

    # Every rank must agree, or one would wait in the first gradient all-reduce for a peer that left.
    if ranks.any_rank(stop.requested):
        step = int(resume_from.rsplit("-", 1)[-1]) if resume_from else 0
        return ("cancelled", {"step": step, "checkpoint": resume_from})

    trainable, total = trainer.model.get_nb_trainable_parameters()
    if writer is not None:
        writer.emit(
            "started",
            model=cfg["model"],
            model_path=str(model_path),
            method=method,
            trainable_params=int(trainable),
            total_params=int(total),
            train_size=len(train_ds),
            eval_size=len(eval_ds) if eval_ds is not None else 0,
            config=cfg,
            pid=os.getpid(),
            device=plan.describe() + (f", {ranks.world_size()} processes" if ranks.world_size() > 1 else ""),
            dtype=plan.weights,
            resumed_from=resume_from,
            processes=ranks.world_size(),
        )
    trainer.train(resume_from_checkpoint=resume_from)
    step = trainer.state.global_step
    ranks.write_record(run_dir, step=step, peak_memory_mb=ranks.peak_memory_mb(plan.device))

    if callback.cancelled:
        return ("cancelled", {"step": step, "checkpoint": callback.last_checkpoint})
    if eval_ds is not None and not callback.early_stopped and callback.last_eval_step != step:
        # The last steps fell between two evaluations: judge them too, so they can become the best adapter.
        status(f"final evaluation at step {step}")
        callback.reopen()
        trainer.evaluate()
        callback.close()
    if tracker.best_step is None and trainer.is_world_process_zero():
        # No evaluation ever ran (no eval split): the final weights are the adapter.
        save_adapter(trainer.model, adapter_dir)
    if trainer.is_world_process_zero():
        tok.save_pretrained(str(adapter_dir))
    return (
        "finished",
        {
            "adapter": str(adapter_dir),
            "best_eval_loss": tracker.best_loss,
            "best_step": tracker.best_step,
            "select_by": select_by,
            "runtime_s": round(time.time() - t0, 1),
            "step": step,
            "early_stopped": callback.early_stopped,
            **_total_runtime(events_path, resume),
        },
    )


def _total_runtime(events_path: Path, resume: bool) -> dict:
    """A resumed run's time over all its processes (this one is still at work, hence `until` now)."""
    if not resume:
        return {}
    from ftui.core.runs.clock import worked_seconds

    events, _ = read_events(events_path)
    return {"total_runtime_s": round(worked_seconds(events, until=time.time()), 1)}


def lora_config(cfg: TrainConfig):
    from peft import LoraConfig

    target = cfg.target_modules
    return LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=target if isinstance(target, str) else list(target),
        task_type="CAUSAL_LM",
    )


def make_trainer(
    cfg: TrainConfig, plan, model, tok, train_ds, eval_ds, output_dir: Path, callbacks=(), build_dir: Path | None = None
):
    """The TRL trainer for the run's method, with the LoRA adapter attached by TRL (and, for a DPO
    run with anchor_kl, the build's anchors from `build_dir`)."""
    args = training_args(cfg, plan, output_dir, has_eval=eval_ds is not None)
    common = dict(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=tok,
        peft_config=lora_config(cfg),
        callbacks=list(callbacks),
    )
    if cfg.method == "sft":
        from ftui.engine.train.sft_loss import sft_trainer_class

        return sft_trainer_class(plan.device)(anchor_kl=cfg.anchor_kl, **common)
    if cfg.method == "grpo":
        from ftui.engine.train.grpo import grpo_trainer

        return grpo_trainer(cfg, common)
    # TrainConfig allows sft, dpo or grpo only.
    from ftui.core.judge.evalrun import preserves
    from ftui.engine.train.data import anchor_rows
    from ftui.engine.train.dpo_loss import AnchorBatches, dpo_trainer_class

    anchors = None
    if cfg.anchor_kl > 0 and build_dir is not None:
        rows = anchor_rows(build_dir, kl_rows=preserves(dataclasses.asdict(cfg)))
        anchors = AnchorBatches(rows, tok, args.max_length, args.per_device_train_batch_size, args.seed)
    # ref_model=None with a PEFT adapter: the reference is the same base with the adapter disabled.
    return dpo_trainer_class()(ref_model=None, anchor_kl=cfg.anchor_kl, anchors=anchors, **common)


# Checkpoints kept on disk: the best one and the latest are what resuming and choosing need.
SAVE_TOTAL_LIMIT = 3


def training_args(cfg: TrainConfig, plan, output_dir: Path, has_eval: bool):
    method = cfg.method
    epochs = cfg.epochs
    common = dict(
        output_dir=str(output_dir),
        max_steps=-1 if epochs else cfg.max_steps,
        num_train_epochs=float(epochs) if epochs else 1.0,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate,
        logging_steps=cfg.log_steps,
        eval_strategy="steps" if has_eval else "no",
        eval_steps=cfg.eval_steps,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=SAVE_TOTAL_LIMIT,
        report_to="none",
        seed=cfg.seed,
        bf16=plan.bf16,
        fp16=plan.fp16,
        activation_checkpointing=plan.gradient_checkpointing,
        use_cpu=plan.device == "cpu",
        max_length=cfg.max_length,
        disable_tqdm=True,
        include_num_input_tokens_seen="non_padding",
        dataloader_num_workers=0,
        # Data-parallel LoRA: every trainable parameter takes part in each forward pass, so DDP's
        # search for unused ones is only overhead.
        ddp_find_unused_parameters=False,
    )
    if method == "sft":
        from trl import SFTConfig

        # Loss on the completion (the assistant turn) only: the prompt tokens get label -100.
        return SFTConfig(completion_only_loss=True, **common)
    if method == "grpo":
        from ftui.engine.train.grpo import grpo_config

        return grpo_config(cfg, common)
    from trl import DPOConfig

    rpo = cfg.rpo_alpha
    if rpo > 0:
        # TRL 1.16 has no rpo_alpha: the same objective is its "sft" loss (mean NLL of the chosen
        # completion tokens) added to the sigmoid DPO loss with this weight.
        common.update(loss_type=["sigmoid", "sft"], loss_weights=[1.0, rpo])
    return DPOConfig(beta=cfg.beta, **common)
