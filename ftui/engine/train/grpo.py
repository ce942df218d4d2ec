"""GRPO: TRL's GRPOTrainer, each answer rewarded by its item's own grader.

Every row of a rewards build carries the grader spec and expected answer the evaluation grades
with (ftui.core.grade.grading: spec_for at build time, grade here), so a reward of 1 during
training is exactly a pass in the comparison. TRL hands a reward function the prompts, the sampled
completions and every other dataset column as keyword arguments, one value per completion.

Optional reward terms (train.reward_terms) join as further reward functions with their weights;
TRL logs each one's mean beside the total. The grader function also keeps the latest answers with
their rewards and the grader's reason, which the events callback writes as a `samples` event.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

from ftui.core.base.formatting import clip

# Answers kept for each `samples` event: one group's worth, so the strip shows how answers to one
# prompt differ in reward (the signal GRPO learns from).
SAMPLES_KEPT = 8
_ANSWER_CHARS = 400
_REASON_CHARS = 160


def completion_text(completion: Any) -> str:
    """A conversational completion ([{"role": "assistant", "content": ...}]) or plain text, as text."""
    if isinstance(completion, list):
        return "".join(str(m.get("content") or "") for m in completion if isinstance(m, dict))
    return str(completion or "")


class GraderReward:
    """Reward 1 when the item's grader passes the answer, else 0."""

    __name__ = "grader"

    def __init__(self, keep: int = SAMPLES_KEPT):
        self.latest: deque[dict[str, Any]] = deque(maxlen=keep)

    def __call__(self, prompts, completions, id, expected, grader, question, cluster, item_tools=None, **kwargs):
        from ftui.core.grade.grading import grade

        tools = item_tools or [""] * len(completions)
        rewards: list[float] = []
        per_cluster: dict[str, list[float]] = {}
        for i, completion in enumerate(completions):
            answer = completion_text(completion)
            g = grade(
                answer,
                expected[i] or None,
                json.loads(grader[i]),
                question=question[i],
                tools=json.loads(tools[i]) if tools[i] else None,
            )
            reward = 1.0 if g.passed else 0.0
            rewards.append(reward)
            per_cluster.setdefault(cluster[i], []).append(reward)
            self.latest.append(
                {
                    "id": id[i],
                    "cluster": cluster[i],
                    "reward": reward,
                    "reason": clip(g.reason, _REASON_CHARS),
                    "answer": clip(answer, _ANSWER_CHARS),
                }
            )
        log_metric = kwargs.get("log_metric")
        if log_metric is not None:
            for name, values in per_cluster.items():
                log_metric(f"cluster_reward/{name}", sum(values) / len(values))
        return rewards

    def take(self) -> list[dict[str, Any]]:
        """The answers kept since the last call (then forgotten, so each event shows new ones)."""
        out = list(self.latest)
        self.latest.clear()
        return out


class LengthReward:
    """1 up to `max_chars` characters, falling linearly to 0 at twice that: keeps answers short."""

    __name__ = "length"

    def __init__(self, max_chars: int = 400):
        self.max_chars = max(1, int(max_chars))

    def __call__(self, prompts, completions, **kwargs):
        out = []
        for c in completions:
            n = len(completion_text(c))
            out.append(1.0 if n <= self.max_chars else max(0.0, 2.0 - n / self.max_chars))
        return out


class JsonReward:
    """1 when the answer holds a JSON object (as the json_fields grader finds one), else 0."""

    __name__ = "json"

    def __call__(self, prompts, completions, **kwargs):
        from ftui.core.grade.grading import extract_json

        return [1.0 if isinstance(extract_json(completion_text(c))[0], dict) else 0.0 for c in completions]


def reward_functions(terms: dict[str, Any]) -> tuple[list, list[float]]:
    """(functions, weights): the grader (weight 1) then each configured term."""
    funcs: list = [GraderReward()]
    weights = [1.0]
    for name, setting in (terms or {}).items():
        opts = dict(setting) if isinstance(setting, dict) else {"weight": setting}
        weight = float(opts.pop("weight", 1.0))
        if name == "length":
            funcs.append(LengthReward(**opts))
        elif name == "json":
            funcs.append(JsonReward())
        weights.append(weight)
    return funcs, weights


def grpo_config(cfg, common: dict[str, Any]):
    """TRL's GRPOConfig from the run's settings and the arguments every method shares.

    A micro-batch is one prompt's group of num_generations answers; a step takes grad_accum of
    them (TRL requires the generation batch to hold whole groups). Evaluation is the probes' job
    (graded answers, as the comparison grades them), so TRL's own evaluation stays off.
    """
    from trl import GRPOConfig

    args = dict(common)
    args.pop("max_length", None)  # GRPO bounds the answers instead (max_completion_length)
    args.update(
        per_device_train_batch_size=cfg.num_generations,
        per_device_eval_batch_size=cfg.num_generations,
        eval_strategy="no",
    )
    _, weights = reward_functions(cfg.reward_terms)
    return GRPOConfig(
        num_generations=cfg.num_generations,
        max_completion_length=cfg.max_completion_length,
        temperature=cfg.temperature,
        beta=cfg.kl_beta,
        reward_weights=weights,
        # Answers to one prompt must differ for a group to carry signal: no repetition penalty, and
        # the full distribution (top_k 0, top_p 1, TRL's defaults) at the configured temperature.
        log_completions=False,
        **args,
    )


def grpo_trainer(cfg, common: dict[str, Any]):
    """The GRPOTrainer for a run; its grader reward function is `trainer.grader_reward`."""
    from trl import GRPOTrainer

    funcs, _ = reward_functions(cfg.reward_terms)
    common = dict(common)
    common["eval_dataset"] = None
    trainer = GRPOTrainer(reward_funcs=funcs, **common)
    trainer.grader_reward = funcs[0]  # type: ignore[attr-defined]
    return trainer
