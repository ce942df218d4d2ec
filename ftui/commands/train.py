"""`ftui train`, `ftui runs`, `ftui stop`, `ftui logs`: start, watch and control training runs headlessly."""

from __future__ import annotations

import argparse
from pathlib import Path

from ftui.commands import follow, train_dryrun
from ftui.commands.common import EXIT_FOUND, add_json, add_run, add_workspace, emit, fail, load_ws
from ftui.core.base import jobs
from ftui.core.base.errors import InputError
from ftui.core.base.formatting import num
from ftui.core.hosted import hosted, where
from ftui.core.runs import runs
from ftui.core.runs.text import format_event, probe_text
from ftui.core.workspace.workspace import DEVICES, SELECT_BY, TRAIN_METHODS, SettingError


def register(sub) -> None:
    p = sub.add_parser("train", help="start a LoRA/QLoRA SFT or DPO run in the background")
    add_workspace(p)
    p.add_argument("--build", metavar="ID", help="dataset build id or folder (default: the latest build)")
    p.add_argument("--method", choices=TRAIN_METHODS, help="training method (default: train.method)")
    p.add_argument("--steps", type=int, metavar="N", help="max training steps")
    p.add_argument("--epochs", type=float, metavar="E", help="train for E epochs instead of a step count")
    p.add_argument("--lr", type=float, metavar="X", help="learning rate")
    p.add_argument("--rank", type=int, metavar="R", help="LoRA rank")
    p.add_argument("--batch-size", type=int, metavar="B", help="per-device batch size")
    p.add_argument("--max-length", type=int, metavar="L", help="max tokens per example")
    p.add_argument(
        "--anchor-kl",
        type=float,
        metavar="W",
        help="weight of KL(base || tuned) on anchor answers (SFT and DPO); 0 turns it off (default: train.anchor_kl)",
    )
    p.add_argument(
        "--probes", type=int, metavar="N", help="graded validation probes per eval step, 0 off (default: train.probes)"
    )
    p.add_argument(
        "--select-by",
        choices=SELECT_BY,
        help="what picks the best checkpoint (default: train.select_by)",
    )
    p.add_argument(
        "--stop-broken-anchors",
        type=int,
        metavar="N",
        help="stop when a probe finds N anchors broken, 0 never (default: train.stop_broken_anchors)",
    )
    p.add_argument(
        "--rpo-alpha",
        type=float,
        metavar="W",
        help="DPO: weight of an NLL term on the chosen answers, 0 off (default: train.rpo_alpha)",
    )
    p.add_argument(
        "--num-generations",
        type=int,
        metavar="G",
        help="GRPO: answers sampled per prompt (default: train.num_generations)",
    )
    p.add_argument(
        "--max-completion-length",
        type=int,
        metavar="T",
        help="GRPO: tokens per sampled answer (default: train.max_completion_length)",
    )
    p.add_argument(
        "--kl-beta", type=float, metavar="W", help="GRPO: weight of KL(tuned || base), 0 off (default: train.kl_beta)"
    )
    p.add_argument("--qlora", action="store_true", default=None, help="load the base model in 4-bit (CUDA only)")
    p.add_argument("--device", choices=DEVICES)
    p.add_argument(
        "--processes",
        type=int,
        metavar="N",
        help="data-parallel processes through accelerate (default: train.processes)",
    )
    p.add_argument("--accelerate-config", metavar="FILE", help="accelerate config: DeepSpeed, FSDP, several machines")
    p.add_argument("--model", help="model: embedded default, a local folder or a hub id (default: workspace model)")
    p.add_argument("--resume", metavar="RUN", help="continue RUN from its last checkpoint")
    p.add_argument("--follow", action="store_true", help="print progress until the run ends")
    train_dryrun.add_arguments(p)
    add_json(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("runs", help="list training runs and their state")
    add_workspace(p)
    add_json(p)
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("stop", help="cancel a run (it saves a checkpoint first)")
    add_run(p)
    p.set_defaults(func=cmd_stop)

    p = sub.add_parser("logs", help="print a run's events as progress lines")
    add_run(p)
    p.add_argument("--tail", type=int, metavar="N", help="only the last N lines")
    p.add_argument("--follow", action="store_true", help="keep printing until the run ends")
    p.set_defaults(func=cmd_logs)


# The train setting each flag overrides (the section's own rules check the value; an error names the flag).
FLAGS = {
    "method": "--method",
    "max_steps": "--steps",
    "epochs": "--epochs",
    "learning_rate": "--lr",
    "lora_r": "--rank",
    "batch_size": "--batch-size",
    "max_length": "--max-length",
    "qlora": "--qlora",
    "anchor_kl": "--anchor-kl",
    "probes": "--probes",
    "select_by": "--select-by",
    "stop_broken_anchors": "--stop-broken-anchors",
    "rpo_alpha": "--rpo-alpha",
    "num_generations": "--num-generations",
    "max_completion_length": "--max-completion-length",
    "kl_beta": "--kl-beta",
    "device": "--device",
    "processes": "--processes",
    "accelerate_config": "--accelerate-config",
    "model": "--model",
}


def _overrides(args: argparse.Namespace) -> dict:
    given = {key: getattr(args, flag[2:].replace("-", "_")) for key, flag in FLAGS.items()}
    if given["accelerate_config"]:
        # A flag's path is the caller's (relative to where they stand); the run reads it from its own folder.
        given["accelerate_config"] = str(Path(given["accelerate_config"]).resolve())
    return given


def _flag_error(exc: SettingError, given: dict) -> str:
    """`--steps must be at least 1` for a flag's value; the workspace's own setting keeps its name."""
    key, reason = exc.problems[0]
    if given.get(key) is not None:
        return f"{FLAGS[key]}{'' if reason[:1] in ':.' else ' '}{reason}"
    return exc.first


def _follow(args, run_dir: Path, offset: int = 0) -> int:
    last_type = None
    for ev in follow.events(run_dir / "events.jsonl", lambda: runs.read_state(run_dir).state == "dead", offset):
        if args.json:
            emit(args, ev)
        else:
            _print_event(ev)
        last_type = ev.get("type")
    if last_type in ("finished", "failed", "cancelled"):
        return EXIT_FOUND if last_type == "failed" else 0
    print(
        f"run {run_dir.name} is dead: its process is gone without a final event "
        f"(resume it with `ftui train --resume {run_dir.name}`)",
        flush=True,
    )
    return EXIT_FOUND


def cmd_train(args: argparse.Namespace) -> int:
    ws = load_ws(args)
    try:
        if args.dry_run:
            return train_dryrun.dry_run(ws, runs.build_dir_for(ws, args.build), _overrides(args), args.json)
        if args.resume:
            run_dir = runs.find_run(ws, args.resume)
            offset = (run_dir / "events.jsonl").stat().st_size if (run_dir / "events.jsonl").exists() else 0
            pid = runs.start_training(run_dir, resume=True)
        else:
            build_dir = runs.build_dir_for(ws, args.build)
            overrides = _overrides(args)
            try:
                run_dir, pid = where.start(ws, build_dir, overrides, where.LOCAL)
            except SettingError as exc:
                fail(_flag_error(exc, overrides))
            offset = 0
    except ValueError as exc:
        fail(str(exc))
    except InputError as exc:
        fail(str(exc))
    if not args.follow:
        emit(
            args,
            {"run_id": run_dir.name, "dir": str(run_dir), "pid": pid, "resumed": bool(args.resume)},
            f"run {run_dir.name} started (pid {pid})\n  watch:  ftui logs {run_dir.name} --follow"
            f"\n  stop:   ftui stop {run_dir.name}\n  folder: {run_dir}",
        )
        return 0
    if not args.json:
        print(f"run {run_dir.name} started (pid {pid}); Ctrl-C stops watching, not the run", flush=True)
    return _follow(args, run_dir, offset)


def cmd_runs(args: argparse.Namespace) -> int:
    ws = load_ws(args)
    infos = runs.list_runs(ws)
    lines = []
    for r in infos:
        step = f"{r.step or 0}/{r.max_steps or r.config.get('max_steps', '?')}"
        extra = r.error if r.state == "failed" else (f"adapter {r.adapter}" if r.adapter else (r.message or ""))
        if r.last_probe and r.state != "failed":
            extra = f"{probe_text(r.last_probe)}  {extra}"
        lines.append(
            f"{r.id:<28} {r.state:<9} {(r.method or '?'):<4} step {step:<9} "
            f"best eval {num(r.best_eval_loss)} @ {r.best_step if r.best_step is not None else '-':<5} {extra}"
        )
    emit(args, [r.to_dict() for r in infos], "\n".join(lines) if lines else "no runs yet")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    ws = load_ws(args)
    try:
        run_dir = runs.find_run(ws, args.run)
    except InputError as exc:
        fail(str(exc))
    info = runs.read_state(run_dir)
    if info.state != "running":
        emit(
            args,
            {"run_id": run_dir.name, "state": info.state, "signalled": False},
            f"run {run_dir.name} is not running ({info.state})",
        )
        return 0
    try:
        done = where.stop(run_dir)
    except hosted.HostedError as exc:
        fail(str(exc), EXIT_FOUND if exc.service else 2)
    state = "cancelled" if done.hosted else info.state
    emit(args, {"run_id": run_dir.name, "state": state, "signalled": done.signalled}, done.text)
    return 0


def _print_event(ev: dict) -> None:
    line = format_event(ev)
    if line:
        print(line, flush=True)


def cmd_logs(args: argparse.Namespace) -> int:
    ws = load_ws(args)
    try:
        run_dir = runs.find_run(ws, args.run)
    except InputError as exc:
        fail(str(exc))
    evs = jobs.Tail(run_dir / "events.jsonl").poll()
    if args.json:
        shown = evs if args.tail is None else evs[-args.tail :]
        for ev in shown:
            emit(args, ev)
    else:
        lines = [line for line in map(format_event, evs) if line]
        for line in lines if args.tail is None else lines[-args.tail :]:
            print(line)
    size = (run_dir / "events.jsonl").stat().st_size if (run_dir / "events.jsonl").exists() else 0
    if args.follow and runs.read_state(run_dir).state == "running":
        if hosted.is_hosted(run_dir):
            # Nothing local writes a hosted run's events: following means polling the service.
            hosted.follow(run_dir, on_event=_print_event)
            return EXIT_FOUND if runs.read_state(run_dir).state == "failed" else 0
        return _follow(args, run_dir, size)
    return EXIT_FOUND if runs.read_state(run_dir).state == "failed" else 0
