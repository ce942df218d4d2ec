"""The Trainer callback that turns training into the run's event stream and obeys stop requests.

Only world process zero writes; every process takes the same stop/early-stop decisions so the
ranks of a data-parallel run leave the loop at the same step.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from ftui.core.base.events import EventWriter
from ftui.core.runs.fold import fold_run
from ftui.core.runs.probes import net_fixed
from ftui.engine.child import StopRequest
from ftui.engine.train.ranks import any_rank, rank_zero_says
from ftui.engine.weights.device import memory_mb

# Trainer log keys → event fields; extra DPO figures ride along under readable names.
_LOG_EXTRAS = {
    "rewards/margins": "reward_margin",
    "rewards/accuracies": "reward_accuracy",
    "mean_token_accuracy": "token_accuracy",
    # KL(base || tuned) on anchor answers, when train.anchor_kl holds anchors to the base model.
    "anchor_kl": "anchor_kl",
    # GRPO (TRL's metric names): the reward and whether groups carry signal.
    "reward": "reward",
    "reward_std": "reward_std",
    "frac_reward_zero_std": "frac_reward_zero_std",
    "completions/mean_length": "completion_length",
    "kl": "kl",
}
# GRPO metrics logged per cluster (by the grader reward) and per reward function (by TRL).
_CLUSTER_PREFIX = "cluster_reward/"
_TERM_PREFIX, _TERM_SUFFIX = "rewards/", "/mean"


class BestTracker:
    """The best evaluation so far and how many evaluations have failed to beat it.

    By default the best is the lowest eval loss. With `select_by="probes"` it is the most probe
    items fixed net of anchors broken (what the comparison will count), lower eval loss breaking
    ties; an evaluation without a probe result falls back to eval loss alone.
    """

    def __init__(
        self,
        patience: int,
        best_loss: float | None = None,
        best_step: int | None = None,
        bad: int = 0,
        select_by: str = "eval_loss",
    ):
        self.patience = patience
        self.best_loss = best_loss
        self.best_step = best_step
        self.bad = bad
        self.select_by = select_by
        self.best_key: tuple | None = None if best_loss is None else (-best_loss,)
        self.best_probe: dict | None = None

    def _key(self, loss: float, probe: dict | None) -> tuple:
        if self.select_by == "probes" and probe is not None:
            return (net_fixed(probe), -loss)
        return (-loss,)

    def update(self, step: int, loss: float, probe: dict | None = None) -> bool:
        key = self._key(loss, probe)
        # Keys of different kinds (an evaluation without its probe) compare on eval loss alone.
        better = key > self.best_key if self.best_key and len(key) == len(self.best_key) else None
        if better is None:
            better = self.best_key is None or key[-1] > self.best_key[-1]
        if better:
            self.best_key, self.best_loss, self.best_step, self.bad = key, loss, step, 0
            self.best_probe = probe
            return True
        self.bad += 1
        return False

    @property
    def exhausted(self) -> bool:
        return self.patience > 0 and self.bad >= self.patience

    @classmethod
    def from_events(cls, events: list[dict[str, Any]], patience: int, select_by: str = "eval_loss") -> BestTracker:
        """Rebuild the tracker from an earlier session's events, so a resumed run keeps its best."""
        f = fold_run(events)
        if select_by == "eval_loss":
            return cls(patience, f.best_eval, f.best_step, f.evals_since_best)
        # By probes: replay each evaluation with the probe graded at its step, as the run saw them.
        tracker = cls(patience, select_by=select_by)
        for step, loss in f.evals:
            tracker.update(step, loss, f.probe_at(step))
        return tracker


