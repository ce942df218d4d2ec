"""Duplicates inside the training set and leakage of held-out or benchmark prompts into it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ftui.core.build.checks.examples import (
    conversation,
    instruction_of,
    output_of,
    prompt_messages,
    prompt_text,
    question_of,
    text_of,
)
from ftui.core.build.checks.report import ERROR, WARNING, Ctx
from ftui.core.build.checks.similarity import LSH, jaccard, norm_text, shingles, words_of

if TYPE_CHECKING:
    from ftui.core.workspace.workspace import Workspace


# Two near-identical prompts are only a duplicate or a leak when their questions are about the
# same thing too: word overlap of the question (and answer) parts at least this high.
QUESTION_GATE = 0.5


def find_duplicates(ctx: Ctx, rows: list[dict[str, Any]], good: list[int], threshold: float) -> None:
    first_exact: dict[str, int] = {}
    answers_by_prompt: dict[str, tuple[int, str]] = {}
    lsh = LSH()
    sets: dict[int, frozenset[int]] = {}
    cores: dict[int, frozenset[str]] = {}

    def core(k: int) -> frozenset[str]:
        # Question + answer without the evidence: two questions about one long code excerpt share
        # most of their text and are still different examples.
        if k not in cores:
            cores[k] = frozenset(words_of(f"{instruction_of(rows[k], ctx.pattern) or ''}\n{output_of(rows[k]) or ''}"))
        return cores[k]

    for i in good:
        row = rows[i]
        text = "\n".join(f"{m.get('role')}: {text_of(m)}" for m in conversation(row))
        key = norm_text(text)
        if key in first_exact:
            j = first_exact[key]
            ctx.add(
                WARNING, "exact_duplicate", ctx.where(row), f"exact duplicate of {ctx.where(rows[j])}", row.get("id")
            )
            continue
        first_exact[key] = i
        if "messages" in row:
            p = norm_text("\n".join(text_of(m) for m in prompt_messages(row)))
            out = norm_text(output_of(row) or "")
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


def find_leaks(
    ctx: Ctx, rows: list[dict[str, Any]], good: list[int], refs: Sequence[Reference], threshold: float
) -> None:
    """Training prompts equal or nearly equal to a held-out or benchmark prompt.

    The training rows are indexed and the references streamed past them: a benchmark can be the
    whole run log (100k items) while a training set is a few thousand rows."""
    if not refs:
        return
    texts: dict[int, str] = {}
    by_norm: dict[str, list[int]] = {}
    lsh = LSH()
    sets: dict[int, frozenset[int]] = {}
    for i in good:
        text = prompt_text(rows[i])
        if not text.strip():
            continue
        texts[i] = text
        by_norm.setdefault(norm_text(text), []).append(i)
        sets[i] = shingles(text)
        lsh.add(i, lsh.signature(sets[i]))
    questions: dict[int, frozenset[str]] = {}

    def question(i: int) -> frozenset[str]:
        # The same evidence with another question is another example, not a leak.
        if i not in questions:
            questions[i] = frozenset(words_of(question_of(texts[i], ctx.pattern)))
        return questions[i]

    found: dict[int, tuple[Any, ...]] = {}  # train row -> (level, kind, message); the first reference wins
    for ref in refs:
        for i in by_norm.get(norm_text(ref.text), ()):
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
                    q = frozenset(words_of(question_of(ref.text, ctx.pattern)))
                if jaccard(q, question(i)) >= QUESTION_GATE:
                    found[i] = (
                        WARNING,
                        "leak_near",
                        f"prompt nearly matches {ref.source} item {ref.id} (Jaccard {score:.2f})",
                    )
    for i in sorted(found):
        level, kind, message = found[i]
        ctx.add(level, kind, ctx.where(rows[i]), message, rows[i].get("id"))


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
