"""Failures as vectors: how discovery sees an item's words and how it failed.

Two kinds. The failure vector (`failure_vectors`): TF-IDF word n-grams of the question and the
grader's reason, word and character n-grams of the answer, character n-grams of the expected
answer (its shape: JSON, a number, a sentence), reduced to a dense space, plus the failure
signatures of `ftui.core.grade.signatures`; it separates failures asked under different
instructions. The topic pipeline (`topic_pipeline`): a scikit-learn Pipeline of TF-IDF word
counts of the question, the answer and the grader's reason, reduced to a few dimensions and
clustered by k-means; it tells what the failures of one instruction were about.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ftui.core.grade.signatures import KEYS, signatures
from ftui.core.logs.items import Item

if TYPE_CHECKING:
    from numpy.typing import NDArray

    Array = NDArray[Any]
else:
    Array = Any

# k-means is fitted on at most this many items; the rest are assigned to the nearest centre.
FIT_SAMPLE = 8000
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
# Topics live in few directions of sparse text: on real logs (tests/fixtures/evallogs/real) ten
# SVD dimensions separate categories that a hundred blur.
TOPIC_DIMS = 10
# Question, answer, grader's reason. A grader's reason says what was asked and what went wrong
# in the grader's own steady words; it separated the real logs' categories best.
TOPIC_WEIGHTS = (1.0, 1.0, 2.0)


_CODE = re.compile(r"`[^`\n]{1,80}`")


def clip_text(s: str | None) -> str:
    # Inline code is the item's topic (a symbol's name), not how it failed.
    return _CODE.sub(" ", (s or "")[:FIELD_CHARS])


def _text_specs(items: Sequence[Item], request: bool) -> list[tuple[list[str], str, float]]:
    specs = [
        ([clip_text(it.question) for it in items], "word", QUESTION_WEIGHT),
        # What the model was asked to do: the system prompt (and the task, when logged) often
        # says "answer in JSON" or "in one sentence", which is what a failure breaks.
        ([f"{clip_text(it.system_prompt)} {it.task or ''}" for it in items], "word", REQUEST_WEIGHT),
        ([clip_text(it.answer) for it in items], "word", 1.0),
        ([clip_text(it.answer)[:400] for it in items], "char", 0.7),
        ([clip_text(it.expected)[:400] for it in items], "char", 0.7),
        ([clip_text(it.grade_reason) for it in items], "word", 0.7),
    ]
    if not request:
        del specs[1]
    return specs


def text_matrix(items: Sequence[Item], fit_rows: Array, request: bool) -> Any:
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


def signature_matrix(items: Sequence[Item]) -> Array:
    import numpy as np

    return np.array([list(signatures(it.question, it.answer, it.expected).values()) for it in items], "float32")


def failure_vectors(
    items: Sequence[Item], seed: int, request: bool = True, sig: Array | None = None, emb: Array | None = None
) -> tuple[Array, Array]:
    """One row per item: the reduced, unit-length text part, then the weighted signatures."""
    import numpy as np
    from sklearn.decomposition import TruncatedSVD
    from sklearn.preprocessing import normalize

    n = len(items)
    fit_rows = sample_rows(n, seed)
    if sig is None:
        sig = signature_matrix(items)
    text = text_matrix(items, fit_rows, request)
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


def kmeans(k: int, seed: int, n_init: int = 4) -> Any:
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, n_init=n_init, random_state=seed)


def sample_rows(n: int, seed: int) -> Array:
    import numpy as np

    if n <= FIT_SAMPLE:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, FIT_SAMPLE, replace=False))


def topic_texts(items: Sequence[Item]) -> Array:
    """One row per item: its question, answer and grader's reason (the topic pipeline's input)."""
    import numpy as np

    rows = [[clip_text(it.question), clip_text(it.answer), clip_text(it.grade_reason)] for it in items]
    return np.array(rows, dtype=object).reshape(len(items), 3)


def topic_pipeline(texts: Array, k: int, seed: int, n_init: int = 10) -> Any:
    """TF-IDF of each text column, reduced and unit length, then k-means: one Pipeline, seeded."""
    from sklearn.cluster import KMeans
    from sklearn.compose import ColumnTransformer
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import Normalizer

    n = texts.shape[0]

    def vectorizer() -> Any:
        return TfidfVectorizer(sublinear_tf=True, stop_words="english", min_df=2 if n >= 10 else 1, max_df=0.5)

    # A column with no term that some items share and most do not says nothing about topics.
    columns = []
    for c in range(texts.shape[1]):
        try:
            vectorizer().fit(texts[:, c])
        except ValueError:
            continue
        columns.append(c)
    if not columns:
        raise ValueError("no text column has a term to group on")
    vectorizers = [(f"text{c}", vectorizer(), c) for c in columns]
    dims = max(1, min(TOPIC_DIMS, n - 1))
    return Pipeline(
        [
            (
                "tfidf",
                ColumnTransformer(vectorizers, transformer_weights={f"text{c}": TOPIC_WEIGHTS[c] for c in columns}),
            ),
            ("svd", TruncatedSVD(n_components=dims, random_state=seed)),
            ("unit", Normalizer()),
            ("kmeans", KMeans(n_clusters=k, n_init=n_init, random_state=seed)),
        ]
    )


def topic_vectors(texts: Array, seed: int) -> Array | None:
    """The pipeline's reduced, unit-length rows (its steps before k-means), or None without terms."""
    try:
        rows: Array = topic_pipeline(texts, 1, seed)[:-1].fit_transform(texts)
        return rows
    except ValueError:  # no term survives (every text empty, or stop words only)
        return None
