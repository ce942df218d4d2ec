"""How fast a large run log loads and clusters, against the naive loop it replaces.

Generates a 100,000-row graded run log (realistic field sizes, a few failure labels, some
retrieval misses and passing items, a handful of bad lines) in a temp folder, then times
`load_run_log` + `cluster_failures` and, on the same file in the same run, the seed's loop
(json.loads per line + defaultdict grouping). Prints the time, rows/s and the ratio.

    .venv/bin/python benchmarks/runlog_scale.py [--rows N] [--repeat K]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from ftui.core.clusters import cluster_failures
from ftui.core.runlog import load_run_log
from ftui.core.workspace import Workspace

TARGET_S = 2.0
LABELS = ["wrong_field", "ignored_evidence", "hallucinated_path", "format_error", None]
WORDS = [
    "the",
    "function",
    "returns",
    "a",
    "list",
    "of",
    "parsed",
    "config",
    "entries",
    "from",
    "yaml",
    "file",
    "when",
    "loader",
    "raises",
    "error",
    "retry",
    "handler",
    "module",
    "class",
    "import",
    "path",
    "value",
    "default",
    "timeout",
]


def _text(rng: random.Random, n_chars: int) -> str:
    out, size = [], 0
    while size < n_chars:
        w = rng.choice(WORDS)
        out.append(w)
        size += len(w) + 1
    return " ".join(out)


def generate(path: Path, rows: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    system = "You are a code assistant. Answer only from the evidence. " * 3
    # Pools of varied texts keep generation quick; the parser sees the same sizes either way.
    pools = {n: [_text(rng, n) for _ in range(997)] for n in (110, 320, 200, 900)}

    def _text_from_pool(_rng, n):
        return _rng.choice(pools[n])

    with open(path, "w", encoding="utf-8") as fh:
        for i in range(rows):
            r = rng.random()
            grade = "correct" if r < 0.55 else ("acceptable" if r < 0.65 else rng.choice(["incorrect", "partial"]))
            row = {
                "question_id": f"q{i:06d}",
                "question": f"[{i}] " + _text_from_pool(rng, 110) + "?",
                "answer": _text_from_pool(rng, 320),
                "expected_answer": _text_from_pool(rng, 200),
                "grade": grade,
                "retrieval_hit": rng.random() > 0.12,
                "failure_label": None if grade in ("correct", "acceptable") else rng.choice(LABELS),
                "system_prompt": system,
                "evidence_text": _text_from_pool(rng, 900),
                "evidence_files": [
                    f"src/pkg{rng.randrange(40)}/mod{rng.randrange(200)}.py" for _ in range(rng.randint(1, 3))
                ],
            }
            fh.write(json.dumps(row) + "\n")
            if i % 25_000 == 12_345:
                fh.write("{this line is broken\n")


def naive(path: Path) -> dict:
    """The seed's approach: parse every line, filter, group with a defaultdict."""
    clusters = defaultdict(list)
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if entry.get("retrieval_hit") is True and entry.get("grade") not in ("correct", "acceptable"):
                clusters[entry.get("failure_label") or "unlabeled"].append(entry)
    return dict(clusters)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ftui-bench-") as tmp:
        root = Path(tmp)
        log_path = root / "run_log.jsonl"
        t = time.perf_counter()
        generate(log_path, args.rows)
        gen_s = time.perf_counter() - t
        (root / "ftui.yaml").write_text("run_log: run_log.jsonl\n", encoding="utf-8")
        ws = Workspace.load(root)
        size_mb = log_path.stat().st_size / 1e6
        print(f"run log: {args.rows:,} rows, {size_mb:.0f} MB (generated in {gen_s:.1f} s)")

        ours, base, ours_cpu, base_cpu = [], [], [], []
        for _ in range(args.repeat):
            t, c = time.perf_counter(), time.process_time()
            log = load_run_log(ws)
            report = cluster_failures(ws, log)
            ours.append(time.perf_counter() - t)
            ours_cpu.append(time.process_time() - c)
            del log
            t, c = time.perf_counter(), time.process_time()
            groups = naive(log_path)
            base.append(time.perf_counter() - t)
            base_cpu.append(time.process_time() - c)
            del groups
        log = load_run_log(ws)
        groups = naive(log_path)
        naive_failures = sum(len(v) for v in groups.values())
        if naive_failures != report.failures:
            raise SystemExit(f"mismatch: naive found {naive_failures} failures, ftui {report.failures}")
        best, best_base = min(ours), min(base)
        print(
            f"load_run_log + cluster_failures: {best:.2f} s best of {args.repeat} "
            f"(median {statistics.median(ours):.2f} s, CPU {min(ours_cpu):.2f} s), {args.rows / best:,.0f} rows/s"
        )
        print(
            f"naive json.loads loop + defaultdict: {best_base:.2f} s (CPU {min(base_cpu):.2f} s), "
            f"{args.rows / best_base:,.0f} rows/s"
        )
        print(
            f"ratio ftui / naive: {best / best_base:.2f}x  (ftui also validates every field, keeps "
            f"typed items and reports {len(log.diagnostics)} bad lines)"
        )
        print(
            f"clusters: {len(report.clusters)}, failures: {report.failures}, misses: {report.retrieval_misses}, "
            f"passing: {report.passing}"
        )
        verdict = "OK" if best <= TARGET_S else "OVER TARGET"
        load1 = os.getloadavg()[0]
        busy = (
            f" (load average {load1:.1f} on {os.cpu_count()} cores: other work inflates wall time; "
            f"CPU time is the steadier figure)"
            if load1 > (os.cpu_count() or 1) * 0.5
            else ""
        )
        print(f"target <= {TARGET_S:.1f} s for {args.rows:,} rows: {verdict}{busy}")


if __name__ == "__main__":
    main()
