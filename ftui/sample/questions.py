"""The sample benchmark's questions, derived from the sample codebase plus the hand-written file.

Locate-symbol questions and questions about module constants and default arguments come from the
code itself (so they stay true when the code changes); the explain and summarize questions are in
`questions_authored.yaml`. Evidence is what a retriever would have returned: real snippets of the
codebase, each under a `# File:` header. Everything here is deterministic for a given codebase.
"""

from __future__ import annotations

import ast
import json
import random
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ftui.sample.prompts import SYSTEM_PROMPTS

# Keeps prompts near 100-250 tokens (training and evaluation time on a laptop CPU grow with them):
# long functions are cut, with a marker a reader can see. A locate question needs the header and
# the definition line, so its snippets are shorter.
MAX_CHUNK_LINES = 12
LOCATE_CHUNK_LINES = 3

LOCATE_TEMPLATES = (
    "Where is `{name}` defined?",
    "Which file defines `{name}`?",
    "Locate the definition of `{name}`.",
    "In which file is `{name}` declared?",
)

# Locate questions whose retriever returned only unrelated chunks (the answer is not in the
# evidence): one in every LOCATE_MISS_EVERY symbols, chosen by position so the set is stable.
LOCATE_MISS_EVERY = 12


@dataclass
class Question:
    id: str
    task: str
    question: str
    evidence_files: list[str]
    evidence_text: str
    expected: str
    retrieval_hit: bool = True
    system_prompt: str = ""
    extra: dict = field(default_factory=dict)

    def record(self) -> dict:
        return {
            "question_id": self.id,
            "task": self.task,
            "question": self.question,
            "system_prompt": self.system_prompt or SYSTEM_PROMPTS[self.task],
            "evidence_files": self.evidence_files,
            "evidence_text": self.evidence_text,
            "expected_answer": self.expected,
            "retrieval_hit": self.retrieval_hit,
        }


