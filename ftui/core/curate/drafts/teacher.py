"""Teachers (the workspace's own model or an OpenAI-compatible endpoint) and the prompts they get:
per cluster, the instruction and teacher-prompt template a person set (`<state>/drafts/prompts.json`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ftui.core.base.fsutil import atomic_write_json, read_json_file
from ftui.core.curate.drafts.store import DraftError, drafts_dir
from ftui.core.workspace.prompts import messages_for, user_text

if TYPE_CHECKING:
    from ftui.core.logs.items import Item
    from ftui.core.workspace.workspace import Workspace

# One chat message, as the decoder and an OpenAI-compatible endpoint take it.
Message = dict[str, str]

PROMPTS = "prompts.json"
LOCAL = "local"
DEFAULT_EXAMPLES = 10

DEFAULT_TEMPLATE = """\
Write the answer the assistant should have given to the request below.
{instruction}

The assistant's instructions were:
{system}

The request:
{user}

The assistant's answer, which failed:
{answer}

The expected answer, from the graded log:
{expected}

Reply with the corrected answer only."""
PLACEHOLDERS = ("instruction", "system", "user", "question", "evidence", "answer", "expected", "id", "label")


@dataclass(frozen=True)
class Teacher:
    """`local` (the workspace's own model) or an OpenAI-compatible endpoint."""

    kind: str = LOCAL
    model: str = ""
    base_url: str = ""
    api_key_env: str = "OPENAI_API_KEY"

    @property
    def name(self) -> str:
        if self.kind == LOCAL:
            return f"local:{self.model}"
        return f"endpoint:{self.base_url.rstrip('/')}:{self.model}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Teacher:
        return cls(**{k: str(v) for k, v in d.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class PromptSettings:
    """What a person set for one cluster: their instruction and the teacher prompt's template."""

    instruction: str = ""
    template: str = DEFAULT_TEMPLATE
    examples: int = DEFAULT_EXAMPLES
    teacher: dict[str, Any] = field(default_factory=dict)  # the last teacher used for this cluster; empty: local

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def teacher_for(self, ws: Workspace) -> Teacher:
        if not self.teacher or self.teacher.get("kind", LOCAL) == LOCAL:
            return Teacher(LOCAL, ws.model)
        return Teacher.from_dict(self.teacher)


def load_prompts(ws: Workspace) -> dict[str, PromptSettings]:
    path = drafts_dir(ws) / PROMPTS
    if not path.exists():
        return {}
    doc = read_json_file(path, "")
    try:
        return {k: PromptSettings(**v) for k, v in doc.items()}
    except TypeError as exc:
        raise DraftError(f"{path}: unreadable teacher prompt settings ({exc})") from None


def prompt_settings(ws: Workspace, label: str) -> PromptSettings:
    return load_prompts(ws).get(label, PromptSettings())


def save_prompt_settings(ws: Workspace, label: str, settings: PromptSettings) -> None:
    check_template(settings.template)
    doc = {k: v.to_dict() for k, v in load_prompts(ws).items()}
    doc[label] = settings.to_dict()
    atomic_write_json(drafts_dir(ws) / PROMPTS, doc)


def check_template(template: str) -> None:
    if not template.strip():
        raise DraftError("the teacher prompt template is empty")
    if "{user}" not in template and "{question}" not in template:
        raise DraftError("the teacher prompt template must hold {user} or {question}: the teacher needs the request")


def render(template: str, values: dict[str, str]) -> str:
    """Fill `{name}` for the known placeholders only; other braces (JSON in an instruction) stay."""
    out = template
    for name in PLACEHOLDERS:
        out = out.replace("{" + name + "}", values.get(name, ""))
    return out


def system_prompt(item: Item, ws: Workspace) -> str:
    """The system prompt the model answered under: the logged conversation's, else the item's, else the default."""
    logged = next((m["content"] for m in messages_for(item, ws.prompt) if m["role"] == "system"), None)
    return str(logged) if logged else item.system_prompt or ws.prompt.default_system


def teacher_prompt(item: Item, ws: Workspace, settings: PromptSettings, label: str | None = None) -> str:
    """`label`: the item's cluster, which the overlay may name differently from the log's label field."""
    return render(
        settings.template,
        {
            "instruction": settings.instruction,
            "system": system_prompt(item, ws),
            "user": user_text(item, ws.prompt),
            "question": item.question,
            "evidence": item.evidence_text or "",
            "answer": item.answer or "",
            "expected": item.expected if item.expected else "(none in the log)",
            "id": item.id,
            "label": label if label is not None else item.label or "",
        },
    ).strip()


def teacher_messages(
    item: Item,
    ws: Workspace,
    settings: PromptSettings,
    examples: list[tuple[Item, str]],
    *,
    label: str | None = None,
) -> list[Message]:
    """The chat the teacher answers: the item's system prompt, accepted corrections as worked examples, the item.

    Examples come first and in a fixed order, so every item of a cluster shares them as a prefix
    (the local decoder computes a shared prefix once per batch).
    """
    msgs: list[Message] = [{"role": "system", "content": system_prompt(item, ws)}]
    for ex, output in examples:
        msgs.append({"role": "user", "content": teacher_prompt(ex, ws, settings, label)})
        msgs.append({"role": "assistant", "content": output})
    msgs.append({"role": "user", "content": teacher_prompt(item, ws, settings, label)})
    return msgs


def prompt_hash(messages: list[Message]) -> str:
    return hashlib.sha256(json.dumps(messages, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]
