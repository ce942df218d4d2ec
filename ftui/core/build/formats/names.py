"""The dataset formats by name, their row kinds, and what reading a file gives back."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftui.core.base.errors import FtuiError

SFT = "sft"
PREFERENCE = "preference"

# name -> (row kind, one-line description)
FORMATS: dict[str, tuple[str, str]] = {
    "openai-chat": (SFT, "OpenAI chat fine-tuning JSONL: {messages}"),
    "openai-preference": (
        PREFERENCE,
        "OpenAI preference (DPO) JSONL: {input: {messages}, preferred_output, non_preferred_output}",
    ),
    "trl-messages": (SFT, "TRL conversational: {messages} (extra keys kept: id, cluster, kind)"),
    "trl-prompt-completion": (SFT, "TRL prompt/completion: {prompt, completion} as message lists or text"),
    "trl-preference": (PREFERENCE, "TRL preference: {prompt, chosen, rejected}"),
    "alpaca": (SFT, "LLaMA-Factory alpaca: {instruction, input, output, system, history} + dataset_info.json"),
    "sharegpt": (SFT, "LLaMA-Factory sharegpt: {conversations: [{from, value}], system} + dataset_info.json"),
    "alpaca-preference": (
        PREFERENCE,
        "LLaMA-Factory alpaca preference: {instruction, input, chosen, rejected, system}",
    ),
    "sharegpt-preference": (
        PREFERENCE,
        "LLaMA-Factory sharegpt preference: {conversations, chosen: {from, value}, rejected, system}",
    ),
}

LLAMA_FACTORY = ("alpaca", "sharegpt", "alpaca-preference", "sharegpt-preference")


class FormatError(FtuiError):
    pass


@dataclass(frozen=True)
class Problem:
    line: int
    kind: str
    message: str


@dataclass
class ReadResult:
    path: Path
    format: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    records: list[tuple[int, Any]] = field(default_factory=list)  # (line, raw object) as read

    @property
    def kind(self) -> str:
        return FORMATS[self.format][0]


def check_format_name(fmt: str) -> str:
    if fmt not in FORMATS:
        import difflib

        close = difflib.get_close_matches(fmt, list(FORMATS), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise FormatError(f"unknown format {fmt!r}{hint}; one of {', '.join(FORMATS)}")
    return fmt


def kind_of(fmt: str) -> str:
    return FORMATS[check_format_name(fmt)][0]
