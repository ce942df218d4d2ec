"""The settings of ftui.yaml: one frozen dataclass per section, each checking its own values.

Where a section's rules go: each section (Workspace, BuildConfig, TrainConfig, EvalConfig,
HostedConfig) checks its own values in its `__post_init__`, one `problems.require(ok, key, reason)`
per rule, beside its fields; a new field `dtype` of TrainConfig gets its line there, e.g.
`problems.require(self.dtype in DTYPES, "dtype", "must be auto, fp32 or bf16")`, and nowhere else.
A broken rule raises SettingError naming the key: the loader adds the file and line, the run form
the field's label, `ftui train` the flag. Overrides go through `dataclasses.replace(section, ...)`,
which runs the same rules, and the engine rebuilds a run's settings with `TrainConfig.from_dict`
(runs.train_config), which refuses a key the section does not have. Only what needs the file
itself (which keys were written) is checked by the loader (ftui.core.workspace.workspace).
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ftui.core.base.errors import FtuiError

GRADER_KINDS = ("exact", "normalized", "contains", "regex", "json_fields", "judge", "tool_call")
TRAIN_METHODS = ("sft", "dpo", "grpo")
DEVICES = ("auto", "cpu", "cuda")
SELECT_BY = ("eval_loss", "probes")
DTYPES = ("auto", "fp32", "bf16")
# Extra GRPO reward terms train.reward_terms may weigh in beside the item's grader.
REWARD_TERMS = ("length", "json")
# How the tool_call grader compares arguments (ftui.core.grade.toolgrade).
TOOL_CALL_ARGUMENTS = ("equal", "keys", "schema")


class SettingError(FtuiError, ValueError):
    """Values that break their section's rules: `problems` holds (key, reason) pairs, in field order.

    The message reads `section.key reason` for each; whoever knows where the value came from (a file
    and line, a form field, a flag) says so around it.
    """

    def __init__(self, section: str, problems: list[tuple[str, str]]):
        self.section = section
        self.problems = problems
        super().__init__("; ".join(self.describe(key, reason) for key, reason in problems))

    def describe(self, key: str, reason: str) -> str:
        """`build.heldout must be in [0, 1)`; a reason starting with `:` or `.` follows the key directly."""
        prefix = f"{self.section}." if self.section else ""
        return f"{prefix}{key}{'' if reason[:1] in ':.' else ' '}{reason}"

    @property
    def first(self) -> str:
        return self.describe(*self.problems[0])


class Problems:
    """The broken rules of one section, collected so that a form can show every bad field at once."""

    def __init__(self, section: str) -> None:
        self.section = section
        self.found: list[tuple[str, str]] = []

    def require(self, ok: bool, key: str, reason: str) -> None:
        if not ok:
            self.found.append((key, reason))

    def raise_any(self) -> None:
        if self.found:
            raise SettingError(self.section, self.found)


def _from_dict(cls: type[Any], values: dict[str, Any]) -> Any:
    """A section from a plain dict (a run's config.json); an unknown key is a SettingError naming it."""
    valid = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in values if k not in valid]
    if unknown:
        raise SettingError(cls.SECTION, [(k, f"is not a setting{nearest(k, valid)}") for k in unknown])
    return cls(**values)


@dataclass(frozen=True)
class PromptConfig:
    default_system: str = "You are a code assistant."
    user_template: str = "Evidence:\n{evidence}\n\nQuestion: {question}"


