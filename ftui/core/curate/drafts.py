"""Drafted corrections: a teacher writes them, the grader checks them, a person accepts them.

Drafts live in their own store (`<state>/drafts/`), never in the corrections store that builds
read: a draft reaches training only through `accept`, which saves it as an ordinary correction and
records the decision here. Each entry keeps where the text came from (teacher, prompt hash, time),
so a postmortem can say how many training targets were drafted and how many a person edited.

Layout of `<state>/drafts/`:
- `journal.jsonl`: one entry a line, the last per item id wins (a draft, then its decision);
- `prompts.json`: per cluster, the instruction and teacher-prompt template a person set;
- `jobs/JOB/`: one drafting job (config.json, items.jsonl, events.jsonl, pid, draft.log).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftui.core.base import jobs
from ftui.core.base.errors import FtuiError
from ftui.core.base.fsutil import atomic_write_json, atomic_write_jsonl, fsync_dir, read_json_file
from ftui.core.base.run_dirs import new_run_dir
from ftui.core.curate.corrections import CorrectionStore, answer_hash, now_iso
from ftui.core.grade.grading import spec_for
from ftui.core.workspace.prompts import messages_for, user_text

if TYPE_CHECKING:
    from ftui.core.curate.clusters import Cluster
    from ftui.core.curate.corrections import Correction
    from ftui.core.logs.runlog import Item
    from ftui.core.workspace.workspace import Workspace

# One chat message, as the decoder and an OpenAI-compatible endpoint take it.
Message = dict[str, str]

DRAFTS = "drafts"
JOURNAL = "journal.jsonl"
PROMPTS = "prompts.json"
JOBS = "jobs"
CONFIG = "config.json"
ITEMS = "items.jsonl"
EVENTS = "events.jsonl"
LOG = "draft.log"
ANSWER_CACHE = "draft_answers.jsonl"

# A draft waits for a person ("draft"); the person accepts it as is, accepts it after editing, or
# rejects it. Only the first two ever become corrections.
STATUSES = ("draft", "accepted", "edited", "rejected")
DECIDED = ("accepted", "edited", "rejected")

LOCAL = "local"
DEFAULT_EXAMPLES = 10
DEFAULT_CONCURRENCY = 4
DEFAULT_MAX_NEW_TOKENS = 128
# Rows the local teacher decodes at once. Few-shot prompts run to thousands of tokens, and each row's
# KV cache grows with them: 16 rows of 3,000 tokens took SmolLM2-135M past 8 GB on CPU.
DEFAULT_BATCH_SIZE = 8

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


class DraftError(FtuiError):
    """A draft that cannot be made or decided; str() says why."""


def drafts_dir(ws: Workspace) -> Path:
    return Path(ws.state.root) / DRAFTS


# ---------------------------------------------------------------------------------------------
# The store


@dataclass(frozen=True)
class Draft:
    id: str
    cluster: str
    output: str
    passed: bool
    reason: str
    grader: str
    teacher: str
    prompt_hash: str
    created: str
    job: str = ""
    original_hash: str = ""
    status: str = "draft"
    decided: str = ""
    final_output: str | None = None  # what was accepted, when a person edited the draft
    # Why the grader's pass cannot be trusted ("" when it can): such a draft is not counted as passing.
    flag: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Draft:
        if d.get("status", "draft") not in STATUSES:
            raise ValueError(f"unknown status {d.get('status')!r}")
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in names})

    @property
    def pending(self) -> bool:
        return self.status == "draft"

    @property
    def passes(self) -> bool:
        """Passed its grader, and not by copying (see `suspect`)."""
        return self.passed and not self.flag


def _norm(text: str) -> str:
    return " ".join(str(text).split()).casefold()


def suspect(output: str, item: dict[str, Any]) -> str:
    """Why a draft's grade cannot be trusted, "" when it can.

    A draft that repeats the original (failing) answer, or that holds the expected answer its own
    prompt showed inside other text, passes a `contains` grader without being right: the words
    were copied, not produced.
    """
    out = _norm(output)
    if item.get("original") and out == _norm(item["original"]):
        return "repeats the original answer"
    expected = _norm(item.get("expected") or "")
    prompt = _norm((item.get("messages") or [{}])[-1].get("content", ""))
    if expected and expected in prompt and expected in out and out != expected:
        return "holds the expected answer its prompt showed, inside other text"
    return ""


def teacher_warning(ws: Workspace, teacher: Teacher) -> str:
    """A warning when the teacher is the very model being fixed ("" otherwise): it drafts the same
    failures it made, and a grader pass is then mostly the prompt's doing."""
    if teacher.kind == LOCAL and (teacher.model or ws.model) == ws.model:
        return f"the teacher {teacher.name} is the model being fixed: its drafts repeat its failures"
    if teacher.model and teacher.model.rsplit("/", 1)[-1] == str(ws.model).rsplit("/", 1)[-1]:
        return f"the teacher {teacher.name} looks like the model being fixed ({ws.model})"
    return ""


