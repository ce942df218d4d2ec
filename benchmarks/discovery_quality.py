"""How well discovery finds the failure clusters of logs without labels, and how fast at scale.

1. Quality on the sample: the sample run log with its `failure_label` field removed goes through
   `ftui discover`'s code; the discovered clusters are compared with the true labels (adjusted Rand
   index, purity). A second row also removes the system prompt and the task, so only the words and
   the failure signatures are left. Target: ARI >= 0.9 on the first row.
2. Quality on real logs (tests/fixtures/evallogs/real, published by others): each item carries a
   category (MT-Bench's question category, AlpacaEval's source dataset) that discovery does not
   see; the clusters are compared with it. Targets, on each log with >= 5 categories: at least
   half as many clusters as categories, and ARI >= 0.3.
3. Scale: 100,000 failures synthesised from the sample's (identifiers, numbers and words varied),
   discovered end to end; on the same items in the same run, the baseline does the plain version of
   the same work: TF-IDF of the concatenated texts and one k-means at the true k (no signatures,
   no choice of k). Target: <= 60 s.

    .venv/bin/python benchmarks/discovery_quality.py [--rows N] [--seed S]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import re
import tempfile
import time
from pathlib import Path

from ftui.core.curate.clusters import cluster_failures
from ftui.core.curate.discovery import agreement, discover
from ftui.core.logs.runlog import load_run_log
from ftui.core.workspace.workspace import Workspace

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
TARGET_ARI, TARGET_S = 0.9, 60.0
REAL_TARGET_ARI, REAL_MIN_CATEGORIES = 0.3, 5


def _workspace(tmp: Path, drop: tuple[str, ...]) -> tuple[Workspace, dict[str, str]]:
    truth = {}
    tmp.mkdir(parents=True, exist_ok=True)
    with open(SAMPLE / "run_log.jsonl", encoding="utf-8") as src, open(tmp / "run_log.jsonl", "w") as dst:
        for line in src:
            row = json.loads(line)
            truth[row["question_id"]] = row.get("failure_label")
            for key in drop:
                row.pop(key, None)
            dst.write(json.dumps(row) + "\n")
    (tmp / "ftui.yaml").write_text((SAMPLE / "ftui.yaml").read_text())
    # The sample's config names its folders (the forgetting check's tasks); they must exist beside it.
    for sub in ("general_tasks",):
        if not (tmp / sub).exists():
            (tmp / sub).symlink_to(SAMPLE / sub)
    return Workspace.load(tmp), truth


def quality(tmp: Path, drop: tuple[str, ...], seed: int, embed: bool = False) -> tuple[dict, float, int, int]:
    ws, truth = _workspace(tmp, drop)
    log = load_run_log(ws)
    failures = [it for c in cluster_failures(ws, log).clusters for it in c.items]
    t0 = time.perf_counter()
    vectors = None
    if embed:
        from ftui.core.curate.embeddings import embed_items

        vectors = embed_items(ws, failures)
    found = discover(failures, seed=seed, embeddings=vectors)
    seconds = time.perf_counter() - t0
    assign = found.assignment
    ids = [it.id for it in failures]
    return agreement([truth[i] for i in ids], [assign[i] for i in ids]), seconds, len(found.clusters), len(ids)


def real_quality(name: str, seed: int) -> dict:
    """Discovery on one real log against its hidden category, and whether the targets hold."""
    from tests.fixtures.evallogs.real import failures

    items, truth = failures(name)
    found = discover(items, seed=seed)
    assign = found.assignment
    m = agreement(truth, [assign[it.id] for it in items])
    categories = len(set(truth))
    applies = categories >= REAL_MIN_CATEGORIES
    met = len(found.clusters) >= categories / 2 and m["ari"] >= REAL_TARGET_ARI
    return {
        **m,
        "failures": len(items),
        "categories": categories,
        "clusters": len(found.clusters),
        "chosen_by": found.chosen_by,
        "stability": found.quality,
        "seconds": found.seconds,
        "target": ("met" if met else "NOT met") if applies else "n/a (< 5 categories)",
    }


_IDENT = re.compile(r"`([^`]+)`|\b[a-z]+_[a-z_]+\b")
_NUM = re.compile(r"\d+")
WORDS = [
    "stock",
    "shelf",
    "item",
    "order",
    "batch",
    "label",
    "token",
    "cache",
    "price",
    "date",
    "row",
    "count",
    "user",
    "report",
    "store",
    "note",
]


def _vary(text: str | None, rng: random.Random) -> str | None:
    if text is None:
        return None
    text = _IDENT.sub(
        lambda m: (
            f"`{rng.choice(WORDS)}_{rng.choice(WORDS)}`" if m.group(1) else f"{rng.choice(WORDS)}_{rng.choice(WORDS)}"
        ),
        text,
    )
    return _NUM.sub(lambda m: str(rng.randint(0, 999)), text)


def synthesise(failures: list, rows: int, seed: int) -> list:
    rng = random.Random(seed)
    out = []
    for i in range(rows):
        it = failures[i % len(failures)]
        out.append(
            dataclasses.replace(
                it,
                id=f"s{i:06d}",
                question=_vary(it.question, rng),
                answer=_vary(it.answer, rng),
                expected=_vary(it.expected, rng),
            )
        )
    return out


def baseline(items: list, k: int, seed: int) -> float:
    from sklearn.cluster import KMeans
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    t0 = time.perf_counter()
    texts = [f"{it.question} {it.answer} {it.expected or ''}" for it in items]
    x = TfidfVectorizer(min_df=2, max_features=20000).fit_transform(texts)
    x = TruncatedSVD(100, random_state=seed).fit_transform(x)
    KMeans(k, n_init=4, random_state=seed).fit_predict(x)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--embeddings", action="store_true", help="also rows with the sample model's embeddings (loads the model)"
    )
    ap.add_argument("--no-scale", action="store_true", help="only the quality rows")
    args = ap.parse_args()
    from sklearn.cluster import KMeans  # noqa: F401  (imported before timing: not discovery's cost)

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        print("Quality on the sample run log, failure_label removed:")
        rows = [
            ("labels removed", ("failure_label",), False),
            ("also system prompt and task removed", ("failure_label", "system_prompt", "task"), False),
        ]
        if args.embeddings:
            rows += [
                ("labels removed, + embeddings", ("failure_label",), True),
                ("also prompt/task removed, + embeddings", ("failure_label", "system_prompt", "task"), True),
            ]
        for title, drop, embed in rows:
            (m, s, k, n) = quality(tmp / title.replace(" ", "_").replace("/", "_"), drop, args.seed, embed)
            print(
                f"  {title:<38} ARI {m['ari']:.3f}  purity {m['purity']:.3f}  ({k} clusters, {n} failures, {s:.1f} s)"
            )
        print(f"  target: ARI >= {TARGET_ARI} on the first row")
        from tests.fixtures.evallogs.real import LOGS

        print("\nQuality on real logs (category hidden from discovery):")
        for log in LOGS:
            r = real_quality(log.name, args.seed)
            stab = f", stability {r['stability']:.2f}" if r["stability"] is not None else ""
            print(
                f"  {log.title:<52} ARI {r['ari']:.3f}  purity {r['purity']:.3f}  "
                f"({r['clusters']} clusters for {r['categories']} categories, {r['failures']} failures, "
                f"k by {r['chosen_by']}{stab}, {r['seconds']:.1f} s) target {r['target']}"
            )
        if args.no_scale:
            return
        ws, truth = _workspace(tmp / "scale", ("failure_label",))
        log = load_run_log(ws)
        failures = [it for c in cluster_failures(ws, log).clusters for it in c.items]
        items = synthesise(failures, args.rows, args.seed)
        t0, c0 = time.perf_counter(), time.process_time()
        found = discover(items, seed=args.seed)
        ftui_s, ftui_cpu = time.perf_counter() - t0, time.process_time() - c0
        c0 = time.process_time()
        base_s = baseline(items, 4, args.seed)
        base_cpu = time.process_time() - c0
        src = {f"s{i:06d}": truth[failures[i % len(failures)].id] for i in range(args.rows)}
        assign = found.assignment
        m2 = agreement([src[it.id] for it in items], [assign[it.id] for it in items])
        print(f"\nScale: {args.rows:,} synthesised failures")
        print(
            f"  ftui discover   {ftui_s:6.1f} s wall, {ftui_cpu:6.1f} s CPU  "
            f"({len(found.clusters)} clusters; ARI {m2['ari']:.3f}, purity {m2['purity']:.3f})"
        )
        print(
            f"  baseline        {base_s:6.1f} s wall, {base_cpu:6.1f} s CPU  (TF-IDF + SVD + one k-means at the true k)"
        )
        print(
            f"  ratio           {ftui_s / base_s:6.2f}x wall, {ftui_cpu / base_cpu:.2f}x CPU; "
            f"target: ftui <= {TARGET_S:.0f} s ({'met' if ftui_s <= TARGET_S else 'not met'} on wall time)"
        )


if __name__ == "__main__":
    main()
