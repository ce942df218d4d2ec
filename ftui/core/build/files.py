"""Which files of a build a training method reads: its training rows, the rows that choose its
checkpoint (validation), and the held-out rows that judge it afterwards. Every reader and writer of
a build's method files (the builder, runs, training, hosted jobs, the service, checks) asks here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SFT = "sft"
DPO = "dpo"
GRPO = "grpo"
METHODS = (SFT, DPO, GRPO)
# Rows that teach nothing but the KL term (train.anchor_kl), whatever the method.
PRESERVE = "preserve.jsonl"


@dataclass(frozen=True)
class MethodFiles:
    train: str
    validation: str
    held_out: str

    @property
    def names(self) -> tuple[str, str, str]:
        return self.train, self.validation, self.held_out


# SFT rows are conversations; DPO rows are preference pairs; GRPO rows are prompts with the grader
# that rewards their answers (a rewards build only); each in files of their own.
_FILES = {
    SFT: MethodFiles("train.jsonl", "validation.jsonl", "eval.jsonl"),
    DPO: MethodFiles("dpo_train.jsonl", "dpo_validation.jsonl", "dpo_eval.jsonl"),
    GRPO: MethodFiles("grpo_train.jsonl", "grpo_validation.jsonl", "grpo_eval.jsonl"),
}


def method_files(method: str) -> MethodFiles:
    try:
        return _FILES[method]
    except KeyError:
        raise ValueError(f"unknown training method {method!r} (one of: {', '.join(METHODS)})") from None


def stem(name: str) -> str:
    """A build file's name as `Build.rows` and the manifest's counts name it: `dpo_train`."""
    return name.removesuffix(".jsonl")


def train_file(build_dir: Path | str, method: str) -> Path:
    return Path(build_dir) / method_files(method).train


def eval_file(build_dir: Path | str, method: str) -> Path:
    """The rows training evaluates on (eval loss, early stopping, the best checkpoint): the build's
    validation rows. The held-out rows judge the run afterwards and must not choose its checkpoint;
    a build from before the validation split has none and evaluates on its held-out rows."""
    files = method_files(method)
    validation = Path(build_dir) / files.validation
    return validation if validation.exists() else Path(build_dir) / files.held_out


def row_files() -> tuple[str, ...]:
    """Every file of a build that holds training-side rows (for a question about all of them)."""
    return (*_FILES[SFT].names, *_FILES[DPO].names, *_FILES[GRPO].names, PRESERVE)
