"""The workspace: a folder with ftui.yaml, read into typed, validated settings.

Every error names the file, the line and (for an unknown key) the nearest valid key, because the
people who write these files fix them from a terminal, not a debugger.

Where a section's rules go: each section (Workspace, BuildConfig, TrainConfig, EvalConfig,
HostedConfig) checks its own values in its `__post_init__`, one `problems.require(ok, key, reason)`
per rule, beside its fields; a new field `dtype` of TrainConfig gets its line there, e.g.
`problems.require(self.dtype in DTYPES, "dtype", "must be auto, fp32 or bf16")`, and nowhere else.
A broken rule raises SettingError naming the key: the loader adds the file and line, the run form
the field's label, `ftui train` the flag. Overrides go through `dataclasses.replace(section, ...)`,
which runs the same rules, and the engine rebuilds a run's settings with `TrainConfig.from_dict`
(runs.train_config), which refuses a key the section does not have. Only what needs the file
itself (which keys were written) is checked by the loader.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Union

import yaml

from ftui.core.base.errors import ConfigError, FtuiError
from ftui.core.base.models import EMBEDDED
from ftui.core.base.paths import StatePaths
from ftui.core.logs.fields import Fields
from ftui.core.logs.passrule import PassRule, PassRuleConfig

CONFIG_NAME = "ftui.yaml"

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


class _Problems:
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
        raise SettingError(cls.SECTION, [(k, f"is not a setting{_nearest(k, valid)}") for k in unknown])
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
        problems = _Problems(self.SECTION)
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
        problems = _Problems(self.SECTION)
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
        problems = _Problems(self.SECTION)
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
        problems = _Problems(self.SECTION)
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
        problems = _Problems(self.SECTION)
        problems.require(self.dtype in DTYPES, "dtype", f"must be {', '.join(DTYPES[:-1])} or {DTYPES[-1]}")
        specs = [("grader", self.grader)] + [(f"by_label.{k}", v) for k, v in self.by_label.items()]
        specs += [(f"by_task.{k}", v) for k, v in self.by_task.items()]
        for where, spec in specs:
            kind = spec.get("kind")
            if kind not in GRADER_KINDS:
                problems.require(
                    False,
                    where,
                    f"names an unknown grader {kind!r}{_nearest(str(kind), GRADER_KINDS)}; one of {', '.join(GRADER_KINDS)}",
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


@dataclass(frozen=True)
class Workspace:
    root: Path
    config_path: Path
    # In ftui.yaml one path or a list of them (or globs, folders); once loaded, the first file.
    run_log: Path | list[str]
    benchmark: Path | None = None
    state_dir: Path = Path(".ftui")
    fields: Fields = field(default_factory=Fields)
    passing_grades: tuple[Any, ...] = ("correct", "acceptable")
    # Numbers, booleans, letters: `{at_least: 7}`, `{at_most: 0.2}`, `{values: [C]}` (replaces passing_grades).
    pass_rule: PassRuleConfig | None = None
    # An eval tool's own files (ftui/core/sources): lm_eval, promptfoo, inspect, openai_evals, mt_bench.
    source: str | None = None
    # Which of a tool's several grades, filters or sides is read: `{metric: bleu_acc}`, `{model: NAME}`.
    source_options: dict[str, Any] = field(default_factory=dict)
    candidate_threshold: int = 5
    # A cluster is a candidate only counting items that failed in at least this share of their runs.
    min_repeat_rate: float = 0.0
    # Every run log file, in run order (run_log may name several, a glob or a folder).
    run_logs: tuple[Path, ...] = ()
    model: str = EMBEDDED
    prompt: PromptConfig = field(default_factory=PromptConfig)
    build: BuildConfig = field(default_factory=BuildConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    ui: UiConfig = field(default_factory=UiConfig)
    hosted: HostedConfig | None = None

    SECTION: ClassVar[str] = ""

    def __post_init__(self) -> None:
        problems = _Problems(self.SECTION)
        bad_grades = [g for g in self.passing_grades if not isinstance(g, str)]
        if bad_grades:
            problems.require(False, "passing_grades", f"must be a list of text grades, not {bad_grades[0]!r}")
        rule = self.pass_rule
        if rule is not None:
            thresholds = rule.at_least is not None or rule.at_most is not None
            if rule.values is None and not thresholds:
                problems.require(False, "pass_rule", "needs at_least, at_most or values")
            problems.require(
                rule.values is None or not thresholds,
                "pass_rule",
                ": use a threshold (at_least/at_most) or values, not both",
            )
            problems.require(
                not any(isinstance(v, (list, dict)) or v is None for v in rule.values or ()),
                "pass_rule",
                ".values must be text, numbers or true/false",
            )
        problems.require(0 <= self.min_repeat_rate <= 1, "min_repeat_rate", "must be in [0, 1]")
        problems.require(self.candidate_threshold >= 1, "candidate_threshold", "must be >= 1")
        problems.raise_any()

    @property
    def state(self) -> StatePaths:
        return StatePaths(self.state_dir)

    @property
    def name(self) -> str:
        return self.root.name

    @functools.cached_property
    def rule(self) -> PassRule:
        from ftui.core.logs.sources import preset_rule

        cfg = self.pass_rule if self.pass_rule is not None else preset_rule(self.source)
        return PassRule.from_config(cfg, self.passing_grades)

    def is_passing(self, grade: Any) -> bool:
        """Whether a grade passes; takes the grade or an item (an item read from several runs
        passes only when every attempt passed)."""
        if hasattr(grade, "grade"):
            failures: int | None = getattr(grade, "failures", None)
            if failures is not None:
                return failures == 0
            grade = grade.grade
        return self.rule.passes(grade)

    @classmethod
    def load(cls, path: Path | str) -> Workspace:
        return load_workspace(path)


# Keys of the top-level mapping that are set from the file; root/config_path/run_logs are derived.
_DERIVED = {"root", "config_path", "run_logs"}


def find_config(path: Path | str) -> Path:
    p = Path(path).expanduser()
    if p.is_dir():
        cfg = p / CONFIG_NAME
        if not cfg.exists():
            raise ConfigError(cfg, None, f"no {CONFIG_NAME} in {p} (is this a workspace folder?)")
        return cfg
    if p.exists():
        return p
    raise ConfigError(p, None, "no such workspace folder or config file")


def load_workspace(path: Path | str) -> Workspace:
    cfg_path = find_config(path).resolve()
    try:
        text = cfg_path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(cfg_path, None, f"not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise ConfigError(cfg_path, None, exc.strerror or str(exc)) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(cfg_path, line, f"invalid YAML: {problem}") from None
    if node is None:
        raise ConfigError(cfg_path, 1, "empty config: at least `run_log:` is required")
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(cfg_path, node.start_mark.line + 1, "the top level must be a mapping")
    root = cfg_path.parent
    values = _convert_mapping(node, Workspace, cfg_path, "", skip=_DERIVED)
    if "run_log" not in values:
        raise ConfigError(cfg_path, 1, "missing required key `run_log` (path of the graded run log)")
    lines = {k.value: k.start_mark.line + 1 for k, _ in node.value}
    if values.get("source") is not None:
        from ftui.core.logs.sources import SOURCES

        if values["source"] not in SOURCES:
            raise ConfigError(
                cfg_path,
                lines.get("source"),
                f"unknown source {values['source']!r}{_nearest(values['source'], SOURCES)}; one of {', '.join(SOURCES)}",
            )
    from ftui.core.logs.logfiles import expand_run_logs

    values["run_logs"] = expand_run_logs(root, values["run_log"], values.get("source"), cfg_path, lines.get("run_log"))
    if values.get("source_options"):
        from ftui.core.logs.sources import check_options

        problem = check_options(values.get("source"), list(values["run_logs"]), values["source_options"])
        if problem:
            raise ConfigError(cfg_path, lines.get("source_options"), problem)
    values["run_log"] = values["run_logs"][0]
    for key in ("benchmark",):
        if values.get(key) is not None:
            p = (root / values[key]).resolve()
            if not p.is_file():
                raise ConfigError(cfg_path, lines.get(key), f"{key}: file not found: {p}")
            values[key] = p
    values["state_dir"] = (root / values.get("state_dir", ".ftui")).resolve()
    if "passing_grades" in values:
        values["passing_grades"] = tuple(values["passing_grades"])
    try:
        ws = Workspace(root=root, config_path=cfg_path, **values)
    except SettingError as exc:
        raise ConfigError(cfg_path, lines.get(exc.problems[0][0]), exc.first) from None
    if ws.pass_rule is not None and "passing_grades" in lines:
        raise ConfigError(cfg_path, lines.get("pass_rule"), "set either pass_rule or passing_grades, not both")
    accelerate_config = ws.train.accelerate_config
    if accelerate_config is not None and not (root / accelerate_config).is_file():
        raise ConfigError(cfg_path, lines.get("train"), f"train.accelerate_config: file not found: {accelerate_config}")
    forgetting = ws.eval.forgetting
    if forgetting is not None and forgetting.include_path is not None and not (root / forgetting.include_path).is_dir():
        raise ConfigError(
            cfg_path, lines.get("eval"), f"eval.forgetting.include_path: no such folder: {forgetting.include_path}"
        )
    return ws


def grader_spec(spec: Any) -> dict[str, Any]:
    """Normalise the short form `contains` to `{"kind": "contains"}`."""
    return {"kind": spec} if isinstance(spec, str) else dict(spec)


def _nearest(key: str, valid: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.5)
    return f" (did you mean `{close[0]}`?)" if close else ""


def _convert_mapping(
    node: yaml.Node, cls: type, path: Path, prefix: str, skip: typing.AbstractSet[str] = frozenset()
) -> dict[str, Any]:
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(path, node.start_mark.line + 1, f"`{prefix.rstrip('.') or 'top level'}` must be a mapping")
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in dataclasses.fields(cls) if f.name not in skip]
    out: dict[str, Any] = {}
    for knode, vnode in node.value:
        key = knode.value
        line = knode.start_mark.line + 1
        if not isinstance(key, str) or key not in valid:
            raise ConfigError(path, line, f"unknown key `{prefix}{key}`{_nearest(str(key), valid)}")
        if key in out:
            raise ConfigError(path, line, f"duplicate key `{prefix}{key}`")
        out[key] = _convert(vnode, hints[key], path, f"{prefix}{key}")
    return out


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def _convert(node: yaml.Node, tp: Any, path: Path, key: str) -> Any:
    line = node.start_mark.line + 1
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null" and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(node, arg, path, key)
            except ConfigError as exc:
                errors.append(exc)
        if len(errors) == 1:
            raise errors[0]
        names = " or ".join(_type_name(a) for a in args if a is not type(None))
        raise ConfigError(path, line, f"`{key}` must be {names}")
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        values = _convert_mapping(node, tp, path, key + ".")
        try:
            return tp(**values)
        except SettingError as exc:
            # The section's own rule: point at the key's line inside the section.
            first = exc.problems[0][0].split(".")[0]
            lines = {k.value: k.start_mark.line + 1 for k, _ in typing.cast(yaml.MappingNode, node).value}
            raise ConfigError(path, lines.get(first, line), exc.first) from None
        except TypeError as exc:
            missing = [
                f.name
                for f in dataclasses.fields(tp)
                if f.name not in values
                and f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING
            ]
            raise ConfigError(path, line, f"`{key}` is missing {', '.join(f'`{m}`' for m in missing) or exc}") from None
    value = _construct(node)
    if tp in (dict,) or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(path, line, f"`{key}` must be a mapping")
        return value
    if tp in (list, tuple) or origin in (list, tuple):
        if not isinstance(value, list):
            raise ConfigError(path, line, f"`{key}` must be a list")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(path, line, f"`{key}` must be true or false, not {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(path, line, f"`{key}` must be a whole number, not {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):
            # YAML 1.1 reads `1e-4` (no dot) as text; a number is what the user meant.
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(path, line, f"`{key}` must be a number, not {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(path, line, f"`{key}` must be text, not {value!r}")
        return value
    if tp is Path:
        if not isinstance(value, str):
            raise ConfigError(path, line, f"`{key}` must be a path")
        return value
    return value


def _construct(node: yaml.Node) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()
