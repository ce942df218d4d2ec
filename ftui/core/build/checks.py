"""Pre-flight checks on a dataset: format errors, quality, token lengths, duplicates, leakage, cost.

Everything here is found before training, where it is cheap to fix. Each finding names one example
(`file:line` or an id). Errors would break or invalidate training and make `ftui check` exit 1;
warnings are worth reading but do not block.
"""

from __future__ import annotations

import re
import time
import zlib
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ftui.core.base import toolcalls
from ftui.core.build import formats
from ftui.core.build.toolrows import call_findings
from ftui.core.workspace.workspace import PromptConfig

if TYPE_CHECKING:
    from ftui.core.workspace.workspace import Workspace

ERROR, WARNING = "error", "warning"

# OpenAI's data-prep rules (roles and message keys it accepts), widened to today's tool messages.
KNOWN_ROLES = {"system", "developer", "user", "assistant", "function", "tool"}
KNOWN_MESSAGE_KEYS = {"role", "content", "name", "function_call", "weight", "tool_calls", "tool_call_id"}

# OpenAI's hosted-job defaults for the epoch estimate.
TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25
DEFAULT_CONTEXT_LIMIT = 16_385

# Candidate pairs examined per example when looking for near duplicates: bounds the worst case
# (thousands of templated examples all just under the threshold) without missing real duplicates,
# which share many LSH bands and come up first.
_MAX_CANDIDATES = 50
_MAX_BUCKET = 200

# Two near-identical prompts are only a duplicate or a leak when their questions are about the
# same thing too: word overlap of the question (and answer) parts at least this high.
QUESTION_GATE = 0.5


@dataclass(frozen=True)
class QualityLimits:
    """The seed guide's example-quality thresholds (characters, and a unique-word ratio)."""

    instruction_min_chars: int = 10
    instruction_max_chars: int = 1000
    output_min_chars: int = 5
    repetition_min_words: int = 10
    repetition_min_unique_ratio: float = 0.3


@dataclass(frozen=True)
class Finding:
    level: str
    kind: str
    where: str
    message: str
    id: str | None = None

    def __str__(self) -> str:
        return f"{self.where}: {self.level}: {self.message} [{self.kind}]"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# A repeated finding's text line names this many of its places; --all (and --json) give every one.
SHOWN_PLACES = 3


@dataclass(frozen=True)
class FindingGroup:
    """The findings of one level and kind: one line of text however often the kind repeats."""

    level: str
    kind: str
    findings: tuple[Finding, ...]

    @property
    def count(self) -> int:
        return len(self.findings)

    @property
    def message(self) -> str:
        first = self.findings[0].message
        return first if all(f.message == first for f in self.findings) else f"e.g. {first}"

    def places(self, shown: int = SHOWN_PLACES) -> str:
        """The first `shown` places, "file:2, 5, 9 and 12 more" when they are lines of one file."""
        wheres = [f.where for f in self.findings[:shown]]
        files = {w.rpartition(":")[0] for w in wheres}
        if len(files) == 1 and all(w.rpartition(":")[2].isdigit() for w in wheres) and files != {""}:
            wheres = [wheres[0]] + [w.rpartition(":")[2] for w in wheres[1:]]
        more = self.count - shown
        return ", ".join(wheres) + (f" and {more} more" if more > 0 else "")

    def line(self) -> str:
        if self.count == 1:
            return str(self.findings[0])
        return f"{self.level}: {self.message} [{self.kind}] ×{self.count}: {self.places()}"


def group_findings(findings: Iterable[Finding]) -> list[FindingGroup]:
    """Findings grouped by level and kind, in the order each group first appears."""
    groups: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        groups.setdefault((f.level, f.kind), []).append(f)
    return [FindingGroup(level, kind, tuple(fs)) for (level, kind), fs in groups.items()]