class Codebase:
    """Top-level definitions and constants of every .py file under a folder, with their source."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.files: dict[str, str] = {}
        self.defs: dict[str, dict[str, ast.AST]] = {}
        for path in sorted(self.root.rglob("*.py")):
            rel = path.relative_to(self.root).as_posix()
            text = path.read_text(encoding="utf-8")
            self.files[rel] = text
            tree = ast.parse(text, filename=str(path))
            self.defs[rel] = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))} | {
                n.targets[0].id: n
                for n in tree.body
                if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name)
            }

    def chunk(self, ref: str, max_lines: int = MAX_CHUNK_LINES) -> tuple[str, str]:
        """`path:name` → (path, "# File: path\\n<source of name>"); a bare path → the whole file."""
        path, _, name = ref.partition(":")
        if path not in self.files:
            raise KeyError(f"{ref}: no such file in the sample codebase")
        if not name:
            body = self.files[path].strip("\n")
        else:
            node = self.defs[path].get(name)
            if node is None:
                raise KeyError(f"{ref}: no top-level `{name}` in {path}")
            body = ast.get_source_segment(self.files[path], node) or ""
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.decorator_list:
                lines = self.files[path].splitlines()
                body = "\n".join(lines[node.decorator_list[0].lineno - 1 : node.end_lineno])
        lines = body.splitlines()
        if len(lines) > max_lines:
            lines = [*lines[:max_lines], "    ..."]
        return path, f"# File: {path}\n" + "\n".join(lines)

    def constants_chunk(self, path: str) -> str:
        lines = [
            ast.get_source_segment(self.files[path], n) for n in self.defs[path].values() if isinstance(n, ast.Assign)
        ]
        return f"# File: {path}\n" + "\n".join(lines)

    def symbols(self) -> list[tuple[str, str]]:
        """(path, name) for every function and class a user might ask to locate."""
        out = []
        for path, defs in self.defs.items():
            for name, node in defs.items():
                if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                    if path.startswith("tests/") and not name.startswith("test_"):
                        continue
                    out.append((path, name))
        return out


def _rng(key: str) -> random.Random:
    return random.Random(zlib.crc32(key.encode()))


def _evidence(code: Codebase, refs: list[str], max_lines: int = MAX_CHUNK_LINES) -> tuple[list[str], str]:
    files, texts = [], []
    for ref in refs:
        path, text = code.chunk(ref, max_lines)
        if path not in files:
            files.append(path)
        texts.append(text)
    return files, "\n\n".join(texts)


def locate_questions(code: Codebase) -> list[Question]:
    symbols = code.symbols()
    out = []
    for i, (path, name) in enumerate(symbols):
        rng = _rng(f"locate:{path}:{name}")
        others = [(p, n) for p, n in symbols if p != path]
        miss = i % LOCATE_MISS_EVERY == LOCATE_MISS_EVERY - 1
        # The retriever's top hit: the symbol's own snippet, or (a miss) an unrelated one.
        refs = [f"{path}:{name}"]
        if miss:
            other = rng.choice(others)
            refs = [f"{other[0]}:{other[1]}"]
        files, text = _evidence(code, refs, LOCATE_CHUNK_LINES)
        out.append(
            Question(
                id=f"locate-{name.lower().replace('_', '-')}",
                task="locate_symbol",
                question=LOCATE_TEMPLATES[i % len(LOCATE_TEMPLATES)].format(name=name),
                evidence_files=files,
                evidence_text=text,
                expected=json.dumps({"file_path": path, "symbol": name}),
                retrieval_hit=not miss,
            )
        )
    return out


def constant_questions(code: Codebase) -> list[Question]:
    """One question per module constant with a literal value, and per literal default argument."""
    out = []
    for path, defs in code.defs.items():
        if not path.startswith("larder/"):
            continue
        for name, node in defs.items():
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                value = node.value.value
                if not isinstance(value, (int, str)) or len(str(value)) < 2:
                    continue
                out.append(
                    Question(
                        id=f"fact-{name.lower().replace('_', '-')}",
                        task="factual",
                        question=f"What is the value of `{name}`?",
                        evidence_files=[path],
                        evidence_text=code.constants_chunk(path),
                        expected=str(value),
                    )
                )
            elif isinstance(node, ast.FunctionDef):
                args = node.args.args[len(node.args.args) - len(node.args.defaults) :]
                for arg, default in zip(args, node.args.defaults, strict=False):
                    if (
                        isinstance(default, ast.Constant)
                        and isinstance(default.value, (int, str))
                        and len(str(default.value)) >= 1
                    ):
                        if isinstance(default.value, bool):
                            continue
                        files, text = _evidence(code, [f"{path}:{name}"])
                        out.append(
                            Question(
                                id=f"fact-default-{name.lower().replace('_', '-')}-{arg.arg.replace('_', '-')}",
                                task="factual",
                                question=f"What is the default value of the `{arg.arg}` parameter of `{name}`?",
                                evidence_files=files,
                                evidence_text=text,
                                expected=str(default.value),
                            )
                        )
    return out


def authored_questions(code: Codebase, authored: Path) -> list[Question]:
    data = yaml.safe_load(Path(authored).read_text(encoding="utf-8")) or {}
    out = []
    for task, entries in data.items():
        if task not in SYSTEM_PROMPTS:
            raise ValueError(f"{authored}: unknown question type {task!r}; one of {', '.join(SYSTEM_PROMPTS)}")
        for e in entries:
            files, text = _evidence(code, list(e["evidence"]))
            out.append(
                Question(
                    id=e["id"],
                    task=task,
                    question=e["question"],
                    evidence_files=files,
                    evidence_text=text,
                    expected=str(e["expected"]),
                    retrieval_hit=bool(e.get("retrieval_hit", True)),
                )
            )
    return out


def all_questions(sample_dir: Path) -> list[Question]:
    sample_dir = Path(sample_dir)
    code = Codebase(sample_dir / "codebase")
    qs = (
        locate_questions(code)
        + constant_questions(code)
        + authored_questions(code, sample_dir / "questions_authored.yaml")
    )
    seen: set[str] = set()
    for q in qs:
        if q.id in seen:
            raise ValueError(f"duplicate question id {q.id}")
        seen.add(q.id)
    return qs
