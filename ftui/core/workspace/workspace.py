"""The workspace: a folder with ftui.yaml, read into typed, validated settings.

Every error names the file, the line and (for an unknown key) the nearest valid key, because the
people who write these files fix them from a terminal, not a debugger. The sections and their rules
are in ftui.core.workspace.settings; what needs the file itself (which keys were written, the files
its paths name, the eval tool its logs come from) is checked here.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from ftui.core.base.errors import ConfigError
from ftui.core.base.models import EMBEDDED
from ftui.core.base.paths import StatePaths
from ftui.core.logs.fields import Fields
from ftui.core.logs.passrule import PassRule, PassRuleConfig
from ftui.core.workspace.settings import (
    BuildConfig,
    EvalConfig,
    HostedConfig,
    Problems,
    PromptConfig,
    SettingError,
    TrainConfig,
    UiConfig,
    nearest,
)
from ftui.core.workspace.yaml_lines import convert_mapping

CONFIG_NAME = "ftui.yaml"


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
        problems = Problems(self.SECTION)
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
    values = convert_mapping(node, Workspace, cfg_path, "", skip=_DERIVED)
    if "run_log" not in values:
        raise ConfigError(cfg_path, 1, "missing required key `run_log` (path of the graded run log)")
    lines = {k.value: k.start_mark.line + 1 for k, _ in node.value}
    if values.get("source") is not None:
        from ftui.core.logs.sources import SOURCES

        if values["source"] not in SOURCES:
            raise ConfigError(
                cfg_path,
                lines.get("source"),
                f"unknown source {values['source']!r}{nearest(values['source'], SOURCES)}; one of {', '.join(SOURCES)}",
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