@dataclass(frozen=True)
class BuildConfig:
    anchor_ratio: float = 0.5
    heldout: float = 0.15
    # Share of all examples kept apart to choose the checkpoint (eval loss, early stopping, probes),
    # taken from the training side, so the held-out items that judge the run never took part in choosing it.
    validation: float = 0.1
    # Held-out items share no evidence snippet with training ones (whole groups go to one side).
    split_by_evidence: bool = True
    # The other clusters' failures join training as KL-only rows (used when train.anchor_kl > 0).
    preserve: bool = False
    seed: int = 0
    max_length: int = 1024
    near_duplicate_threshold: float = 0.9
    # A build for grader-rewarded training (GRPO): every failure of the target clusters becomes an
    # example whether or not it has a correction, its rows carrying the item's grader and expected
    # answer. A workspace whose train.method is grpo builds this way without the setting.
    rewards: bool = False

    SECTION: ClassVar[str] = "build"

    def __post_init__(self) -> None:
        problems = Problems(self.SECTION)
        problems.require(0 <= self.heldout < 1, "heldout", "must be in [0, 1)")
        problems.require(
            0 <= self.validation < 1 and self.heldout + self.validation < 1,
            "validation",
            "must be in [0, 1) and leave room for training",
        )
        problems.require(self.anchor_ratio >= 0, "anchor_ratio", "must be 0 or more")
        problems.raise_any()

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> BuildConfig:
        result: BuildConfig = _from_dict(cls, values)
        return result


@dataclass(frozen=True)
class TrainConfig:
    method: str = "sft"
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: str | list[Any] = "all-linear"
    qlora: bool = False
    learning_rate: float = 2e-4
    max_steps: int = 60
    epochs: float | None = None
    batch_size: int = 4
    grad_accum: int = 1
    eval_steps: int = 10
    save_steps: int = 20
    patience: int = 3
    max_length: int = 1024
    beta: float = 0.1
    # DPO: weight of a negative log-likelihood term on the chosen answers (RPO), which keeps the
    # preferred answers likely instead of only further from the rejected ones (0: plain DPO).
    rpo_alpha: float = 0.0
    anchor_kl: float = 0.0
    seed: int = 0
    device: str = "auto"
    # Precision of the frozen base weights: auto (bf16 where the CPU or GPU has native bf16), fp32 or
    # bf16; the LoRA weights and the optimizer stay fp32.
    dtype: str = "auto"
    log_steps: int = 1
    # Graded probes at each eval step: at most this many validation items (0: none).
    probes: int = 16
    # What picks the best checkpoint: "eval_loss", or "probes" (cluster items fixed net of anchors broken).
    select_by: str = "eval_loss"
    # Stop early when a probe finds this many anchors broken (0: never).
    stop_broken_anchors: int = 0
    # Data-parallel processes on this machine through `accelerate launch` (gloo on CPU, one per GPU
    # on CUDA); 0: one per visible GPU, or one on the CPU.
    processes: int = 0
    # An accelerate config file (DeepSpeed, FSDP, several machines), relative to the workspace.
    accelerate_config: str | None = None
    # GRPO: answers sampled per prompt (a group; its rewards are compared with each other), their
    # length in tokens and sampling temperature. A step takes grad_accum prompts, one group each.
    num_generations: int = 8
    max_completion_length: int = 64
    temperature: float = 1.0
    # GRPO: weight of KL(tuned || base) in the loss, the base being the model with its adapter off
    # (no second copy). 0 drops the term and its extra forward pass; a little keeps the answers the
    # base already gets right from drifting while the reward pulls.
    kl_beta: float = 0.02
    # GRPO: extra reward terms added to the grader's 0/1 with these weights: `length` (1 when the
    # answer is no longer than `max_chars`, falling to 0 at twice that), `json` (1 when the answer
    # holds a JSON object). {} or none: the grader alone.
    reward_terms: dict[str, Any] = field(default_factory=dict)

    SECTION: ClassVar[str] = "train"

    def __post_init__(self) -> None:
        problems = Problems(self.SECTION)
        problems.require(
            self.method in TRAIN_METHODS, "method", f"must be {', '.join(TRAIN_METHODS[:-1])} or {TRAIN_METHODS[-1]}"
        )
        problems.require(self.lora_r >= 1, "lora_r", "must be at least 1")
        problems.require(self.lora_alpha >= 1, "lora_alpha", "must be at least 1")
        problems.require(self.learning_rate > 0, "learning_rate", "must be above 0")
        problems.require(self.max_steps >= 1, "max_steps", "must be at least 1")
        problems.require(self.epochs is None or self.epochs > 0, "epochs", "must be above 0")
        problems.require(self.eval_steps >= 1, "eval_steps", "must be at least 1")
        problems.require(self.patience >= 0, "patience", "must be 0 or more")
        problems.require(self.anchor_kl >= 0, "anchor_kl", "must be 0 or more")
        problems.require(self.rpo_alpha >= 0, "rpo_alpha", "must be 0 or more")
        problems.require(self.probes >= 0, "probes", "must be 0 or more")
        problems.require(self.stop_broken_anchors >= 0, "stop_broken_anchors", "must be 0 or more")
        problems.require(self.device in DEVICES, "device", f"must be {', '.join(DEVICES[:-1])} or {DEVICES[-1]}")
        problems.require(self.select_by in SELECT_BY, "select_by", f"must be {' or '.join(SELECT_BY)}")
        problems.require(self.processes >= 0, "processes", "must be 0 or more")
        problems.require(self.dtype in DTYPES, "dtype", f"must be {', '.join(DTYPES[:-1])} or {DTYPES[-1]}")
        problems.require(self.num_generations >= 2, "num_generations", "must be at least 2 (a group compares answers)")
        problems.require(self.max_completion_length >= 1, "max_completion_length", "must be at least 1")
        problems.require(self.temperature > 0, "temperature", "must be above 0")
        problems.require(self.kl_beta >= 0, "kl_beta", "must be 0 or more")
        problems.require(
            isinstance(self.reward_terms, dict) and set(self.reward_terms) <= set(REWARD_TERMS),
            "reward_terms",
            f"takes only {', '.join(REWARD_TERMS)} (name: weight, or name: {{weight: W, ...}})",
        )
        problems.raise_any()

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        result: TrainConfig = _from_dict(cls, values)
        return result