@dataclass
class CheckReport:
    source: str
    format: str
    examples: int
    findings: list[Finding] = field(default_factory=list)
    tokens: dict[str, Any] | None = None
    hosted: dict[str, Any] | None = None
    model: str | None = None
    seconds: float = 0.0

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors

    def by_kind(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.findings:
            out[f.kind] = out.get(f.kind, 0) + 1
        return dict(sorted(out.items()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "format": self.format,
            "examples": self.examples,
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "by_kind": self.by_kind(),
            "findings": [f.to_dict() for f in self.findings],
            "tokens": self.tokens,
            "hosted": self.hosted,
            "model": self.model,
            "seconds": round(self.seconds, 3),
        }

    def text(self, every_finding: bool = False) -> str:
        """The report for a terminal; a finding that repeats is one line unless `every_finding`."""
        lines = [f"{self.source}: {self.examples} examples ({self.format})"]
        t = self.tokens
        if t and t.get("count"):
            lines.append(
                f"tokens ({self.model}): min {t['min']}, mean {t['mean']:.1f}, max {t['max']}; "
                f"{len(t['truncated'])} over max length {t['max_length']}"
            )
            peak = max(b["count"] for b in t["histogram"]) or 1
            for b in t["histogram"]:
                bar = "#" * round(30 * b["count"] / peak)
                lines.append(f"  {b['lo']:>6}-{b['hi']:<6} {b['count']:>6} {bar}")
        if self.hosted:
            h = self.hosted
            lines.append(
                f"hosted estimate: {h['epochs']} epochs x {h['tokens_per_epoch']:,} tokens = "
                f"{h['billed_tokens']:,} billed tokens ({h['note']})"
            )
        if every_finding:
            lines += [str(f) for f in self.findings]
        else:
            groups = group_findings(self.findings)
            lines += [g.line() for g in groups]
            if any(g.count > 1 for g in groups):
                lines.append("(repeated findings are grouped: --all lists every one, --json gives them all)")
        lines.append(f"{len(self.errors)} errors, {len(self.warnings)} warnings in {self.seconds:.2f} s")
        return "\n".join(lines)


# --- text helpers -----------------------------------------------------------------------------

_WORD = re.compile(r"\w+", re.UNICODE)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


_WORD_IDS: dict[str, int] = {}


def _word_ids(words: list[str]) -> list[int]:
    ids = list(map(_WORD_IDS.get, words))  # C-speed lookups; the loop below runs for new words only
    if None in ids:
        if len(_WORD_IDS) > 1_000_000:  # bound the memory of a long-lived UI process
            _WORD_IDS.clear()
        for k, i in enumerate(ids):
            if i is None:
                w = words[k]
                ids[k] = _WORD_IDS[w] = zlib.crc32(w.encode())
    return cast("list[int]", ids)  # every None was filled in above


def shingles(text: str, n: int = 3) -> frozenset[int]:
    """Hashed word n-grams. Words get a stable id (crc32) and n-grams the hash of a tuple of ints,
    which Python does not salt per process, so results are the same on every run."""
    ids = _word_ids(_words(text))
    if len(ids) < n:
        return frozenset(map(hash, ((i,) for i in ids)))
    return frozenset(map(hash, zip(*(ids[k:] for k in range(n)), strict=False)))


def jaccard(a: AbstractSet[object], b: AbstractSet[object]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


class _LSH:
    """MinHash by one-permutation hashing (one pass per example, not one per hash function) and
    banding. 16 bands of 8 rows, two shared bands needed: a pair at Jaccard 0.9 is found 998 times
    in 1,000, a pair at 0.6 about 1 in 100, so templated data does not flood the verification."""

    BANDS, ROWS = 16, 8
    K = BANDS * ROWS
    _EMPTY = 1 << 62

    def __init__(self) -> None:
        self.buckets: dict[tuple[Any, ...], list[int]] = {}

    def signature(self, sh: frozenset[int]) -> list[int]:
        if not sh:
            return []
        k, empty = self.K, self._EMPTY
        sig = [empty] * k
        for h in sh:
            h &= 0xFFFFFFFFFFFFFFFF
            b = h % k
            v = h // k
            if v < sig[b]:
                sig[b] = v
        if empty in sig:
            # Rotation densification: an empty bin borrows the next filled bin's value, marked with
            # the distance, so two similar short examples still agree bin by bin. One backward
            # walk over two laps finds every empty bin's next filled one.
            out = sig[:]
            nxt_pos, nxt_val = 0, 0
            for pos in range(2 * k - 1, -1, -1):
                v = sig[pos % k]
                if v != empty:
                    nxt_pos, nxt_val = pos, v
                elif pos < k:
                    out[pos] = empty + nxt_val * k + (nxt_pos - pos)
            sig = out
        return sig

    def keys(self, sig: list[int]) -> list[tuple[Any, ...]]:
        r = self.ROWS
        return [(b, *sig[b * r : (b + 1) * r]) for b in range(self.BANDS)] if sig else []

    def add(self, idx: int, sig: list[int]) -> None:
        for key in self.keys(sig):
            self.buckets.setdefault(key, []).append(idx)

    def candidates(self, sig: list[int]) -> list[int]:
        seen: dict[int, int] = {}
        for key in self.keys(sig):
            members = self.buckets.get(key, ())
            # A band shared by hundreds of examples is boilerplate (a fixed template), not evidence
            # of a duplicate; the pair's other bands still find it.
            if len(members) > _MAX_BUCKET:
                continue
            for j in members:
                seen[j] = seen.get(j, 0) + 1
        keep = [j for j, c in seen.items() if c >= 2]
        # Most shared bands first: the likeliest duplicates are verified before the cap bites.
        keep.sort(key=lambda j: (-seen[j], j))
        return keep[:_MAX_CANDIDATES]


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


# --- example views ----------------------------------------------------------------------------


def _content(m: dict[str, Any]) -> str:
    c = m.get("content")
    if not isinstance(c, str) and m.get("tool_calls"):
        return toolcalls.message_text(m) or ""  # a call is checked as its canonical text
    return c if isinstance(c, str) else ""


def _conversation(row: dict[str, Any]) -> list[dict[str, Any]]:
    if "messages" in row:
        return list(row["messages"])
    return list(row.get("prompt", [])) + list(row.get("chosen", []))


def _prompt_msgs(row: dict[str, Any]) -> list[dict[str, Any]]:
    if "prompt" in row:
        return list(row["prompt"])
    msgs: list[dict[str, Any]] = row.get("messages", [])
    last_a = max((i for i, m in enumerate(msgs) if m.get("role") == "assistant"), default=len(msgs))
    return msgs[:last_a]


def prompt_text(row: dict[str, Any]) -> str:
    """The user-visible question of an example: its user messages (what leakage compares)."""
    return "\n".join(_content(m) for m in _prompt_msgs(row) if m.get("role") == "user")


def template_pattern(user_template: str) -> re.Pattern[str] | None:
    """A regex that takes a prompt built from `user_template` apart into evidence and question."""
    parts = re.split(r"(\{evidence\}|\{question\}|\{evidence_files\})", user_template)
    if "{question}" not in parts:
        return None
    rx, named = "", set()
    for p in parts:
        if p in ("{question}", "{evidence}"):
            name = p[1:-1]
            rx += f"(?P={name})" if name in named else f"(?P<{name}>.*)"
            named.add(name)
        elif p == "{evidence_files}":
            rx += ".*"
        else:
            rx += re.escape(p.replace("{{", "{").replace("}}", "}"))
    return re.compile(rx + r"\Z", re.DOTALL)


DEFAULT_PATTERN = template_pattern(PromptConfig().user_template)


def question_of(text: str, pattern: re.Pattern[str] | None) -> str:
    """The question inside a templated prompt; evidence is context, like alpaca's `input`."""
    m = pattern.match(text) if pattern is not None else None
    return m.group("question") if m else text


def _instruction(row: dict[str, Any], pattern: re.Pattern[str] | None = None) -> str | None:
    users = [m for m in _prompt_msgs(row) if m.get("role") == "user"]
    return question_of(_content(users[-1]), pattern) if users else None


def _output(row: dict[str, Any]) -> str | None:
    msgs = row["chosen"] if "chosen" in row else row.get("messages", [])
    outs = [m for m in msgs if m.get("role") == "assistant"]
    return _content(outs[-1]) if outs else None


# --- the checks -------------------------------------------------------------------------------


class _Ctx:
    def __init__(self, label: str, rows: list[dict[str, Any]], pattern: re.Pattern[str] | None = DEFAULT_PATTERN):
        self.label = label
        self.pattern = pattern
        self.findings: list[Finding] = []
        self.bad: set[int] = set()  # rows with errors: not tokenised, not compared

    def where(self, row_or_line: Any) -> str:
        if isinstance(row_or_line, dict):
            line = row_or_line.get("line")
            if self.label and line:
                return f"{self.label}:{line}"
            return str(row_or_line.get("id"))
        return f"{self.label}:{row_or_line}" if self.label else f"row {row_or_line}"

    def add(self, level: str, kind: str, where: str, message: str, rid: str | None = None) -> None:
        self.findings.append(Finding(level, kind, where, message, rid))


def _check_messages(ctx: _Ctx, i: int, row: dict[str, Any], raw_keys: bool) -> None:
    where = ctx.where(row)
    rid = row.get("id")
    parts = (
        [("messages", row["messages"])]
        if "messages" in row
        else [
            ("prompt", row.get("prompt", [])),
            ("chosen", row.get("chosen", [])),
            ("rejected", row.get("rejected", [])),
        ]
    )
    if not any(msgs for _, msgs in parts):
        ctx.add(ERROR, "missing_messages", where, "no messages (missing or empty list)", rid)
        ctx.bad.add(i)
        return
    failed = False
    for name, msgs in parts:
        if not msgs:
            ctx.add(ERROR, "missing_messages", where, f"`{name}` is empty", rid)
            failed = True
            continue
        for j, m in enumerate(msgs):
            at = f"{name}[{j}]"
            if not isinstance(m, dict):
                ctx.add(ERROR, "not_an_object", where, f"{at} is not an object", rid)
                failed = True
                continue
            if "role" not in m or ("content" not in m and not m.get("function_call") and not m.get("tool_calls")):
                missing = "role" if "role" not in m else "content"
                ctx.add(ERROR, "message_missing_key", where, f"{at} has no `{missing}`", rid)
                failed = True
                continue
            if raw_keys:
                extra = sorted(k for k in m if k not in KNOWN_MESSAGE_KEYS)
                if extra:
                    ctx.add(
                        ERROR,
                        "unrecognized_key",
                        where,
                        f"{at} has unrecognized key {', '.join(map(repr, extra))}",
                        rid,
                    )
                    failed = True
            if m.get("role") not in KNOWN_ROLES:
                ctx.add(ERROR, "unrecognized_role", where, f"{at} has unrecognized role {m.get('role')!r}", rid)
                failed = True
            content = m.get("content")
            if (not isinstance(content, str) or not content.strip()) and not (
                m.get("function_call") or m.get("tool_calls")
            ):
                ctx.add(ERROR, "missing_content", where, f"{at} ({m.get('role')}) has no text content", rid)
                failed = True
    convo = _conversation(row)
    roles = [m.get("role") for m in convo if isinstance(m, dict)]
    if "assistant" not in roles:
        ctx.add(ERROR, "no_assistant_message", where, "no assistant message: nothing to learn", rid)
        failed = True
    if "chosen" in row and not any(
        isinstance(m, dict) and m.get("role") == "assistant" for m in row.get("rejected", [])
    ):
        ctx.add(ERROR, "no_assistant_message", where, "the rejected side has no assistant message", rid)
        failed = True
    if failed:
        ctx.bad.add(i)
        return
    prompt_roles = [m.get("role") for m in _prompt_msgs(row)]
    if "system" not in prompt_roles and "developer" not in prompt_roles:
        ctx.add(WARNING, "no_system_message", where, "no system message (the model will see its default one)", rid)
    if "user" not in prompt_roles:
        ctx.add(WARNING, "no_user_message", where, "no user message before the answer", rid)


def _check_quality(ctx: _Ctx, row: dict[str, Any], limits: QualityLimits) -> None:
    where, rid = ctx.where(row), row.get("id")
    instr = _instruction(row, ctx.pattern)
    if instr is not None:
        n = len(instr.strip())
        if n < limits.instruction_min_chars:
            ctx.add(
                WARNING,
                "instruction_too_short",
                where,
                f"instruction is {n} chars (< {limits.instruction_min_chars})",
                rid,
            )
        elif n > limits.instruction_max_chars:
            ctx.add(
                WARNING,
                "instruction_too_long",
                where,
                f"instruction is {n:,} chars (> {limits.instruction_max_chars:,})",
                rid,
            )
    out = _output(row)
    if out is not None:
        if len(out.strip()) < limits.output_min_chars:
            ctx.add(
                WARNING,
                "output_too_short",
                where,
                f"answer is {len(out.strip())} chars (< {limits.output_min_chars})",
                rid,
            )
        words = out.lower().split()
        if len(words) >= limits.repetition_min_words:
            ratio = len(set(words)) / len(words)
            if ratio < limits.repetition_min_unique_ratio:
                ctx.add(
                    WARNING,
                    "repetitive_output",
                    where,
                    f"answer repeats itself: {ratio:.0%} unique words (< {limits.repetition_min_unique_ratio:.0%})",
                    rid,
                )
    if "chosen" in row and [_content(m) for m in row["chosen"]] == [_content(m) for m in row.get("rejected", [])]:
        ctx.add(
            WARNING, "chosen_equals_rejected", where, "chosen and rejected are the same: no preference to learn", rid
        )


def _histogram(counts: list[int], buckets: int = 10) -> list[dict[str, Any]]:
    lo, hi = min(counts), max(counts)
    width = max(1, -(-(hi - lo + 1) // buckets))
    out = []
    start = lo
    while start <= hi:
        end = start + width
        out.append({"lo": start, "hi": end - 1, "count": sum(start <= c < end for c in counts)})
        start = end
    return out


def _token_stats(
    ctx: _Ctx, rows: list[dict[str, Any]], good: list[int], tokenizer: Any, max_length: int
) -> tuple[dict[str, Any], dict[int, int]]:
    convs: list[list[dict[str, Any]]] = []
    owners: list[int] = []
    tools: list[Any] = []
    for i in good:
        row = rows[i]
        if "messages" in row:
            convs.append(row["messages"])
            owners.append(i)
        else:
            convs.append(list(row["prompt"]) + list(row["chosen"]))
            owners.append(i)
            convs.append(list(row["prompt"]) + list(row["rejected"]))
            owners.append(i)
        tools += [row.get("tools")] * (len(owners) - len(tools))
    per_row: dict[int, int] = {}
    try:
        # Tools are counted as the model's template renders them (or as the fallback writes them).
        counts = tokenizer.count_many(convs, tools) if any(tools) else tokenizer.count_many(convs)
    except Exception:
        # One conversation the template refuses (e.g. roles that do not alternate): find which.
        counts = []
        for conv, i in zip(convs, owners, strict=False):
            try:
                counts.append(tokenizer.count(conv, tools=tools[len(counts)]) if any(tools) else tokenizer.count(conv))
            except Exception as exc:
                counts.append(-1)
                if i not in ctx.bad:
                    ctx.add(
                        ERROR,
                        "template_error",
                        ctx.where(rows[i]),
                        f"the chat template refuses this example: {exc}",
                        rows[i].get("id"),
                    )
                    ctx.bad.add(i)
    for c, i in zip(counts, owners, strict=False):
        if c >= 0 and i not in ctx.bad:
            per_row[i] = max(per_row.get(i, 0), c)
    values = [per_row[i] for i in good if i in per_row]
    truncated = []
    for i in good:
        n = per_row.get(i)
        if n is not None and n > max_length:
            row = rows[i]
            truncated.append({"where": ctx.where(row), "id": row.get("id"), "tokens": n})
            ctx.add(
                WARNING,
                "truncated",
                ctx.where(row),
                f"{n:,} tokens > max length {max_length:,}: the last {n - max_length:,} would be cut",
                row.get("id"),
            )
    stats = {
        "count": len(values),
        "max_length": max_length,
        "truncated": truncated,
        "total": sum(values),
    }
    if values:
        srt = sorted(values)
        stats.update(
            min=srt[0],
            max=srt[-1],
            mean=sum(values) / len(values),
            p50=srt[len(srt) // 2],
            p95=srt[min(len(srt) - 1, int(0.95 * len(srt)))],
            histogram=_histogram(values),
        )
    return stats, per_row


def _duplicates(ctx: _Ctx, rows: list[dict[str, Any]], good: list[int], threshold: float) -> None:
    first_exact: dict[str, int] = {}
    answers_by_prompt: dict[str, tuple[int, str]] = {}
    lsh = _LSH()
    sets: dict[int, frozenset[int]] = {}
    cores: dict[int, frozenset[str]] = {}

    def core(k: int) -> frozenset[str]:
        # Question + answer without the evidence: two questions about one long code excerpt share
        # most of their text and are still different examples.
        if k not in cores:
            cores[k] = frozenset(_words(f"{_instruction(rows[k], ctx.pattern) or ''}\n{_output(rows[k]) or ''}"))
        return cores[k]

    for i in good:
        row = rows[i]
        text = "\n".join(f"{m.get('role')}: {_content(m)}" for m in _conversation(row))
        key = _norm(text)
        if key in first_exact:
            j = first_exact[key]
            ctx.add(
                WARNING, "exact_duplicate", ctx.where(row), f"exact duplicate of {ctx.where(rows[j])}", row.get("id")
            )
            continue
        first_exact[key] = i
        if "messages" in row:
            p = _norm("\n".join(_content(m) for m in _prompt_msgs(row)))
            out = _norm(_output(row) or "")
            seen = answers_by_prompt.get(p)
            if seen is None:
                answers_by_prompt[p] = (i, out)
            elif seen[1] != out:
                ctx.add(
                    WARNING,
                    "conflicting_answers",
                    ctx.where(row),
                    f"same prompt as {ctx.where(rows[seen[0]])} with a different answer",
                    row.get("id"),
                )
        sh = shingles(text)
        sig = lsh.signature(sh)
        hit = None
        for j in lsh.candidates(sig):
            score = jaccard(sh, sets[j])
            if score >= threshold and jaccard(core(i), core(j)) >= QUESTION_GATE:
                hit = (j, score)
                break
        if hit:
            j, score = hit
            ctx.add(
                WARNING,
                "near_duplicate",
                ctx.where(row),
                f"near duplicate of {ctx.where(rows[j])} (word-shingle Jaccard {score:.2f})",
                row.get("id"),
            )
        sets[i] = sh
        lsh.add(i, sig)


@dataclass(frozen=True)
class Reference:
    """A prompt the training set must not contain: a held-out example or a benchmark item."""

    id: str
    text: str
    source: str  # "held-out" | "benchmark"


def _leakage(
    ctx: _Ctx, rows: list[dict[str, Any]], good: list[int], refs: Sequence[Reference], threshold: float
) -> None:
    """Training prompts equal or nearly equal to a held-out or benchmark prompt.

    The training rows are indexed and the references streamed past them: a benchmark can be the
    whole run log (100k items) while a training set is a few thousand rows."""
    if not refs:
        return
    texts: dict[int, str] = {}
    by_norm: dict[str, list[int]] = {}
    lsh = _LSH()
    sets: dict[int, frozenset[int]] = {}
    for i in good:
        text = prompt_text(rows[i])
        if not text.strip():
            continue
        texts[i] = text
        by_norm.setdefault(_norm(text), []).append(i)
        sets[i] = shingles(text)
        lsh.add(i, lsh.signature(sets[i]))
    questions: dict[int, frozenset[str]] = {}

    def question(i: int) -> frozenset[str]:
        # The same evidence with another question is another example, not a leak.
        if i not in questions:
            questions[i] = frozenset(_words(question_of(texts[i], ctx.pattern)))
        return questions[i]

    found: dict[int, tuple[Any, ...]] = {}  # train row -> (level, kind, message); the first reference wins
    for ref in refs:
        for i in by_norm.get(_norm(ref.text), ()):
            if ref.id != rows[i].get("id") and (i not in found or found[i][0] != ERROR):
                found[i] = (ERROR, "leak_exact", f"prompt is the same as {ref.source} item {ref.id}")
        sh = shingles(ref.text)
        if len(sets) and sh:
            q = None
            for i in lsh.candidates(lsh.signature(sh)):
                if i in found or ref.id == rows[i].get("id"):
                    continue
                score = jaccard(sh, sets[i])
                if score < threshold:
                    continue
                if q is None:
                    q = frozenset(_words(question_of(ref.text, ctx.pattern)))
                if jaccard(q, question(i)) >= QUESTION_GATE:
                    found[i] = (
                        WARNING,
                        "leak_near",
                        f"prompt nearly matches {ref.source} item {ref.id} (Jaccard {score:.2f})",
                    )
    for i in sorted(found):
        level, kind, message = found[i]
        ctx.add(level, kind, ctx.where(rows[i]), message, rows[i].get("id"))


def hosted_estimate(
    token_counts: Sequence[int], context_limit: int = DEFAULT_CONTEXT_LIMIT, epochs: int | None = None
) -> dict[str, Any]:
    """OpenAI's rule: 3 epochs unless that gives fewer than 100 or more than 25,000 example passes;
    each example is billed up to the context limit."""
    n = len(token_counts)
    if epochs is None:
        epochs = TARGET_EPOCHS
        if n and n * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
            epochs = min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n)
        elif n * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
            epochs = max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n)
    per_epoch = sum(min(context_limit, c) for c in token_counts)
    return {
        "examples": n,
        "epochs": epochs,
        "context_limit": context_limit,
        "tokens_per_epoch": per_epoch,
        "billed_tokens": per_epoch * epochs,
        "capped_examples": sum(c > context_limit for c in token_counts),
    }


def run_checks(
    source: Any,
    *,
    fmt: str | None = None,
    tokenizer: Any = None,
    model: str | None = None,
    max_length: int = 1024,
    references: Sequence[Reference] = (),
    near_threshold: float = 0.9,
    limits: QualityLimits = QualityLimits(),
    hosted: bool = False,
    context_limit: int = DEFAULT_CONTEXT_LIMIT,
    epochs: int | None = None,
    label: str | None = None,
    user_template: str | None = None,
) -> CheckReport:
    """Check a file (any supported format) or a list of rows.

    `tokenizer` is a `ftui.core.base.tokens.ChatTokenizer` (or anything with count/count_many); without
    one, token statistics, truncation and the hosted estimate are skipped. `references` are the
    held-out and benchmark prompts the training rows must not match.
    """
    t0 = time.perf_counter()
    if isinstance(source, (str, Path)):
        res = formats.read(source, fmt)
        fmt, rows, problems = res.format, res.rows, res.problems
        name = label if label is not None else _display(Path(source))
        raw_keys = fmt in (
            "openai-chat",
            "trl-messages",
            "openai-preference",
            "trl-preference",
            "trl-prompt-completion",
        )
    else:
        records = [(i + 1, r) for i, r in enumerate(source)]
        fmt = fmt or (formats.detect_format(records) if records else "trl-messages")
        rows, problems = formats.normalise(records, fmt)
        for r in rows:
            if "id" not in (records[r["line"] - 1][1] or {}):
                r["id"] = f"row {r['line']}"
        name = label or ""
        raw_keys = True
        if not label:
            for r in rows:
                r.pop("line", None)
    ctx = _Ctx(name, rows, template_pattern(user_template) if user_template else DEFAULT_PATTERN)
    for p in problems:  # records that could not be read as this format at all
        ctx.add(ERROR, p.kind, ctx.where(p.line), p.message)
    for i, row in enumerate(rows):
        _check_messages(ctx, i, row, raw_keys)
    good = [i for i in range(len(rows)) if i not in ctx.bad]
    for i in good:
        _check_quality(ctx, rows[i], limits)
        for kind, message in call_findings(rows[i]):
            ctx.add(ERROR, kind, ctx.where(rows[i]), message, rows[i].get("id"))
            ctx.bad.add(i)
    good = [i for i in good if i not in ctx.bad]
    tokens = None
    per_row: dict[int, int] = {}
    if tokenizer is not None and good:
        tokens, per_row = _token_stats(ctx, rows, good, tokenizer, max_length)
        good = [i for i in good if i not in ctx.bad]
    _duplicates(ctx, rows, good, near_threshold)
    _leakage(ctx, rows, good, references, near_threshold)
    hosted_info = None
    if hosted and tokens is not None:
        hosted_info = hosted_estimate([per_row[i] for i in good if i in per_row], context_limit, epochs)
        hosted_info["note"] = (
            f"counted with the {model or 'target'} tokenizer; the hosted model's own tokenizer differs a little"
        )
    # Report in file order, so a reader can walk the file top to bottom.
    ranked = sorted(enumerate(ctx.findings), key=lambda kf: (_line_of(kf[1].where), kf[0]))
    ctx.findings = [f for _, f in ranked]
    return CheckReport(
        source=name or "rows",
        format=fmt,
        examples=len(rows) + sum(p.kind != "empty_file" for p in problems),
        findings=ctx.findings,
        tokens=tokens,
        hosted=hosted_info,
        model=model,
        seconds=time.perf_counter() - t0,
    )


def _display(path: Path) -> str:
    """A path as short as it can be while still opening from here: `file:line` is for editors."""
    try:
        rel = path.resolve().relative_to(Path.cwd().resolve())
    except (ValueError, OSError):
        return str(path)
    return str(rel) if path.is_absolute() else str(path)


def _line_of(where: str) -> int:
    tail = where.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def references_from_rows(rows: Iterable[dict[str, Any]], source: str) -> list[Reference]:
    out = []
    for r in rows:
        text = prompt_text(r)
        if text.strip():
            out.append(Reference(str(r.get("id")), text, source))
    return out


def benchmark_references(ws: Workspace, exclude: Iterable[str] = ()) -> list[Reference]:
    """Prompts of the benchmark the final comparison runs on (the workspace's benchmark file, else
    its run log), minus `exclude` (the ids a build trains on, which the comparison leaves out)."""
    from ftui.core.logs.runlog import load_benchmark
    from ftui.core.workspace.prompts import user_text

    skip = set(exclude)
    return [
        Reference(it.id, user_text(it, ws.prompt), "benchmark") for it in load_benchmark(ws).items if it.id not in skip
    ]


def check_build(
    build: Any,
    ws: Workspace | None = None,
    *,
    tokenizer: Any = None,
    model: str | None = None,
    max_length: int | None = None,
    extra_references: Sequence[Reference] = (),
    **kwargs: Any,
) -> CheckReport:
    """Check a build's training rows against its own held-out rows and, with a workspace, the benchmark.

    `build` is a `ftui.core.build.store.Build`; the TUI and `ftui check BUILD` both come through here.
    """
    refs = references_from_rows(build.rows("eval"), "held-out")
    refs += references_from_rows(build.rows("validation"), "validation")
    if ws is not None:
        used = set(build.manifest.get("train_ids", [])) | set(build.manifest.get("eval_ids", []))
        used |= set(build.manifest.get("validation_ids", []))
        refs += benchmark_references(ws, used)
    refs += list(extra_references)
    if max_length is None:
        max_length = (build.manifest.get("options") or {}).get("max_length") or (ws.build.max_length if ws else 1024)
    if "near_threshold" not in kwargs:
        opt = (build.manifest.get("options") or {}).get("near_duplicate_threshold")
        if opt is not None:
            kwargs["near_threshold"] = opt
    if ws is not None:
        kwargs.setdefault("user_template", ws.prompt.user_template)
    return run_checks(
        build.train_path, tokenizer=tokenizer, model=model, max_length=max_length, references=refs, **kwargs
    )
