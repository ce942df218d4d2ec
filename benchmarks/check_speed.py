"""Time `ftui check` on 10,000 examples with the embedded model's real tokenizer and chat template.

Prints the whole time and where it goes (reading, token counts, duplicates, leakage), so a
regression in any one part shows. Usage: python benchmarks/check_speed.py [N]
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

from ftui.core.base.models import EMBEDDED
from ftui.core.base.tokens import load_for_model
from ftui.core.build import checks, formats

WORDS = [
    "path",
    "config",
    "server",
    "parser",
    "module",
    "handler",
    "token",
    "cache",
    "index",
    "router",
    "schema",
    "query",
    "buffer",
    "socket",
    "thread",
    "worker",
    "request",
    "response",
    "session",
    "limiter",
    "metrics",
    "retry",
    "backoff",
    "timeout",
    "header",
    "cookie",
]


def make_rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        evidence = "\n".join(
            f"def {rng.choice(WORDS)}_{i}_{k}({rng.choice(WORDS)}): return {rng.choice(WORDS)}.{rng.choice(WORDS)}()"
            for k in range(rng.randint(3, 12))
        )
        question = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 20)))
        answer = " ".join(rng.choice(WORDS) + str(rng.randint(0, 99)) for _ in range(rng.randint(5, 80)))
        rows.append(
            {
                "id": f"ex-{i}",
                "messages": [
                    {"role": "system", "content": "You are a code assistant."},
                    {"role": "user", "content": f"Evidence:\n{evidence}\n\nQuestion: {question}?"},
                    {"role": "assistant", "content": answer},
                ],
            }
        )
    # Some real duplicates so that path is exercised too.
    for i in range(0, n, 100):
        rows[i + 1]["messages"] = rows[i]["messages"]
    return rows


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    rows = make_rows(n)
    held = make_rows(n // 7, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        t = time.perf_counter()
        tok = load_for_model(EMBEDDED)
        t_load = time.perf_counter() - t

        t, c = time.perf_counter(), time.process_time()
        refs = checks.references_from_rows(held, "held-out")
        report = checks.run_checks(path, tokenizer=tok, model=EMBEDDED, max_length=1024, references=refs, hosted=True)
        total, cpu = time.perf_counter() - t, time.process_time() - c

        # The parts, measured separately on the same data.
        t = time.perf_counter()
        res = formats.read(path)
        t_read = time.perf_counter() - t
        convs = [r["messages"] for r in res.rows]
        t = time.perf_counter()
        [tok.render(c) for c in convs]
        t_render = time.perf_counter() - t
        t = time.perf_counter()
        tok.count_many(convs)
        t_tokens = time.perf_counter() - t
        t = time.perf_counter()
        checks.run_checks(path, references=refs)
        t_no_tokens = time.perf_counter() - t

    s = report.tokens
    print(
        f"examples: {n:,}  held-out references: {len(refs):,}  tokens: min {s['min']} mean {s['mean']:.0f} max {s['max']}"
    )
    print(f"findings: {len(report.findings)} ({report.by_kind()})")
    print(f"tokenizer load: {t_load:.2f} s")
    print(
        f"check with real tokenizer: {total:.2f} s wall, {cpu:.2f} s CPU (all threads)  ({n / total:,.0f} examples/s)"
    )
    print(f"machine load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(
        f"  read+parse {t_read:.2f} s | template render {t_render:.2f} s | render+encode {t_tokens:.2f} s | "
        f"everything but tokens {t_no_tokens:.2f} s"
    )


if __name__ == "__main__":
    main()