class DraftStore:
    """The journal of drafts and decisions; safe with the drafting child and the workbench writing at once.

    Every entry is one write() of one line with O_APPEND, fsynced: writers never interleave, and a
    finished draft is on disk before the child moves on. A torn last line (a crash mid-write) is
    skipped by readers and sealed off by the next writer.
    """

    def __init__(self, ws_or_dir: Any):
        self.dir = Path(ws_or_dir) if isinstance(ws_or_dir, (str, Path)) else drafts_dir(ws_or_dir)
        self.path = self.dir / JOURNAL
        self._key: tuple[int, int, int] | None = None
        self._data: dict[str, Draft] = {}
        self.problems: list[str] = []

    def all(self) -> dict[str, Draft]:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return {}
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        if key != self._key:
            self._data, self.problems = self._read()
            self._key = key
        return dict(self._data)

    def get(self, item_id: str) -> Draft | None:
        return self.all().get(str(item_id))

    def _read(self) -> tuple[dict[str, Draft], list[str]]:
        data: dict[str, Draft] = {}
        problems: list[str] = []
        with open(self.path, "rb") as fh:
            raw = fh.read()
        lines = raw.split(b"\n")
        if not raw.endswith(b"\n"):
            lines = lines[:-1]  # still being written, or torn by a crash
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                d = Draft.from_dict(json.loads(line))
            except (ValueError, TypeError) as exc:
                problems.append(f"{self.path}:{n}: skipped unreadable entry ({exc})")
                continue
            data[d.id] = d
        return data, problems

    def append(self, drafts: Iterable[Draft]) -> None:
        data = "".join(json.dumps(d.to_dict(), ensure_ascii=False) + "\n" for d in drafts).encode("utf-8")
        if not data:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data  # a writer died mid-line: start this entry on its own line
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            fsync_dir(self.dir)

    def decide(self, drafts: Iterable[Draft], status: str, final_output: str | None = None) -> list[Draft]:
        if status not in DECIDED:
            raise DraftError(f"unknown decision {status!r}; one of {', '.join(DECIDED)}")
        out = [replace(d, status=status, decided=now_iso(), final_output=final_output) for d in drafts]
        self.append(out)
        return out


# ---------------------------------------------------------------------------------------------
# Teachers and their prompts


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


# ---------------------------------------------------------------------------------------------
# Planning and launching a drafting job


@dataclass
class DraftPlan:
    label: str
    teacher: Teacher
    settings: PromptSettings
    items: list[dict[str, Any]]
    examples: list[str]
    skipped: dict[str, int] = field(default_factory=dict)


def examples_for(cluster: Cluster, corrections: dict[str, Correction], limit: int) -> list[tuple[Item, str]]:
    out: list[tuple[Item, str]] = []
    for it in cluster.items:
        c = corrections.get(it.id)
        if c is not None and c.status == "corrected" and len(out) < limit:
            out.append((it, c.output))
    return out


def plan_drafts(
    ws: Workspace,
    cluster: Cluster,
    teacher: Teacher,
    settings: PromptSettings | None = None,
    *,
    ids: Iterable[str] | None = None,
    redraft: bool = False,
) -> DraftPlan:
    """Which items of `cluster` to draft, with the exact chat each one's teacher will see.

    Items that already have a correction are left alone (their examples teach the others); so are
    items whose pending or decided draft came from this very prompt, unless `redraft`.
    """
    settings = settings or prompt_settings(ws, cluster.label)
    check_template(settings.template)
    corrections = CorrectionStore(ws).all()
    drafts = DraftStore(ws).all()
    examples = examples_for(cluster, corrections, max(0, settings.examples))
    wanted = None if ids is None else {str(i) for i in ids}
    if wanted is not None:
        unknown = wanted - {it.id for it in cluster.items}
        if unknown:
            raise DraftError(f"not in cluster {cluster.label}: {', '.join(sorted(unknown)[:5])}")
    items: list[dict[str, Any]] = []
    skipped = {"corrected": 0, "already_drafted": 0}
    for it in cluster.items:
        if wanted is not None and it.id not in wanted:
            continue
        c = corrections.get(it.id)
        if c is not None and c.status in ("corrected", "skipped") and wanted is None:
            skipped["corrected"] += 1
            continue
        msgs = teacher_messages(it, ws, settings, examples, label=cluster.label)
        h = prompt_hash(msgs)
        d = drafts.get(it.id)
        if d is not None and d.prompt_hash == h and d.teacher == teacher.name and not redraft:
            skipped["already_drafted"] += 1
            continue
        items.append(
            {
                "id": it.id,
                "cluster": cluster.label,
                "question": it.question,
                "expected": it.expected,
                "grader": spec_for(ws, it),
                "messages": msgs,
                "prompt_hash": h,
                "original_hash": answer_hash(it.answer),
                "original": it.answer,
            }
        )
    return DraftPlan(cluster.label, teacher, settings, items, [ex.id for ex, _ in examples], skipped)