@dataclass(frozen=True)
class EndpointConfig:
    base_url: str
    model: str
    api_key_env: str = "OPENAI_API_KEY"
    # Seconds one request may take: a server that loads its model on the first request needs long.
    timeout_s: float = 120.0
    # Request fields a server needs to decode as the evaluation does (llama.cpp's own sampling defaults
    # are not greedy); `ftui eval --served` sets them.
    extra_body: dict[str, Any] | None = None


@dataclass(frozen=True)
class JudgeConfig:
    base_url: str
    model: str
    api_key_env: str = "OPENAI_API_KEY"
    rubric: str = (
        "Decide whether the ANSWER is correct given the EXPECTED answer and the QUESTION. "
        'Reply with JSON: {"pass": true|false, "reason": "..."}'
    )


@dataclass(frozen=True)
class HostedConfig:
    """An OpenAI-compatible fine-tuning service: any provider by base_url, never the only way to train."""

    base_url: str
    model: str
    api_key_env: str = "OPENAI_API_KEY"
    n_epochs: int | None = None
    suffix: str | None = None

    SECTION: ClassVar[str] = "hosted"

    def __post_init__(self) -> None:
        problems = Problems(self.SECTION)
        problems.require(self.n_epochs is None or self.n_epochs >= 1, "n_epochs", "must be at least 1")
        problems.raise_any()


@dataclass(frozen=True)
class ForgettingConfig:
    """General tasks through lm-evaluation-harness, base vs fine-tuned: what the benchmark cannot see."""

    # lm-eval task names (their data must be in the datasets cache: nothing is downloaded) or the
    # names of local tasks in include_path.
    tasks: list[Any] = field(default_factory=list)
    # A folder of lm-eval task YAMLs (local JSON/JSONL data, relative to each YAML), from the workspace.
    include_path: str | None = None
    # Documents per task: a check on every run has to stay a fraction of the training time.
    limit: int | None = 50
    # A task whose score drops by more than this (0.05 = 5 points) is flagged and the verdict says so.
    max_drop: float = 0.05
    batch_size: int = 8

    SECTION: ClassVar[str] = "eval.forgetting"

    def __post_init__(self) -> None:
        problems = Problems(self.SECTION)
        problems.require(
            all(isinstance(t, str) and t.strip() for t in self.tasks), "tasks", "must be a list of task names"
        )
        problems.require(0 <= self.max_drop <= 1, "max_drop", "must be in [0, 1]")
        problems.require(self.limit is None or self.limit >= 1, "limit", "must be at least 1")
        problems.require(self.batch_size >= 1, "batch_size", "must be at least 1")
        problems.raise_any()


