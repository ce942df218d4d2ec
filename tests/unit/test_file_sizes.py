"""No product file over 500 lines: a file that long holds more than one job and is split by job."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MAX_LINES = 500
SOURCES = ("*.py", "*.tcss")

# Still over the limit and being split; an entry goes as soon as its file is back under.
BEING_SPLIT: set[str] = set()


def line_counts(root: Path) -> dict[str, int]:
    files = sorted({p for pattern in SOURCES for p in (root / "ftui").rglob(pattern) if "__pycache__" not in p.parts})
    return {p.relative_to(root).as_posix(): len(p.read_text(encoding="utf-8").splitlines()) for p in files}


def over_limit(counts: dict[str, int], allowed: set[str]) -> list[str]:
    return [f"{path}: {n} lines" for path, n in sorted(counts.items()) if n > MAX_LINES and path not in allowed]


def test_no_product_file_is_over_the_limit() -> None:
    offenders = over_limit(line_counts(REPO), BEING_SPLIT)
    assert not offenders, f"over {MAX_LINES} lines (split by job):\n" + "\n".join(offenders)


def test_the_allow_list_names_only_files_still_over_the_limit() -> None:
    counts = line_counts(REPO)
    done = sorted(path for path in BEING_SPLIT if counts.get(path, 0) <= MAX_LINES)
    assert not done, "split or gone, take them off BEING_SPLIT:\n" + "\n".join(done)


def test_a_long_file_is_named_with_its_length(tmp_path: Path) -> None:
    (tmp_path / "ftui" / "tui").mkdir(parents=True)
    (tmp_path / "ftui" / "short.py").write_text("x = 1\n" * MAX_LINES)
    (tmp_path / "ftui" / "long.py").write_text("x = 1\n" * (MAX_LINES + 1))
    (tmp_path / "ftui" / "tui" / "pane.tcss").write_text("Static {}\n" * (MAX_LINES + 2))
    counts = line_counts(tmp_path)
    assert over_limit(counts, set()) == ["ftui/long.py: 501 lines", "ftui/tui/pane.tcss: 502 lines"]
    assert over_limit(counts, {"ftui/long.py"}) == ["ftui/tui/pane.tcss: 502 lines"]