def save_adapter(model, dest: Path) -> None:
    """Write the PEFT adapter beside `dest` and swap it in, so `adapter/` is never half-written."""
    dest = Path(dest)
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    old = dest.with_name(f".{dest.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        dest.rename(old)
    tmp.rename(dest)
    shutil.rmtree(old, ignore_errors=True)


class EventsCallback(TrainerCallback):
    def __init__(
        self,
        events_path: Path,
        run_dir: Path,
        device: str,
        stop: StopRequest,
        tracker: BestTracker,
        adapter_dir: Path,
        tokenizer=None,
        probes=None,
        stop_broken_anchors: int = 0,
        probe_every: int = 0,
    ):
        self.events_path = Path(events_path)
        self.run_dir = Path(run_dir)
        self.device = device
        self.stop = stop
        self.tracker = tracker
        self.adapter_dir = Path(adapter_dir)
        self.tokenizer = tokenizer
        # A ProbeRunner (ftui.engine.train.probes) answering the validation probe set at each evaluation.
        self.probes = probes
        self.stop_broken_anchors = int(stop_broken_anchors or 0)
        # GRPO has no eval loss: the probes run every `probe_every` steps (and once before the first
        # step, the base's baseline), and the reward-hacking guard compares them with the reward.
        self.probe_every = int(probe_every or 0)
        # GRPO: where the latest sampled answers come from (the grader reward function's `take`).
        self.samples = None
        self.rewards: list[tuple[int, float]] = []
        self.probe_events: list[dict] = []
        self._warned: set[str] = set()
        self.writer: EventWriter | None = None
        self.cancelled = False
        self.early_stopped = False
        self.last_checkpoint: str | None = None
        self.last_eval_step: int | None = None
        self._last_log_time: float | None = None
        self._last_tokens = 0
        self._is_zero = False

    # -- helpers -------------------------------------------------------------------------------
    def _emit(self, state, type: str, **fields) -> None:
        if state.is_world_process_zero and self.writer is not None:
            self.writer.emit(type, **fields)

    def _stop_wanted(self) -> bool:
        return any_rank(self.stop.requested)

    # -- trainer hooks ---------------------------------------------------------------------------
    def on_train_begin(self, args, state, control, **kwargs):
        self._is_zero = state.is_world_process_zero
        if state.is_world_process_zero:
            self.writer = EventWriter(self.events_path)
        self._last_log_time = time.monotonic()
        self._last_tokens = state.num_input_tokens_seen or 0
        if self.probe_every and self.probes is not None and not self.probe_events and kwargs.get("model") is not None:
            self._probe(state, kwargs["model"])

    def resume_from(self, events: list[dict]) -> None:
        """A resumed GRPO run keeps its rewards and probes, so the guard still compares with the start."""
        f = fold_run(events)
        self.rewards = list(f.rewards)
        self.probe_events = list(f.probes)
        self._warned = {str(w.get("reason")) for w in f.warnings}

    def _probe(self, state, model) -> None:
        from ftui.core.runs.reward_guard import check

        assert self.probes is not None
        probe = {"step": state.global_step, **self.probes.run(model)}
        self.probe_events.append(probe)
        self._emit(state, "probe", **probe)
        for warning in check(self.rewards, self.probe_events):
            if warning["reason"] not in self._warned:
                self._warned.add(warning["reason"])
                self._emit(state, "warning", **warning)

    def on_step_end(self, args, state, control, **kwargs):
        step = state.global_step
        if (
            self.probe_every
            and self.probes is not None
            and step % self.probe_every == 0
            and kwargs.get("model") is not None
        ):
            self._probe(state, kwargs["model"])
        if not self.cancelled and self._stop_wanted():
            self.cancelled = True
            control.should_training_stop = True
            control.should_save = True
            self._emit(state, "status", message=f"stop requested: saving a checkpoint at step {state.global_step}")

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = dict(logs or {})  # other callbacks mutate the same dict
        if "loss" not in logs:
            return
        now = time.monotonic()
        tokens = state.num_input_tokens_seen or 0
        fields = {
            "step": state.global_step,
            "max_steps": state.max_steps,
            "epoch": round(float(logs.get("epoch", state.epoch or 0.0)), 4),
            "loss": float(logs["loss"]),
            "learning_rate": float(logs.get("learning_rate", 0.0)),
        }
        if logs.get("grad_norm") is not None:
            fields["grad_norm"] = float(logs["grad_norm"])
        dt = now - (self._last_log_time or now)
        if tokens > self._last_tokens and dt > 0:
            fields["tokens_per_s"] = round((tokens - self._last_tokens) / dt, 1)
        self._last_log_time, self._last_tokens = now, tokens
        mem = memory_mb(self.device)
        if mem is not None:
            fields["memory_mb"] = mem
        for key, name in _LOG_EXTRAS.items():
            if isinstance(logs.get(key), (int, float)):
                fields[name] = float(logs[key])
        clusters = {
            k[len(_CLUSTER_PREFIX) :]: round(float(v), 4)
            for k, v in logs.items()
            if k.startswith(_CLUSTER_PREFIX) and isinstance(v, (int, float))
        }
        terms = {
            k[len(_TERM_PREFIX) : -len(_TERM_SUFFIX)]: round(float(v), 4)
            for k, v in logs.items()
            if k.startswith(_TERM_PREFIX) and k.endswith(_TERM_SUFFIX) and isinstance(v, (int, float))
        }
        if clusters:
            fields["cluster_reward"] = clusters
        if terms:
            fields["reward_terms"] = terms
        self._emit(state, "log", **fields)
        if "reward" in fields:
            self.rewards.append((state.global_step, fields["reward"]))
        if self.samples is not None:
            shown = self.samples()
            if shown:
                self._emit(state, "samples", step=state.global_step, samples=shown)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        metrics = dict(metrics or {})
        if "eval_loss" not in metrics:
            return
        loss = float(metrics["eval_loss"])
        step = state.global_step
        self.last_eval_step = step
        extras = {
            name: float(metrics["eval_" + key])
            for key, name in _LOG_EXTRAS.items()
            if isinstance(metrics.get("eval_" + key), (int, float))
        }
        self._emit(state, "eval", step=step, eval_loss=loss, **extras)
        model = kwargs.get("model")
        probe = None
        if self.probes is not None and model is not None:
            probe = self.probes.run(model)
            self._emit(state, "probe", step=step, **probe)
        broken = probe is not None and self.stop_broken_anchors > 0 and probe["broken"] >= self.stop_broken_anchors
        if self.tracker.update(step, loss, probe) and state.is_world_process_zero and model is not None:
            save_adapter(model, self.adapter_dir)
        if rank_zero_says(broken or self.tracker.exhausted) and not self.early_stopped:
            self.early_stopped = True
            control.should_training_stop = True
            control.should_save = True
            # Anchors the base passes are failing: more steps of the same will not bring them back.
            why = {"reason": "broken_anchors", "broken_ids": probe["broken_ids"]} if broken and probe else {}
            self._emit(
                state,
                "early_stop",
                step=step,
                best_eval_loss=self.tracker.best_loss,
                best_step=self.tracker.best_step,
                patience=self.tracker.patience,
                **why,
            )
        # The evaluation pass must not count as training time in the next tokens/s figure.
        self._last_log_time = time.monotonic()

    def on_save(self, args, state, control, **kwargs):
        path = str(Path(args.output_dir) / f"checkpoint-{state.global_step}")
        self.last_checkpoint = path
        self._emit(state, "checkpoint", step=state.global_step, path=path)

    def on_train_end(self, args, state, control, **kwargs):
        self.close()

    # An evaluation after training (trainer.evaluate()) reports through the same hooks.
    def reopen(self) -> None:
        if self.writer is None and self._is_zero:
            self.writer = EventWriter(self.events_path)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