def _job_kind(label: str) -> str:
    """The cluster's label as the tail of a job id: `<UTC time>-<label>[-N]`, like a run's."""
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in label)[:40]


def write_job(
    ws: Workspace, plan: DraftPlan, *, concurrency: int, max_new_tokens: int, batch_size: int | None = None
) -> Path:
    if not plan.items:
        raise DraftError(f"nothing to draft in {plan.label}: every item has a correction or a draft from this prompt")
    d = new_run_dir(drafts_dir(ws) / JOBS, _job_kind(plan.label))
    job = d.name
    ev = ws.eval
    config = {
        "schema": 1,
        "job": job,
        "created": now_iso(),
        "workspace": str(ws.root),
        "cluster": plan.label,
        "teacher": plan.teacher.to_dict(),
        "teacher_name": plan.teacher.name,
        "settings": plan.settings.to_dict(),
        "examples": plan.examples,
        "concurrency": max(1, int(concurrency)),
        "max_new_tokens": max(1, int(max_new_tokens)),
        "batch_size": int(batch_size or DEFAULT_BATCH_SIZE),
        "device": ws.train.device,
        "drafts_dir": str(drafts_dir(ws)),
        "cache_dir": str(ws.state.cache),
        "judge": asdict(ev.judge) if ev.judge is not None else None,
    }
    atomic_write_jsonl(d / ITEMS, plan.items)
    atomic_write_json(d / CONFIG, config)
    return d


def start_job(job_dir: Path) -> int:
    with contextlib.suppress(FileNotFoundError):
        (Path(job_dir) / "stop").unlink()
    return jobs.start_child(["draft", str(Path(job_dir).resolve())], Path(job_dir), LOG)


def start_drafting(
    ws: Workspace, cluster: Cluster, teacher: Teacher, settings: PromptSettings | None = None, **kw: Any
) -> tuple[Path, DraftPlan]:
    running = [j for j in list_jobs(ws) if j["state"] == "running" and j["cluster"] == cluster.label]
    if running:
        raise DraftError(f"{running[0]['dir']}: drafting of {cluster.label} is already running")
    plan_kw = {k: kw.pop(k) for k in ("ids", "redraft") if k in kw}
    plan = plan_drafts(ws, cluster, teacher, settings, **plan_kw)
    job_dir = write_job(
        ws,
        plan,
        concurrency=kw.get("concurrency", DEFAULT_CONCURRENCY),
        max_new_tokens=kw.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS),
        batch_size=kw.get("batch_size"),
    )
    start_job(job_dir)
    return job_dir, plan


def resume_job(ws: Workspace, ref: str) -> Path:
    job_dir = find_job(ws, ref)
    st = jobs.job_state(job_dir)
    if st.state == "running":
        raise DraftError(f"{job_dir}: drafting job {job_dir.name} is still running (pid {st.pid})")
    if st.state == "finished":
        raise DraftError(f"{job_dir}: drafting job {job_dir.name} has finished; there is nothing to resume")
    jobs.mark_resume(job_dir)
    start_job(job_dir)
    return job_dir


# ---------------------------------------------------------------------------------------------
# Following jobs


