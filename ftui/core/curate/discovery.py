"""Finding the failure clusters of a log that has no labels.

Two questions a user asks of failures: how did they fail (signature) and what were they about
(topic). `discover` answers either (`view="signature"`, `view="topic"`) or both (`"mixed"`, the
default): a signature that decides a grade on its own (prose where JSON was expected, a
refusal, another language, ...) makes a cluster of exactly the items that have it, and the
rest are grouped by topic. Symptoms many kinds of failure share (cut at the token limit, too
long) never make a cluster there: they are said in the descriptions.

Grouping by topic: failures asked under different instructions (system prompt, task) are
different requests and start apart; inside each, the failure vectors are split only when the
best silhouette says the groups are clearly apart. A log asked under one instruction (most real
logs) is split by the topic pipeline (TF-IDF, SVD, k-means), with k chosen by stability: the
largest k whose clusterings under different seeds agree (mean pairwise adjusted Rand index) at
least STABLE, else the most stable k. A k from the user fixes the number of topic clusters.
Everything is seeded: the same items and seed give the same clusters.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ftui.core.curate.discovery_names import REPRESENTATIVES, Found, name_clusters, representatives
from ftui.core.curate.discovery_vectors import (
    SYMPTOMS,
    Array,
    failure_vectors,
    kmeans,
    sample_rows,
    signature_matrix,
    topic_texts,
    topic_vectors,
)
from ftui.core.grade.signatures import KEYS
from ftui.core.logs.items import Item

__all__ = ["DEFAULT_MAX_K", "VIEWS", "Discovery", "DiscoveryError", "Found", "agreement", "content_hash", "discover"]

DEFAULT_MAX_K = 12
VIEWS = ("mixed", "topic", "signature")
# k is chosen on at most this many items; silhouette is quadratic in the items it scores, and
# stability fits k-means fifty times a k.
SELECT_SAMPLE = 2000
STABILITY_SAMPLE = 600
# A request group is split only when it has this many failures and its best split scores this
# silhouette: below it, the "clusters" are phrasings of one failure.
MIN_SPLIT, SPLIT_MIN = 8, 0.3
# A signature makes its own cluster with at least this many items (and this share of them).
MIN_SIGNATURE_ITEMS, MIN_SIGNATURE_SHARE = 3, 0.05
# Topic clusters: at least this many items each on average; k's clusterings under SEEDS seeds
# must agree this much. Calibrated on the real logs of tests/fixtures/evallogs/real (see
# benchmarks/discovery_quality.py): agreement of 0.75 keeps k where categories stay apart.
MIN_TOPIC_SIZE, STABILITY_SEEDS, STABLE = 5, 5, 0.75


class DiscoveryError(Exception):
    pass


@dataclass
class Discovery:
    clusters: list[Found]
    k: int
    chosen_by: str  # "stability", "silhouette", "signature", "user" or "too_few" (one cluster)
    groups: list[dict[str, Any]]  # per request group: its size, the k chosen and the scores tried
    seed: int
    seconds: float
    view: str = "mixed"
    # How sure the topic split is: its clusterings' agreement across seeds (0 to 1), or None.
    quality: float | None = None
    topic_k: int | None = None  # the number of topic clusters (what a user's k sets)

    @property
    def assignment(self) -> dict[str, str]:
        return {i: c.name for c in self.clusters for i in c.ids}


def content_hash(item: Item) -> str:
    """What an item's cluster was decided from; an edit is kept only while this is unchanged."""
    h = hashlib.blake2b(digest_size=10)
    for part in (item.question, item.answer, item.expected or "", item.grade_reason or ""):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


def _choose_k(x: Array, seed: int, max_k: int) -> tuple[int, dict[int, float]]:
    """The k of the best silhouette, tried on at most SELECT_SAMPLE rows of `x`."""
    import numpy as np
    from sklearn.metrics import silhouette_score

    n = x.shape[0]
    if n > SELECT_SAMPLE:
        x = x[np.sort(np.random.default_rng(seed).choice(n, SELECT_SAMPLE, replace=False))]
        n = SELECT_SAMPLE
    scores: dict[int, float] = {}
    for k in range(2, min(max_k, n - 1) + 1):
        labels = kmeans(k, seed, n_init=2).fit_predict(x)
        if len(set(labels.tolist())) < 2:
            continue
        scores[k] = float(silhouette_score(x, labels))
    if not scores:
        return 1, scores
    # Ties go to the smaller k: fewer clusters are easier to read and to correct.
    best = max(scores, key=lambda k: (round(scores[k], 3), -k))
    return best, scores


