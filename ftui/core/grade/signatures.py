"""How an answer failed, as yes/no signatures computed from one item alone.

Discovery groups failures on these as well as on their words: two answers about different symbols
that both wrote prose where JSON was expected fail the same way, and that is what a fine-tune fixes.
Each signature has a slug (used as a discovered cluster's name when it defines the cluster) and a
phrase for its description.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ftui.core.grade.grading import extract_json


@dataclass(frozen=True)
class Signature:
    key: str
    slug: str
    phrase: str


SIGNATURES: tuple[Signature, ...] = (
    Signature("prose_for_json", "prose_where_json_expected", "prose where JSON was expected"),
    Signature("json_missing_keys", "json_missing_keys", "JSON that lacks keys of the expected answer"),
    Signature("too_long", "answer_too_long", "answer far longer than expected"),
    Signature("too_short", "answer_too_short", "answer far shorter than expected"),
    Signature("empty", "empty_answer", "empty answer"),
    Signature("refusal", "refusal", "refuses to answer"),
    Signature("repeats_question", "repeats_question", "repeats the question"),
    Signature("truncated", "cut_at_token_limit", "cut off mid-sentence (token limit)"),
    Signature("other_language", "other_language", "answers in another language"),
    Signature("code_fence", "unexpected_code_fence", "a code fence where none was expected"),
    Signature("wrong_number", "wrong_number", "a number that differs from the expected one"),
)
KEYS = tuple(s.key for s in SIGNATURES)
BY_KEY = {s.key: s for s in SIGNATURES}

# Length ratios beyond which an answer is "far" from the expected one; short expected answers
# (a name, a number) get an absolute margin so a sentence around them is not flagged.
LONG_RATIO, SHORT_RATIO, LENGTH_MARGIN = 4.0, 0.25, 80

_REFUSAL = re.compile(
    r"\b(i can(?:'|no)t|i cannot|i'?m (?:sorry|unable|not able)|i am (?:sorry|unable|not able)|as an ai\b|"
    r"i do(?:n'|\s+no)t (?:have|know)|unable to (?:help|answer|provide))",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?!\w|\.\d)")
_WORDS = re.compile(r"[^\W\d_]+")
_NORM = re.compile(r"[\W_]+")
_ENGLISH = frozenset(
    [
        "the",
        "a",
        "an",
        "is",
        "are",
        "was",
        "were",
        "of",
        "to",
        "in",
        "on",
        "for",
        "and",
        "or",
        "with",
        "that",
        "this",
        "it",
        "be",
        "by",
        "as",
        "at",
        "from",
        "not",
        "what",
        "which",
        "how",
        "why",
        "where",
        "when",
        "who",
        "does",
        "do",
        "can",
        "function",
        "file",
        "code",
        "returns",
        "return",
    ]
)
_END_OK = (*".!?)]}`\"'*:;", "```")


def looks_like_json(text: str | None) -> bool:
    """A JSON object or array, whole (the answer format a grader and the Correct pane both check)."""
    if not text:
        return False
    t = text.strip()
    if not t or t[0] not in "{[":
        return False
    try:
        json.loads(t)
    except ValueError:
        return False
    return True


def _numbers(text: str) -> set[str]:
    # "3", "3.0" and "3.00" are one number.
    return {format(float(m.group(0)), "g") for m in _NUMBER.finditer(text)}


def _non_latin_share(text: str) -> float:
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for ch in letters if ord(ch) > 0x24F) / len(letters)


def _english_share(words: list[str]) -> float:
    return sum(1 for w in words if w in _ENGLISH) / len(words) if words else 0.0


def signatures(question: str, answer: str, expected: str | None) -> dict[str, bool]:
    """Every signature of one item (all False when nothing is known to compare with)."""
    q = question or ""
    a = (answer or "").strip()
    e = (expected or "").strip()
    out = dict.fromkeys(KEYS, False)
    if not a:
        out["empty"] = True
        return out
    head = a[:4000]
    if e:
        if looks_like_json(e):
            want = json.loads(e)
            got, _ = extract_json(head)
            if got is None and not looks_like_json(head):
                out["prose_for_json"] = True
            elif isinstance(want, dict) and isinstance(got, dict) and set(want) - set(got):
                out["json_missing_keys"] = True
        la, le = len(a), len(e)
        if la > LONG_RATIO * le + LENGTH_MARGIN:
            out["too_long"] = True
        elif le > 2 * LENGTH_MARGIN and la < SHORT_RATIO * le:
            out["too_short"] = True
        if "```" in a and "```" not in e:
            out["code_fence"] = True
        want_n = _numbers(e)
        if want_n and not looks_like_json(e):
            got_n = _numbers(head)
            if got_n and not want_n <= got_n:
                out["wrong_number"] = True
    if _REFUSAL.search(head[:400]):
        out["refusal"] = True
    nq = _NORM.sub(" ", q.lower()).strip()
    if len(nq) >= 15 and nq in _NORM.sub(" ", head.lower()):
        out["repeats_question"] = True
    tail = a.rstrip()
    if (len(a) >= 120 and not tail.endswith(_END_OK) and a.count("```") % 2 == 0) or a.count("```") % 2 == 1:
        out["truncated"] = True
    # Another language: a different script than the question, or (both in Latin script) an answer
    # of some length with almost none of the question's common English words.
    if abs(_non_latin_share(head) - _non_latin_share(q)) > 0.5:
        out["other_language"] = True
    else:
        aw = [w.lower() for w in _WORDS.findall(head[:600])]
        qw = [w.lower() for w in _WORDS.findall(q)]
        if len(aw) >= 12 and _english_share(qw) >= 0.15 and _english_share(aw) < 0.04:
            out["other_language"] = True
    return out
