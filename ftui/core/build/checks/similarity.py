"""Near-duplicate search: word shingles, Jaccard similarity and MinHash LSH to find candidate pairs."""

from __future__ import annotations

import re
import zlib
from collections.abc import Set as AbstractSet
from typing import Any, cast

# Candidate pairs examined per example when looking for near duplicates: bounds the worst case
# (thousands of templated examples all just under the threshold) without missing real duplicates,
# which share many LSH bands and come up first.
_MAX_CANDIDATES = 50
_MAX_BUCKET = 200


_WORD = re.compile(r"\w+", re.UNICODE)


def words_of(text: str) -> list[str]:
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
    ids = _word_ids(words_of(text))
    if len(ids) < n:
        return frozenset(map(hash, ((i,) for i in ids)))
    return frozenset(map(hash, zip(*(ids[k:] for k in range(n)), strict=False)))


def jaccard(a: AbstractSet[object], b: AbstractSet[object]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


class LSH:
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


def norm_text(text: str) -> str:
    return " ".join(text.lower().split())
