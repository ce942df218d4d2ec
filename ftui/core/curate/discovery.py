"""Finding the failure clusters of a log that has no labels.

Each failure becomes one vector: TF-IDF word n-grams of the question and the grader's reason,
word and character n-grams of the answer, character n-grams of the expected answer (its shape:
JSON, a number, a sentence), reduced to a dense space, plus the failure signatures of
`ftui.core.grade.signatures` (how the answer failed). k-means groups them, for every k in a range,
and the k with the best silhouette wins unless the user gives one. Everything is seeded, so the
same items and seed give the same clusters.

Names come from what defines a cluster: a signature most of its items share and few others do
("prose_where_json_expected"), else its most distinguishing words against the other clusters
(class-based TF-IDF: a term's frequency in the cluster, weighted by how rare it is across them).
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ftui.core.grade.signatures import BY_KEY, KEYS, signatures
from ftui.core.logs.runlog import Item

if TYPE_CHECKING:
    from numpy.typing import NDArray

    Array = NDArray[Any]
else:
    Array = Any

DEFAULT_MAX_K = 12
# k is chosen, and k-means fitted, on at most this many items; the rest are assigned to the
# nearest centre. Silhouette is quadratic in the items it scores.
FIT_SAMPLE = 8000
SELECT_SAMPLE = 2000
# How much the failure signatures weigh against the (unit-length) text part of a vector. A
# signature that decides a grade on its own (prose for JSON, a refusal) weighs more than a symptom
# many kinds of failure share (long, cut at the token limit).
SIGNATURE_WEIGHT = 0.8
SYMPTOM_WEIGHT = 0.3
SYMPTOMS = frozenset({"too_long", "too_short", "truncated", "code_fence", "repeats_question", "wrong_number"})
QUESTION_WEIGHT = 1.0
# The model's own embedding (optional), unit length like the text part.
EMBEDDING_WEIGHT = 1.0
REQUEST_WEIGHT = 1.0
FIELD_CHARS = 1500
MIN_SHARE = 0.05
REPRESENTATIVES = 3
# A request group is split only when it has this many failures and its best split scores this
# silhouette: below it, the "clusters" are phrasings of one failure.
MIN_SPLIT, SPLIT_MIN = 8, 0.3
# A signature defines a cluster when at least this share of it has it, and this much less of the rest.
DEFINING_SHARE, DEFINING_LIFT = 0.6, 0.3
_SLUG = re.compile(r"[^a-z0-9]+")


class DiscoveryError(Exception):
    pass


@dataclass
class Found:
    """One discovered cluster."""

    name: str
    description: str
    ids: list[str]
    signature: str | None = None
    terms: list[str] = field(default_factory=list)
    representatives: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "signature": self.signature,
            "terms": self.terms,
            "representatives": self.representatives,
            "ids": self.ids,
        }


@dataclass
class Discovery:
    clusters: list[Found]
    k: int
    chosen_by: str  # "silhouette", "user" or "too_few"
    groups: list[dict[str, Any]]  # per request group: its size, the k chosen and the silhouettes tried
    seed: int
    seconds: float

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


_CODE = re.compile(r"`[^`\n]{1,80}`")


def _clip(s: str | None) -> str:
    # Inline code is the item's topic (a symbol's name), not how it failed.
    return _CODE.sub(" ", (s or "")[:FIELD_CHARS])


def _text_specs(items: Sequence[Item], request: bool) -> list[tuple[list[str], str, float]]:
    specs = [
        ([_clip(it.question) for it in items], "word", QUESTION_WEIGHT),
        # What the model was asked to do: the system prompt (and the task, when logged) often
        # says "answer in JSON" or "in one sentence", which is what a failure breaks.
        ([f"{_clip(it.system_prompt)} {it.task or ''}" for it in items], "word", REQUEST_WEIGHT),
        ([_clip(it.answer) for it in items], "word", 1.0),
        ([_clip(it.answer)[:400] for it in items], "char", 0.7),
        ([_clip(it.expected)[:400] for it in items], "char", 0.7),
        ([_clip(it.grade_reason) for it in items], "word", 0.7),
    ]
    if not request:
        del specs[1]
    return specs


def _text_matrix(items: Sequence[Item], fit_rows: Array, request: bool) -> Any:
    """TF-IDF blocks, fitted on `fit_rows` and applied to every item, row-normalised and weighted."""
    import numpy as np
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer

    n_fit = len(fit_rows)
    # Terms that recur across failures describe a kind of failure ("Summarize", "use the tests");
    # a term only one or two items use (an identifier, a name) describes its topic.
    min_df = max(2, math.ceil(MIN_SHARE * n_fit)) if n_fit >= 20 else 1
    opts: dict[str, dict[str, Any]] = {
        "word": {"analyzer": "word", "ngram_range": (1, 2)},
        "char": {"analyzer": "char_wb", "ngram_range": (3, 4)},
    }
    blocks = []
    for texts, kind, weight in _text_specs(items, request):
        sample = [texts[i] for i in fit_rows]
        if not any(t.strip() for t in sample):
            continue
        vec = TfidfVectorizer(dtype=np.float32, sublinear_tf=True, min_df=min_df, max_features=20000, **opts[kind])
        try:
            vec.fit(sample)
        except ValueError:  # no term survives (every text empty or stop words only)
            continue
        blocks.append(vec.transform(texts) * weight)
    return hstack(blocks).tocsr() if blocks else None


def _signature_matrix(items: Sequence[Item]) -> Array:
    import numpy as np

    return np.array([list(signatures(it.question, it.answer, it.expected).values()) for it in items], "float32")


def _vectors(
    items: Sequence[Item], seed: int, request: bool = True, sig: Array | None = None, emb: Array | None = None
) -> tuple[Array, Array]:
    """One row per item: the reduced, unit-length text part, then the weighted signatures."""
    import numpy as np
    from sklearn.decomposition import TruncatedSVD
    from sklearn.preprocessing import normalize

    n = len(items)
    fit_rows = _sample_rows(n, seed)
    if sig is None:
        sig = _signature_matrix(items)
    text = _text_matrix(items, fit_rows, request)
    if text is not None:
        dims = min(100, text.shape[1] - 1, len(fit_rows) - 1)
        if dims >= 2:
            svd = TruncatedSVD(n_components=dims, random_state=seed, algorithm="randomized", n_iter=4)
            svd.fit(text[fit_rows])
            dense = svd.transform(text)
        else:
            dense = text.toarray()
        dense = normalize(dense).astype("float32")
    else:
        dense = np.zeros((n, 1), "float32")
    weights = np.array([SYMPTOM_WEIGHT if key in SYMPTOMS else SIGNATURE_WEIGHT for key in KEYS], "float32")
    parts = [dense, sig * weights]
    if emb is not None:
        parts.insert(1, normalize(emb).astype("float32") * EMBEDDING_WEIGHT)
    return np.hstack(parts), sig


def _kmeans(k: int, seed: int, n_init: int = 4) -> Any:
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, n_init=n_init, random_state=seed)


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
        labels = _kmeans(k, seed, n_init=2).fit_predict(x)
        if len(set(labels.tolist())) < 2:
            continue
        scores[k] = float(silhouette_score(x, labels))
    if not scores:
        return 1, scores
    # Ties go to the smaller k: fewer clusters are easier to read and to correct.
    best = max(scores, key=lambda k: (round(scores[k], 3), -k))
    return best, scores


def _representatives(ids: Sequence[str], x: Array, labels: Array) -> dict[int, list[str]]:
    """Per cluster, the items nearest its centre: what it looks like, in a few examples."""
    import numpy as np

    out = {}
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        centre = x[rows].mean(axis=0)
        dist = ((x[rows] - centre) ** 2).sum(axis=1)
        out[int(c)] = [ids[rows[j]] for j in np.argsort(dist, kind="stable")[:REPRESENTATIVES]]
    return out


def _slug(text: str) -> str:
    return _SLUG.sub("_", text.lower()).strip("_")


def _distinguishing_terms(items: Sequence[Item], labels: Array, k: int, top: int = 4) -> list[list[str]]:
    """Per cluster, the words that set it apart from the others (class-based TF-IDF)."""
    import numpy as np
    from sklearn.feature_extraction.text import CountVectorizer

    docs = [f"{_clip(it.question)} {_clip(it.answer)[:600]}" for it in items]
    try:
        cv = CountVectorizer(stop_words="english", token_pattern=r"(?u)\b[^\W\d_]{3,}\b", max_features=30000)
        counts = cv.fit_transform(docs)
    except ValueError:
        return [[] for _ in range(k)]
    vocab = cv.get_feature_names_out()
    per = np.zeros((k, counts.shape[1]), "float64")
    for c in range(k):
        rows = np.flatnonzero(labels == c)
        if rows.size:
            per[c] = np.asarray(counts[rows].sum(axis=0)).ravel()
    totals = per.sum(axis=0)
    avg_words = per.sum() / k
    tf = per / np.maximum(per.sum(axis=1, keepdims=True), 1)
    score = tf * np.log1p(avg_words / np.maximum(totals, 1))
    # A term used by a single item of a large cluster distinguishes nothing.
    docfreq = np.zeros_like(per)
    binary = (counts > 0).astype("float64")
    for c in range(k):
        rows = np.flatnonzero(labels == c)
        if rows.size:
            docfreq[c] = np.asarray(binary[rows].sum(axis=0)).ravel() / rows.size
    score *= docfreq >= min(0.2, 1.0)
    out = []
    for c in range(k):
        order = np.argsort(-score[c], kind="stable")[:top]
        out.append([str(vocab[j]) for j in order if score[c, j] > 0])
    return out


def _name_clusters(
    items: Sequence[Item], labels: Array, k: int, sig: Array, reps: dict[int, list[str]], prefix: str
) -> list[Found]:
    import numpy as np

    terms = _distinguishing_terms(items, labels, k)
    found: list[Found] = []
    for c in range(k):
        rows = np.flatnonzero(labels == c)
        if not rows.size:
            continue
        inside = sig[rows].mean(axis=0)
        rest = np.delete(sig, rows, axis=0)
        outside = rest.mean(axis=0) if rest.shape[0] else np.zeros_like(inside)
        best, best_score = None, 0.0
        for j, key in enumerate(KEYS):
            if inside[j] >= DEFINING_SHARE and inside[j] - outside[j] >= DEFINING_LIFT:
                s = inside[j] * (inside[j] - outside[j])
                if s > best_score:
                    best, best_score = key, s
        words = terms[c]
        n = rows.size
        if best is not None:
            s = BY_KEY[best]
            name = s.slug
            desc = f"{s.phrase} ({round(inside[KEYS.index(best)] * n)} of {n})"
            if words:
                desc += f"; about: {', '.join(words[:3])}"
        else:
            name = "about_" + "_".join(words[:2]) if words else "misc"
            common = [BY_KEY[key].phrase for j, key in enumerate(KEYS) if inside[j] >= 0.5]
            desc = f"failures about {', '.join(words[:3]) or 'mixed topics'}"
            if common:
                desc += f"; mostly {', '.join(common)}"
        found.append(
            Found(
                name=prefix + _slug(name),
                description=desc,
                ids=[items[int(r)].id for r in rows],
                signature=best,
                terms=words,
                representatives=reps.get(c, []),
            )
        )
    # Two clusters with one defining signature: the words tell them apart.
    seen: dict[str, int] = {}
    for f in sorted(found, key=lambda f: -len(f.ids)):
        if f.name in seen:
            extra = next((w for w in f.terms if w not in f.name), None)
            base = f"{f.name}_{_slug(extra)}" if extra else f.name
            name, i = base, 2
            while name in seen:
                name, i = f"{base}_{i}", i + 1
            f.name = name
        seen[f.name] = 1
    found.sort(key=lambda f: (-len(f.ids), f.name))
    return found


def _request_key(item: Item) -> str:
    return " ".join(f"{item.system_prompt or ''} {item.task or ''}".split()).lower()


def _request_groups(items: Sequence[Item]) -> list[list[int]]:
    """Items asked under the same instructions (system prompt and task), largest group first."""
    groups: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        groups.setdefault(_request_key(it), []).append(i)
    return sorted(groups.values(), key=lambda rows: (-len(rows), rows[0]))


def _split(
    items: Sequence[Item], sig: Array, seed: int, max_k: int, emb: Array | None = None
) -> tuple[list[int], dict[int, list[str]], dict[str, Any]]:
    """One request group's clusters (0..k-1), split only where its failures clearly differ."""
    import numpy as np

    n = len(items)
    note: dict[str, Any] = {"items": n, "k": 1, "silhouette": None}
    if n < MIN_SPLIT:
        return [0] * n, {0: [it.id for it in items[:REPRESENTATIVES]]}, note
    x, _ = _vectors(items, seed, request=False, sig=sig, emb=emb)
    k, scores = _choose_k(x[_sample_rows(n, seed)], seed, max_k)
    note["silhouettes"] = {str(kk): round(v, 4) for kk, v in scores.items()}
    labels = np.zeros(n, int)
    if k > 1 and scores[k] >= SPLIT_MIN:
        note.update(k=k, silhouette=round(scores[k], 4))
        labels = _kmeans(k, seed).fit(x[_sample_rows(n, seed)]).predict(x)
    return labels.tolist(), _representatives([it.id for it in items], x, labels), note


