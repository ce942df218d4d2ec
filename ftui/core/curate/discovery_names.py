"""Discovered clusters' names, descriptions and examples.

Names come from what defines a cluster: a signature every one of its items has and few others do
("prose_where_json_expected"), else its most distinguishing words against the other clusters
(class-based TF-IDF: a term's frequency in the cluster, weighted by how rare it is across them).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ftui.core.curate.discovery_vectors import Array, clip_text
from ftui.core.grade.signatures import BY_KEY, KEYS
from ftui.core.logs.items import Item

REPRESENTATIVES = 3
# A signature names a cluster when this share of it has it, and this much less of the rest: all
# of it, so a cluster named after a way of failing holds only failures that fail that way.
DEFINING_SHARE, DEFINING_LIFT = 1.0, 0.3
_SLUG = re.compile(r"[^a-z0-9]+")


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


def representatives(ids: Sequence[str], x: Array, labels: Array) -> dict[int, list[str]]:
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

    docs = [f"{clip_text(it.question)} {clip_text(it.answer)[:600]}" for it in items]
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
    out = []
    for c in range(k):
        # Words a fifth of the cluster uses; a cluster of varied topics falls back to a twentieth.
        for share in (0.2, 0.05):
            kept = score[c] * (docfreq[c] >= share)
            order = np.argsort(-kept, kind="stable")[:top]
            words = [str(vocab[j]) for j in order if kept[j] > 0]
            if words:
                break
        out.append(words)
    return out


def name_clusters(
    items: Sequence[Item],
    labels: Array,
    k: int,
    sig: Array,
    reps: dict[int, list[str]],
    prefix: str,
    given: dict[int, str] | None = None,
) -> list[Found]:
    """Name clusters 0..k-1 of `labels`; `given` names the clusters made of one signature's items."""
    import numpy as np

    given = given or {}
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
        best = given.get(c, best)
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