def list_jobs(ws: Workspace) -> list[dict[str, Any]]:
    """Every drafting job, newest first, with its state and progress."""
    root = drafts_dir(ws) / JOBS
    if not root.is_dir():
        return []
    out: list[dict[str, Any]] = []
    for d in sorted((p for p in root.iterdir() if (p / CONFIG).is_file()), reverse=True):
        try:
            cfg = json.loads((d / CONFIG).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        st = jobs.job_state(d)
        prog = st.progress.get("all", {})
        out.append(
            {
                "job": d.name,
                "dir": str(d),
                "cluster": cfg.get("cluster"),
                "teacher": cfg.get("teacher_name"),
                "state": st.state,
                "done": prog.get("done", 0),
                "total": prog.get("total", st.items),
                "passed": prog.get("passed", 0),
                "error": st.error,
                "message": st.message,
            }
        )
    return out


def find_job(ws: Workspace, ref: str) -> Path:
    jobs = drafts_dir(ws) / JOBS
    p = Path(ref).expanduser()
    if (p / CONFIG).is_file():
        return p.resolve()
    if ref in ("latest", "last"):
        found = list_jobs(ws)
        if not found:
            raise DraftError(f"{jobs}: no drafting jobs yet")
        return Path(found[0]["dir"])
    matches = sorted(d for d in jobs.glob(f"{ref}*") if (d / CONFIG).is_file()) if jobs.is_dir() else []
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise DraftError(f"{jobs}: job id {ref!r} is ambiguous: {', '.join(m.name for m in matches[:5])}")
    raise DraftError(f"{jobs}: no drafting job {ref!r}")


def stop_job(job_dir: Path | str) -> bool:
    return jobs.request_stop(Path(job_dir))


# ---------------------------------------------------------------------------------------------
# A person decides


def _pending(store: DraftStore, ids: Iterable[str]) -> list[Draft]:
    drafts = store.all()
    out = []
    for i in ids:
        d = drafts.get(str(i))
        if d is None:
            raise DraftError(f"{store.path}: no draft for {i!r}")
        out.append(d)
    return out


def accept(ws: Workspace, items_by_id: dict[str, Item], ids: Iterable[str], *, text: str | None = None) -> list[Draft]:
    """Save drafts as corrections (a person's edited `text` for a single id), then record the decision.

    The correction is written first: a crash in between leaves an accepted correction whose draft
    still reads as waiting, never a decision without its correction.
    """
    store = DraftStore(ws)
    drafts = _pending(store, ids)
    if text is not None and len(drafts) != 1:
        raise DraftError("an edited text can replace one draft at a time")
    missing = [d.id for d in drafts if d.id not in items_by_id]
    if missing:
        raise DraftError(f"{ws.run_log}: drafted ids no longer in the run log: {', '.join(missing[:5])}")
    outputs = [text if text is not None else d.output for d in drafts]
    empty = [d.id for d, o in zip(drafts, outputs, strict=True) if not o.strip()]
    if empty:
        raise DraftError(f"empty draft for {', '.join(empty[:5])}: edit it or reject it")
    CorrectionStore(ws).save_many((items_by_id[d.id], o, "corrected") for d, o in zip(drafts, outputs, strict=True))
    if text is not None and text != drafts[0].output:
        return store.decide(drafts, "edited", final_output=text)
    return store.decide(drafts, "accepted")


def mark_edited(ws: Workspace, item_id: str, text: str) -> Draft | None:
    """A person saved their own text for an item that had a draft: the draft counts as edited."""
    store = DraftStore(ws)
    d = store.get(item_id)
    if d is None or d.status == "rejected" or (d.status == "edited" and d.final_output == text):
        return None
    if text == d.output and d.status == "accepted":
        return None
    status = "accepted" if text == d.output else "edited"
    return store.decide([d], status, final_output=None if status == "accepted" else text)[0]


def reject(ws: Workspace, ids: Iterable[str]) -> list[Draft]:
    store = DraftStore(ws)
    return store.decide(_pending(store, ids), "rejected")


def passing_pending(ws: Workspace, cluster: Cluster) -> list[Draft]:
    """The drafts `accept all` takes: waiting, passing their grader, for items still without a correction."""
    drafts = DraftStore(ws).all()
    corrections = CorrectionStore(ws).all()
    out = []
    for it in cluster.items:
        d = drafts.get(it.id)
        if d is not None and d.pending and d.passes and it.id not in corrections:
            out.append(d)
    return out


def cluster_counts(drafts: dict[str, Draft], cluster: Cluster) -> dict[str, int]:
    out = {s: 0 for s in STATUSES}
    out["passing"] = 0
    for it in cluster.items:
        d = drafts.get(it.id)
        if d is not None:
            out[d.status] += 1
            out["passing"] += d.pending and d.passes
    return out


def provenance(ws: Workspace, ids: Iterable[str]) -> dict[str, Any]:
    """For the postmortem: of these training ids, how many corrections were drafted, accepted, edited, by whom."""
    drafts = DraftStore(ws).all()
    used = [drafts[i] for i in ids if i in drafts and drafts[i].status in ("accepted", "edited")]
    teachers: dict[str, int] = {}
    for d in used:
        teachers[d.teacher] = teachers.get(d.teacher, 0) + 1
    return {
        "drafted": len(used),
        "accepted_as_drafted": sum(d.status == "accepted" for d in used),
        "edited": sum(d.status == "edited" for d in used),
        "teachers": teachers,
        "prompt_hashes": sorted({d.prompt_hash for d in used}),
    }
