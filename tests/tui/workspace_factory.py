"""A small, deterministic workspace for driving the workbench (tests, tmux, benchmarks)."""

from __future__ import annotations

import json
from pathlib import Path

LABELS = ("wrong_symbol", "ignored_tests", "hallucinated_api")
FILES = ("src/cache.py", "src/store.py", "src/api/routes.py", "src/util/text.py")
SYMBOLS = ("LRUCache.get", "Store.put", "register_routes", "slugify", "Store.flush", "evict")


def item(i: int) -> dict:
    f = FILES[i % len(FILES)]
    sym = SYMBOLS[i % len(SYMBOLS)]
    row = {
        "question_id": f"q{i:03d}",
        "system_prompt": "You are a code assistant. Answer from the evidence only.",
        "evidence_files": [f],
        "evidence_text": f"# {f}\ndef {sym.split('.')[-1]}(self, key):\n    return self._data.get(key)\n",
    }
    kind = i % 10
    if kind in (0, 1, 2, 3):  # wrong_symbol: JSON answers
        row.update(
            question=f"Where is `{sym}` defined?",
            answer=json.dumps({"file_path": FILES[(i + 1) % len(FILES)], "symbol": sym}),
            expected_answer=json.dumps({"file_path": f, "symbol": sym}),
            grade="incorrect",
            retrieval_hit=True,
            failure_label="wrong_symbol",
        )
    elif kind in (4, 5):
        row.update(
            question=f"What does `{sym}` do? Use the tests.",
            answer=f"{sym} deletes the key from the cache.",
            expected_answer=f"{sym} returns the value stored for the key, or None.",
            grade="incorrect",
            retrieval_hit=True,
            failure_label="ignored_tests",
        )
    elif kind == 6:
        row.update(
            question=f"Which API registers `{sym}`?",
            answer="It uses flask.register_blueprint_auto().",
            expected_answer="register_routes(app) in src/api/routes.py",
            grade="incorrect",
            retrieval_hit=True,
            failure_label="hallucinated_api",
        )
    elif kind == 7:
        row.update(
            question=f"Where is `{sym}` tested?",
            answer="I could not find it.",
            expected_answer="tests/test_cache.py",
            grade="incorrect",
            retrieval_hit=False,
            failure_label="wrong_symbol",
        )
    else:
        row.update(
            question=f"Which file holds `{sym}`?",
            answer=f"{f}",
            expected_answer=f"{f}",
            grade="correct",
            retrieval_hit=True,
            failure_label=None,
        )
    return row


def make_workspace(root: Path, n: int = 30, extra_config: str = "") -> Path:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "run_log.jsonl", "w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(json.dumps(item(i)) + "\n")
    (root / "ftui.yaml").write_text(
        "run_log: run_log.jsonl\ntrain:\n  max_steps: 30\n  eval_steps: 5\n" + extra_config,
        encoding="utf-8",
    )
    return root


if __name__ == "__main__":
    import sys

    print(make_workspace(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 30))