@dataclass(frozen=True)
class EvalConfig:
    grader: str | dict[str, Any] = "contains"
    by_label: dict[str, Any] = field(default_factory=dict)
    by_task: dict[str, Any] = field(default_factory=dict)
    max_new_tokens: int = 128
    # Rows decoded together: on a CPU a step for 16 rows costs well under twice a step for 1.
    batch_size: int = 16
    judge: JudgeConfig | None = None
    base_endpoint: EndpointConfig | None = None
    tuned_endpoint: EndpointConfig | None = None
    # Re-ask each item the base passes this many times with sampling: a pass that does not hold
    # every time is unstable, and a regression on it shows as flaky (0: off).
    flaky_k: int = 0
    flaky_temperature: float = 0.7
    # The ship gate (and the verdict's "any regressions?") leave flaky regressions out.
    gate_ignores_flaky: bool = False
    # The prompt rung: the base model given this many of the cluster's corrections as in-context
    # examples, graded like the other sides (0: off).
    fewshot_k: int = 0
    # Precision of the local model's weights while answering: auto (bf16 on native bf16 hardware), fp32, bf16.
    dtype: str = "auto"
    # The forgetting check (`ftui forgetting RUN`); off without it.
    forgetting: ForgettingConfig | None = None

    SECTION: ClassVar[str] = "eval"

    def __post_init__(self) -> None:
        # The short form `contains` stands for `{"kind": "contains"}`; readers see the long form only.
        object.__setattr__(self, "grader", grader_spec(self.grader))
        object.__setattr__(self, "by_label", {k: grader_spec(v) for k, v in self.by_label.items()})
        object.__setattr__(self, "by_task", {k: grader_spec(v) for k, v in self.by_task.items()})
        problems = Problems(self.SECTION)
        problems.require(self.dtype in DTYPES, "dtype", f"must be {', '.join(DTYPES[:-1])} or {DTYPES[-1]}")
        specs = [("grader", self.grader)] + [(f"by_label.{k}", v) for k, v in self.by_label.items()]
        specs += [(f"by_task.{k}", v) for k, v in self.by_task.items()]
        for where, spec in specs:
            kind = spec.get("kind")
            if kind not in GRADER_KINDS:
                problems.require(
                    False,
                    where,
                    f"names an unknown grader {kind!r}{nearest(str(kind), GRADER_KINDS)}; one of {', '.join(GRADER_KINDS)}",
                )
            elif kind == "judge":
                problems.require(
                    self.judge is not None, where, "uses the judge grader, which needs an `eval.judge` section"
                )
            elif kind == "tool_call":
                problems.require(
                    spec.get("arguments", "equal") in TOOL_CALL_ARGUMENTS,
                    where,
                    f"tool_call arguments must be {', '.join(TOOL_CALL_ARGUMENTS[:-1])} or {TOOL_CALL_ARGUMENTS[-1]}",
                )
        problems.raise_any()

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> EvalConfig:
        """Endpoints and the judge come back as their sections (a config.json holds them as dicts)."""
        values = dict(values)
        for key, section in (
            ("judge", JudgeConfig),
            ("base_endpoint", EndpointConfig),
            ("tuned_endpoint", EndpointConfig),
            ("forgetting", ForgettingConfig),
        ):
            if isinstance(values.get(key), dict):
                values[key] = section(**values[key])
        result: EvalConfig = _from_dict(cls, values)
        return result


@dataclass(frozen=True)
class UiConfig:
    theme: str = "textual-dark"


def grader_spec(spec: Any) -> dict[str, Any]:
    """Normalise the short form `contains` to `{"kind": "contains"}`."""
    return {"kind": spec} if isinstance(spec, str) else dict(spec)


def nearest(key: str, valid: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.5)
    return f" (did you mean `{close[0]}`?)" if close else ""