def _sample_rows(n: int, seed: int) -> Array:
    import numpy as np

    if n <= FIT_SAMPLE:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, FIT_SAMPLE, replace=False))


def discover(*args: Any, **kwargs: Any) -> Discovery:
    """Cluster `items` (failures) by how they failed; see `_discover`."""
    import warnings

    from threadpoolctl import threadpool_limits

    # k-means on a few thousand rows is over before its OpenMP threads pay for themselves; on a
    # shared CPU their spin-waits made a 24-item run take seconds. One thread: same result.
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        # k-means says when a sample has fewer distinct points than k; the silhouette then decides.
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
) -> Discovery:
    """Cluster `items` (failures) by how they failed; `prefix` names sub-clusters of a labeled one.

    Failures asked under different instructions (system prompt, task) are different requests and
    start apart; inside each, k-means on the vectors splits them when the best silhouette says the
    groups are clearly apart (at least SPLIT_MIN). A k from the user clusters all items at once.
    """
    import numpy as np

    t0 = time.perf_counter()
    items = sorted(items, key=lambda it: it.id)  # the log's order must not change the result
    n = len(items)
    if n == 0:
        raise DiscoveryError("no failures to group")
    if k is not None and k < 1:
        raise DiscoveryError(f"the number of clusters must be at least 1, got {k}")
    sig = _signature_matrix(items)
    ids = [it.id for it in items]
    emb = np.stack([np.asarray(embeddings[i], "float32") for i in ids]) if embeddings else None
    groups_note: list[dict[str, Any]] = []
    reps: dict[int, list[str]] = {}
    if k is not None:
        k = min(k, n)
        chosen_by = "user"
        labels = np.zeros(n, int)
        if k > 1:
            x, _ = _vectors(items, seed, sig=sig, emb=emb)
            labels = _kmeans(k, seed).fit(x[_sample_rows(n, seed)]).predict(x)
            reps = _representatives(ids, x, labels)
        else:
            reps = {0: ids[:REPRESENTATIVES]}
    else:
        chosen_by = "silhouette"
        labels = np.zeros(n, int)
        offset = 0
        for rows in _request_groups(items):
            sub, sub_reps, note = _split(
                [items[i] for i in rows], sig[rows], seed, max_k, emb[rows] if emb is not None else None
            )
            labels[rows] = np.asarray(sub) + offset
            reps.update({c + offset: r for c, r in sub_reps.items()})
            offset += max(sub) + 1
            note["request"] = _request_key(items[rows[0]])[:80]
            groups_note.append(note)
        k = offset
    found = _name_clusters(items, labels, k, sig, reps, prefix)
    return Discovery(found, len(found), chosen_by, groups_note, seed, time.perf_counter() - t0)


def agreement(truth: Sequence[str | None], found: Sequence[str]) -> dict[str, float]:
    """Adjusted Rand index and purity of `found` against `truth` (same order of items)."""
    from collections import Counter

    from sklearn.metrics import adjusted_rand_score

    by: dict[str, Counter[str | None]] = {}
    for t, f in zip(truth, found, strict=True):
        by.setdefault(f, Counter())[t] += 1
    purity = sum(c.most_common(1)[0][1] for c in by.values()) / len(truth) if truth else math.nan
    return {"ari": float(adjusted_rand_score(list(truth), list(found))), "purity": purity}
