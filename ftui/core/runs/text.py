"""What a run is doing, in words: the one line the runs list, `ftui logs` and the Train pane show.

Each reader folds the same events, so each takes its words from here: a copy kept elsewhere
drifts (the runs list once said "loading model" while the run was at step 8).
"""

from __future__ import annotations

import time
from typing import Any

from ftui.core.base.formatting import duration, num


def started_text(ev: dict[str, Any]) -> str:
    method, model = str(ev.get("method") or "?"), ev.get("model")
    params = ev.get("trainable_params")
    return (
        f"{method.upper()} on {model}: "
        + (f"{params:,} trainable params, " if isinstance(params, int) else "")
        + f"{ev.get('train_size', '?')} train / {ev.get('eval_size', '?')} eval examples"
        + (f", {ev['dtype']} weights" if ev.get("dtype") else "")
    )


def probe_text(ev: dict[str, Any]) -> str:
    """ "probes @8: cluster 3/5, anchors 4/4": the pass counts of one `probe` event."""
    return (
        f"probes @{ev.get('step')}: cluster {ev.get('cluster_passed')}/{ev.get('cluster_total')}"
        f", anchors {ev.get('anchors_passed')}/{ev.get('anchors_total')}"
    )


def finished_text(ev: dict[str, Any]) -> str:
    """ "finished in 4m24s"; for a resumed run, the whole run's time and the last process's."""
    total, last = ev.get("total_runtime_s"), ev.get("runtime_s")
    if total is None or last is None or round(total) <= round(last):
        return f"finished in {duration(last if total is None else total)}"
    return f"finished in {duration(total)} in all ({duration(last)} since the resume)"


def event_message(ev: dict[str, Any]) -> str | None:
    """The run's current line after `ev`, or None when `ev` leaves the line as it was."""
    kind = ev.get("type")
    if kind == "status":
        return str(ev.get("message", ""))
    if kind == "started":
        return started_text(ev)
    if kind == "warning":
        return "warning: " + str(ev.get("message", ""))
    if kind == "early_stop":
        return f"early stop at step {ev.get('step')} (best {ev.get('best_eval_loss')} @ {ev.get('best_step')})"
    if kind == "finished":
        return finished_text(ev)
    if kind == "cancelled":
        at = f" at step {ev['step']}" if ev.get("step") is not None else ""
        return f"cancelled{at}" + (" (checkpoint saved)" if ev.get("checkpoint") else "")
    return None


def reward_parts(stats: dict[str, Any]) -> list[str]:
    """A GRPO step's figures in words: its mean reward, the groups that taught nothing, answer length, KL."""
    parts = [f"reward {stats['reward']:.3f}"]
    if stats.get("frac_reward_zero_std") is not None:
        parts.append(f"no-signal groups {stats['frac_reward_zero_std']:.0%}")
    if stats.get("completion_length") is not None:
        parts.append(f"answer {stats['completion_length']:.0f} tok")
    if stats.get("kl") is not None:
        parts.append(f"KL {stats['kl']:.4f}")
    return parts


def format_event(ev: dict[str, Any]) -> str | None:
    """One human line per event (heartbeats are silent)."""
    kind = ev.get("type")
    if kind == "heartbeat":
        return None
    stamp = time.strftime("%H:%M:%S", time.localtime(ev.get("t", 0)))
    if kind == "log":
        parts = [
            f"step {ev['step']}/{ev.get('max_steps')}",
            f"loss {num(ev.get('loss'))}",
            f"lr {num(ev.get('learning_rate'), '.2e')}",
        ]
        if ev.get("tokens_per_s") is not None:
            parts.append(f"{ev['tokens_per_s']:.0f} tok/s")
        if ev.get("memory_mb") is not None:
            parts.append(f"{ev['memory_mb']:.0f} MB")
        if ev.get("anchor_kl") is not None:
            parts.append(f"anchor KL {ev['anchor_kl']:.4f}")
        if ev.get("reward") is not None:
            parts += reward_parts(ev)
        text = "  ".join(parts)
    elif kind == "eval":
        text = f"eval  step {ev['step']}  eval_loss {num(ev.get('eval_loss'))}"
    elif kind == "probe":
        text = (
            f"probe  step {ev['step']}  cluster {ev['cluster_passed']}/{ev['cluster_total']}  "
            f"anchors {ev['anchors_passed']}/{ev['anchors_total']}"
            + (f"  broken {', '.join(ev['broken_ids'])}" if ev.get("broken_ids") else "")
        )
    elif kind == "checkpoint":
        text = f"checkpoint  step {ev['step']}  {ev['path']}"
    elif kind == "started":
        text = (
            f"started  {ev.get('method', '?').upper()} on {ev.get('model')}  "
            f"{ev.get('train_size')} train / {ev.get('eval_size')} eval  "
            f"trainable {ev.get('trainable_params')}/{ev.get('total_params')} params  ({ev.get('device', '')})"
        )
    elif kind == "early_stop":
        text = f"early stop at step {ev['step']}: best eval_loss {num(ev.get('best_eval_loss'))} at step {ev.get('best_step')}"
    elif kind == "finished":
        text = (
            f"{finished_text(ev)}  best eval_loss {num(ev.get('best_eval_loss'))} "
            f"at step {ev.get('best_step')}  adapter {ev.get('adapter')}"
        )
    elif kind == "cancelled":
        text = f"cancelled at step {ev.get('step')}  checkpoint {ev.get('checkpoint')}"
    elif kind == "failed":
        text = f"FAILED: {ev.get('error')}"
        if ev.get("hint"):
            text += f"\n  hint: {ev['hint']}"
    elif kind == "status":
        text = str(ev.get("message"))
    elif kind == "warning":
        text = f"WARNING: {ev.get('message')}"
    elif kind == "samples":
        shown = ev.get("samples") or []
        text = f"samples  step {ev.get('step')}  " + "  ".join(
            f"[{s.get('reward', 0):.0f}] {str(s.get('answer', ''))[:40]}" for s in shown[:3]
        )
    else:
        text = f"{kind} " + " ".join(f"{k}={v}" for k, v in ev.items() if k not in ("v", "type", "t"))
    return f"{stamp}  {text}"