def stability(x: Array, k: int, seed: int) -> float:
    """How much k-means at k agrees with itself under STABILITY_SEEDS seeds (mean pairwise ARI)."""
    from itertools import combinations

    from sklearn.metrics import adjusted_rand_score

    runs = [kmeans(k, seed + s, n_init=10).fit_predict(x) for s in range(STABILITY_SEEDS)]
    return float(sum(adjusted_rand_score(a, b) for a, b in combinations(runs, 2)) / math.comb(len(runs), 2))


def _topic_split(
    items: Sequence[Item], seed: int, max_k: int, k: int | None, emb: Array | None
) -> tuple[list[int], dict[int, list[str]], dict[str, Any]]:
    """What the failures of one request were about: topic clusters 0..k-1."""
    import numpy as np

    n = len(items)
    ids = [it.id for it in items]
    note: dict[str, Any] = {"items": n, "k": 1, "by": "topic", "stability": None}
    texts = topic_texts(items)
    x = topic_vectors(texts, seed)
    if x is None or n < 2:
        return [0] * n, {0: ids[:REPRESENTATIVES]}, note
    if emb is not None:
        from sklearn.preprocessing import normalize

        x = np.hstack([x, normalize(emb).astype("float32")])
    x_sel = x
    if n > STABILITY_SAMPLE:
        x_sel = x[np.sort(np.random.default_rng(seed).choice(n, STABILITY_SAMPLE, replace=False))]
    if k is None:
        top = min(max_k, n // MIN_TOPIC_SIZE)
        scores = {kk: round(stability(x_sel, kk, seed), 4) for kk in range(2, top + 1)}
        note["stabilities"] = {str(kk): v for kk, v in scores.items()}
        if not scores:
            return [0] * n, {0: ids[:REPRESENTATIVES]}, note
        stable = [kk for kk, v in scores.items() if v >= STABLE]
        k = max(stable) if stable else max(scores, key=lambda kk: (scores[kk], -kk))
        note["stability"] = scores[k]
    else:
        k = max(1, min(k, n))
        note["stability"] = round(stability(x_sel, k, seed), 4) if 1 < k < len(x_sel) else None
    note["k"] = k
    if k == 1:
        return [0] * n, {0: ids[:REPRESENTATIVES]}, note
    fit = sample_rows(n, seed)
    labels = kmeans(k, seed, n_init=10).fit(x[fit]).predict(x)
    # Empty clusters (k-means on few distinct points) are dropped; labels stay 0..m-1.
    _, labels = np.unique(labels, return_inverse=True)
    return labels.tolist(), representatives(ids, x, labels), note


def _failure_split(
    items: Sequence[Item], sig: Array, seed: int, max_k: int, emb: Array | None = None
) -> tuple[list[int], dict[int, list[str]], dict[str, Any]]:
    """One request group's clusters (0..k-1), split only where its failures clearly differ."""
    import numpy as np

    n = len(items)
    note: dict[str, Any] = {"items": n, "k": 1, "by": "silhouette", "silhouette": None}
    if n < MIN_SPLIT:
        return [0] * n, {0: [it.id for it in items[:REPRESENTATIVES]]}, note
    x, _ = failure_vectors(items, seed, request=False, sig=sig, emb=emb)
    k, scores = _choose_k(x[sample_rows(n, seed)], seed, max_k)
    note["silhouettes"] = {str(kk): round(v, 4) for kk, v in scores.items()}
    labels = np.zeros(n, int)
    if k > 1 and scores[k] >= SPLIT_MIN:
        note.update(k=k, silhouette=round(scores[k], 4))
        labels = kmeans(k, seed).fit(x[sample_rows(n, seed)]).predict(x)
    return labels.tolist(), representatives([it.id for it in items], x, labels), note


def _request_key(item: Item) -> str:
    return " ".join(f"{item.system_prompt or ''} {item.task or ''}".split()).lower()


def _request_groups(items: Sequence[Item]) -> list[list[int]]:
    """Items asked under the same instructions (system prompt and task), largest group first."""
    groups: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        groups.setdefault(_request_key(it), []).append(i)
    return sorted(groups.values(), key=lambda rows: (-len(rows), rows[0]))


def _by_signature(sig: Array, n: int, keys: Sequence[str]) -> dict[str, list[int]]:
    """The items of each signature in `keys` (first one an item has wins), when enough have it."""
    taken: set[int] = set()
    out: dict[str, list[int]] = {}
    least = max(MIN_SIGNATURE_ITEMS, math.ceil(MIN_SIGNATURE_SHARE * n))
    for key in keys:
        j = KEYS.index(key)
        rows = [i for i in range(n) if sig[i, j] and i not in taken]
        if len(rows) >= least:
            out[key] = rows
            taken.update(rows)
    return out


def discover(*args: Any, **kwargs: Any) -> Discovery:
    """Cluster `items` (failures); see `_discover`."""
    import warnings

    from threadpoolctl import threadpool_limits

    # k-means on a few thousand rows is over before its OpenMP threads pay for themselves; on a
    # shared CPU their spin-waits made a 24-item run take seconds. One thread: same result.
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        # k-means says when a sample has fewer distinct points than k; the choice of k then decides.
        warnings.simplefilter("ignore")
        return _discover(*args, **kwargs)


def _discover(
    items: Sequence[Item],
    *,
    seed: int = 0,
    k: int | None = None,
    max_k: int = DEFAULT_MAX_K,
    prefix: str = "",
    embeddings: dict[str, Any] | None = None,
    view: str = "mixed",
) -> Discovery:
    """Cluster `items` (failures); `prefix` names sub-clusters of a labeled one (see the module)."""
    import numpy as np

    t0 = time.perf_counter()
    if view not in VIEWS:
        raise DiscoveryError(f"unknown view {view!r}; one of {', '.join(VIEWS)}")
    items = sorted(items, key=lambda it: it.id)  # the log's order must not change the result
    n = len(items)
    if n == 0:
        raise DiscoveryError("no failures to group")
    if k is not None and k < 1:
        raise DiscoveryError(f"the number of clusters must be at least 1, got {k}")
    sig = signature_matrix(items)
    ids = [it.id for it in items]
    emb = np.stack([np.asarray(embeddings[i], "float32") for i in ids]) if embeddings else None
    labels = np.full(n, -1, int)
    given: dict[int, str] = {}
    reps: dict[int, list[str]] = {}
    notes: list[dict[str, Any]] = []
    quality: float | None = None
    topic_k: int | None = None
    decisive = [key for key in KEYS if key not in SYMPTOMS]
    keys = (
        [] if view == "topic" else decisive if view == "mixed" else [*decisive, *(k_ for k_ in KEYS if k_ in SYMPTOMS)]
    )
    groups = [np.asarray(g) for g in _request_groups(items)]
    rests: list[Array] = []
    # Requests under different instructions start apart; inside each, a signature that decides a
    # grade takes exactly the items that have it.
    for rows in groups:
        for key, sub in _by_signature(sig[rows], len(rows), keys).items():
            c = int(labels.max()) + 1
            given[c] = key
            labels[rows[sub]] = c
            reps[c] = [ids[r] for r in rows[sub][:REPRESENTATIVES]]
        rests.append(rows[labels[rows] < 0])
    rests = [r for r in rests if r.size]
    chosen_by = "signature" if given else "too_few"

    def place(rows: Array, sub: list[int], sub_reps: dict[int, list[str]]) -> None:
        offset = int(labels.max()) + 1
        labels[rows] = np.asarray(sub) + offset
        reps.update({c + offset: r for c, r in sub_reps.items()})

    if view == "signature":
        for rows in rests:  # the failures no signature explains, one cluster per request
            place(rows, [0] * len(rows), {0: [ids[r] for r in rows[:REPRESENTATIVES]]})
    elif rests and (k is not None or len(rests) == 1):
        # One instruction (most real logs), or a k from the user: what the failures were about.
        rows = np.sort(np.concatenate(rests)) if rests else np.zeros(0, int)
        if rows.size:
            sub, sub_reps, note = _topic_split(
                [items[i] for i in rows], seed, max_k, k, emb[rows] if emb is not None else None
            )
            chosen_by = "user" if k is not None else "stability" if note["k"] > 1 else chosen_by
            quality, topic_k = note["stability"], note["k"]
            place(rows, sub, sub_reps)
            notes.append(note)
    elif rests:
        chosen_by = "silhouette"
        for rows in rests:
            sub, sub_reps, note = _failure_split(
                [items[i] for i in rows], sig[rows], seed, max_k, emb[rows] if emb is not None else None
            )
            place(rows, sub, sub_reps)
            note["request"] = _request_key(items[rows[0]])[:80]
            notes.append(note)
        topic_k = sum(nt["k"] for nt in notes)
    total = int(labels.max()) + 1
    found = name_clusters(items, labels, total, sig, reps, prefix, given)
    return Discovery(found, len(found), chosen_by, notes, seed, time.perf_counter() - t0, view, quality, topic_k)


def agreement(truth: Sequence[str | None], found: Sequence[str]) -> dict[str, float]:
    """Adjusted Rand index and purity of `found` against `truth` (same order of items)."""
    from collections import Counter

    from sklearn.metrics import adjusted_rand_score

    by: dict[str, Counter[str | None]] = {}
    for t, f in zip(truth, found, strict=True):
        by.setdefault(f, Counter())[t] += 1
    purity = sum(c.most_common(1)[0][1] for c in by.values()) / len(truth) if truth else math.nan
    return {"ari": float(adjusted_rand_score(list(truth), list(found))), "purity": purity}
