"""The events callback on its own: early stopping with patience, best adapter, stop requests, log copies."""

from __future__ import annotations

from pathlib import Path

from transformers import TrainerControl, TrainerState, TrainingArguments

from ftui.core.base import events
from ftui.engine.child import StopRequest
from ftui.engine.train.callback import BestTracker, EventsCallback


class FakeModel:
    def __init__(self):
        self.saved: list[str] = []

    def save_pretrained(self, path: str) -> None:
        Path(path).mkdir(parents=True)
        (Path(path) / "adapter_config.json").write_text(str(len(self.saved)))
        self.saved.append(path)


def _setup(tmp_path, patience=2, zero=True):
    stop = StopRequest(tmp_path)
    cb = EventsCallback(tmp_path / "events.jsonl", tmp_path, "cpu", stop, BestTracker(patience), tmp_path / "adapter")
    state = TrainerState()
    state.is_world_process_zero = zero
    state.max_steps = 100
    args = TrainingArguments(output_dir=str(tmp_path / "ckpt"), report_to="none", use_cpu=True)
    cb.on_train_begin(args, state, TrainerControl())
    return cb, state, args, stop


def _evs(tmp_path):
    return [e for e in events.read_events(tmp_path / "events.jsonl")[0]]


def test_early_stop_after_patience_keeps_the_best_adapter(tmp_path):
    cb, state, args, _ = _setup(tmp_path, patience=2)
    model = FakeModel()
    control = TrainerControl()
    for step, loss in [(10, 2.0), (20, 1.5), (30, 1.6), (40, 1.7)]:
        state.global_step = step
        cb.on_evaluate(args, state, control, metrics={"eval_loss": loss}, model=model)
        assert control.should_training_stop is (step == 40)
    assert control.should_save
    evs = _evs(tmp_path)
    assert [e["eval_loss"] for e in evs if e["type"] == "eval"] == [2.0, 1.5, 1.6, 1.7]
    [stop] = [e for e in evs if e["type"] == "early_stop"]
    assert stop["step"] == 40 and stop["best_step"] == 20 and stop["best_eval_loss"] == 1.5
    # Saved at each new best only; the folder holds the step-20 adapter.
    assert len(model.saved) == 2 and (tmp_path / "adapter" / "adapter_config.json").read_text() == "1"
    assert not list(tmp_path.glob(".adapter.*"))
    cb.on_train_end(args, state, control)
    assert cb.writer is None


def test_resumed_tracker_remembers_the_earlier_best(tmp_path):
    prior = [events.make("eval", step=10, eval_loss=1.0), events.make("eval", step=20, eval_loss=1.2)]
    tracker = BestTracker.from_events(prior, patience=2)
    assert (tracker.best_loss, tracker.best_step, tracker.bad) == (1.0, 10, 1)
    assert not tracker.update(30, 1.1) and tracker.exhausted


def test_stop_file_or_signal_requests_a_checkpointed_stop(tmp_path):
    cb, state, args, _stop = _setup(tmp_path)
    control = TrainerControl()
    state.global_step = 3
    cb.on_step_end(args, state, control)
    assert not control.should_training_stop
    (tmp_path / "stop").touch()
    cb.on_step_end(args, state, control)
    assert control.should_training_stop and control.should_save and cb.cancelled
    cb2, state2, args2, stop2 = _setup(tmp_path / "b")
    stop2.ask()
    control2 = TrainerControl()
    cb2.on_step_end(args2, state2, control2)
    assert control2.should_training_stop and control2.should_save


def test_log_events_copy_the_trainer_logs(tmp_path):
    cb, state, args, _ = _setup(tmp_path)
    logs = {"loss": 2.5, "learning_rate": 1e-4, "grad_norm": 0.5, "epoch": 0.25, "rewards/margins": 0.1}
    state.global_step = 1
    state.num_input_tokens_seen = 400
    cb.on_log(args, state, TrainerControl(), logs=logs)
    cb.on_log(args, state, TrainerControl(), logs={"train_runtime": 3.0})  # the summary is not a log event
    assert logs == {"loss": 2.5, "learning_rate": 1e-4, "grad_norm": 0.5, "epoch": 0.25, "rewards/margins": 0.1}
    [ev] = [e for e in _evs(tmp_path) if e["type"] == "log"]
    assert ev["step"] == 1 and ev["max_steps"] == 100 and ev["loss"] == 2.5 and ev["grad_norm"] == 0.5
    assert ev["tokens_per_s"] > 0 and ev["memory_mb"] > 0 and ev["reward_margin"] == 0.1
    cb.on_save(args, state, TrainerControl())
    assert _evs(tmp_path)[-1]["path"].endswith("checkpoint-1")


def test_only_world_process_zero_writes(tmp_path):
    cb, state, args, _ = _setup(tmp_path, zero=False)
    state.global_step = 5
    control = TrainerControl()
    cb.on_log(args, state, control, logs={"loss": 1.0})
    cb.on_evaluate(args, state, control, metrics={"eval_loss": 1.0}, model=FakeModel())
    assert not (tmp_path / "events.jsonl").exists() and not (tmp_path / "adapter").exists()
    assert cb.tracker.best_step == 5  # the decision state is still kept on every rank


class ScriptedProbes:
    """Probe results in order, as a ProbeRunner would grade them."""

    def __init__(self, results: list[dict]):
        self.results = list(results)

    def run(self, model) -> dict:
        return self.results.pop(0)


def _probe(cluster: int, anchors: int) -> dict:
    return {"cluster_passed": cluster, "cluster_total": 4, "anchors_passed": anchors, "anchors_total": 4}


def test_grpo_probes_every_n_steps_and_warn_when_reward_rises_as_they_fall(tmp_path):
    stop = StopRequest(tmp_path)
    probes = ScriptedProbes([_probe(1, 4), _probe(1, 4), _probe(0, 4)])
    cb = EventsCallback(
        tmp_path / "events.jsonl",
        tmp_path,
        "cpu",
        stop,
        BestTracker(0),
        tmp_path / "adapter",
        probes=probes,
        probe_every=2,
    )
    shown = [[{"id": "q1", "reward": 1.0, "answer": "OK", "reason": "matches"}]]
    cb.samples = lambda: shown.pop(0) if shown else []
    state = TrainerState()
    state.is_world_process_zero = True
    state.max_steps = 4
    args = TrainingArguments(output_dir=str(tmp_path / "ckpt"), report_to="none", use_cpu=True)
    control = TrainerControl()
    model = FakeModel()
    cb.on_train_begin(args, state, control, model=model)  # the base's baseline, before step 1
    for step, reward in [(1, 0.1), (2, 0.1), (3, 0.9), (4, 0.9)]:
        state.global_step = step
        cb.on_log(args, state, control, logs={"loss": 0.0, "reward": reward, "frac_reward_zero_std": 0.5})
        cb.on_step_end(args, state, control, model=model)
    evs = _evs(tmp_path)
    for e in evs:
        events.validate(e)
    assert [e["step"] for e in evs if e["type"] == "probe"] == [0, 2, 4]
    [warning] = [e for e in evs if e["type"] == "warning"]
    assert warning["reason"] == "validation_fell" and warning["step"] == 4
    assert [e["reward"] for e in evs if e["type"] == "log"] == [0.1, 0.1, 0.9, 0.9]
    [samples] = [e for e in evs if e["type"] == "samples"]
    assert samples["step"] == 1 and samples["samples"][0]["answer"] == "OK"
