from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from types import SimpleNamespace

import pytest

from ftui.core.curate import corrections as corr_mod
from ftui.core.curate.corrections import CorrectionError, CorrectionStore, answer_hash
from ftui.core.curate.progress import Progress, count_progress


def item(i, answer="wrong answer"):
    return SimpleNamespace(id=str(i), answer=answer)


def test_save_get_reload_and_counts(tmp_path):
    store = CorrectionStore(tmp_path)
    c = store.save(item("q1"), "the right answer")
    assert c.status == "corrected" and c.output == "the right answer"
    assert c.original_hash == answer_hash("wrong answer")
    assert c.updated.endswith("Z") and "T" in c.updated
    store.skip(item("q2"))
    store.mark_review(item("q3"), "maybe this")
    fresh = CorrectionStore(tmp_path)
    assert fresh.get("q1").output == "the right answer"
    assert fresh.get("q2").status == "skipped"
    assert fresh.get("q3").status == "needs_review" and fresh.get("q3").output == "maybe this"
    status = {k: c.status for k, c in fresh.all().items()}
    assert count_progress(status, status.get) == Progress(total=3, corrected=1, skipped=1, needs_review=1)
    assert count_progress(["q1", "q2", "nope"], status.get) == Progress(total=3, corrected=1, skipped=1)
    assert (tmp_path / "corrections" / "journal.jsonl").exists()


def test_last_save_wins_and_revert_is_durable(tmp_path):
    store = CorrectionStore(tmp_path)
    store.save(item("q1"), "first")
    store.save(item("q1"), "second")
    assert CorrectionStore(tmp_path).get("q1").output == "second"
    store.revert("q1")
    assert store.get("q1") is None
    assert CorrectionStore(tmp_path).get("q1") is None
    store.revert("never-saved")  # no error, no entry
    lines = (tmp_path / "corrections" / "journal.jsonl").read_text().splitlines()
    assert len(lines) == 3


def test_skip_keeps_text_and_mark_review_keeps_text(tmp_path):
    store = CorrectionStore(tmp_path)
    store.save(item("q1"), "draft")
    assert store.skip(item("q1")).output == "draft"
    assert store.mark_review(item("q1")).output == "draft"
    assert store.get("q1").status == "needs_review"


def test_rejects_bad_status_and_empty_correction(tmp_path):
    store = CorrectionStore(tmp_path)
    with pytest.raises(CorrectionError, match="unknown status"):
        store.save(item("q1"), "x", status="done")
    with pytest.raises(CorrectionError, match="empty correction"):
        store.save(item("q1"), "   ")
    assert store.all() == {}


def test_stale_when_run_log_answer_changes(tmp_path):
    store = CorrectionStore(tmp_path)
    c = store.save(item("q1", answer="old"), "fixed")
    assert not c.is_stale(item("q1", answer="old"))
    assert c.is_stale(item("q1", answer="new"))


def test_accepts_workspace_like_object(tmp_path):
    from ftui.core.base.paths import StatePaths

    ws = SimpleNamespace(state=StatePaths(tmp_path / ".ftui"))
    CorrectionStore(ws).save(item("a"), "x")
    assert CorrectionStore(tmp_path / ".ftui").get("a").output == "x"
    assert CorrectionStore(StatePaths(tmp_path / ".ftui")).get("a").output == "x"


def test_other_instance_sees_new_writes(tmp_path):
    a, b = CorrectionStore(tmp_path), CorrectionStore(tmp_path)
    assert b.all() == {}
    a.save(item("q1"), "one")
    assert b.get("q1").output == "one"
    b.save(item("q2"), "two")
    a.revert("q1")
    assert set(a.all()) == {"q2"} and set(b.all()) == {"q2"}


def test_torn_last_line_is_ignored_then_sealed(tmp_path):
    store = CorrectionStore(tmp_path)
    store.save(item("q1"), "one")
    journal = tmp_path / "corrections" / "journal.jsonl"
    with open(journal, "ab") as fh:
        fh.write(b'{"id": "q2", "output": "half')
    fresh = CorrectionStore(tmp_path)
    assert set(fresh.all()) == {"q1"}
    fresh.save(item("q3"), "three")
    again = CorrectionStore(tmp_path)
    assert set(again.all()) == {"q1", "q3"}
    assert len(again.problems) == 1
    assert again.problems[0].startswith(f"{journal}:2: skipped unreadable entry")


def test_compaction_keeps_everything(tmp_path, monkeypatch):
    monkeypatch.setattr(corr_mod, "COMPACT_SLACK", 5)
    store = CorrectionStore(tmp_path)
    other = CorrectionStore(tmp_path)
    for n in range(40):
        store.save(item(f"q{n % 7}"), f"text {n}")
        if n % 9 == 0:
            other.save(item(f"o{n}"), "from other")
    store.revert("q0")
    snap = tmp_path / "corrections" / "snapshot.json"
    assert snap.exists()
    journal_lines = (tmp_path / "corrections" / "journal.jsonl").read_text().count("\n")
    assert journal_lines < 20
    expected = {f"q{k}" for k in range(1, 7)} | {f"o{n}" for n in range(0, 40, 9)}
    for s in (store, other, CorrectionStore(tmp_path)):
        assert set(s.all()) == expected
    assert CorrectionStore(tmp_path).get("q4").output == "text 39"


WRITER = textwrap.dedent(
    """
    import sys
    from types import SimpleNamespace
    from ftui.core.curate import corrections
    corrections.COMPACT_SLACK = int(sys.argv[3])
    store = corrections.CorrectionStore(sys.argv[1])
    prefix = sys.argv[2]
    n = 0
    while True:
        it = SimpleNamespace(id=f"{prefix}-{n}", answer="a")
        store.save(it, "corrected text " * 20 + str(n))
        # Overwrites make compaction worth doing, so kills also land during compaction.
        store.save(SimpleNamespace(id=f"{prefix}-hot", answer="a"), str(n))
        print(it.id, flush=True)
        n += 1
        if len(sys.argv) > 4 and n >= int(sys.argv[4]):
            break
    """
)


def _writer(tmp_path, prefix, slack, limit=None):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    args = [sys.executable, str(script), str(tmp_path / "state"), prefix, str(slack)]
    if limit is not None:
        args.append(str(limit))
    return subprocess.Popen(args, stdout=subprocess.PIPE, text=True)


def _read_acked(proc) -> list[str]:
    out, _ = proc.communicate()
    return out.split()


def test_kill9_in_a_loop_never_loses_an_acknowledged_save(tmp_path):
    rng = random.Random(7)
    acked: set[str] = set()
    for round_ in range(8):
        # Small slack so some kills land during compaction too.
        proc = _writer(tmp_path, f"r{round_}", slack=15)
        # The first acknowledgement says the writer is up, however long a loaded machine took to start it.
        first = proc.stdout.readline().split()
        time.sleep(0.1 + rng.random() * 0.5)
        os.kill(proc.pid, signal.SIGKILL)
        ids = first + _read_acked(proc)
        assert proc.returncode == -signal.SIGKILL
        assert ids, "the writer acknowledged nothing before the kill"
        acked.update(ids)
        store = CorrectionStore(tmp_path / "state")
        data = store.all()  # must parse
        missing = acked - set(data)
        assert not missing, f"round {round_}: lost {sorted(missing)[:5]}"
        last = int(ids[-1].rsplit("-", 1)[1])
        assert int(data[f"r{round_}-hot"].output) >= last
    assert len(acked) > 50
    snap = tmp_path / "state" / "corrections" / "snapshot.json"
    assert json.loads(snap.read_text())["schema"] == 1  # compaction ran (and was killed into)


def test_two_concurrent_writers_lose_nothing(tmp_path):
    a = _writer(tmp_path, "A", slack=25, limit=120)
    b = _writer(tmp_path, "B", slack=25, limit=120)
    ids = _read_acked(a) + _read_acked(b)
    assert a.returncode == 0 and b.returncode == 0
    assert len(ids) == 240
    data = CorrectionStore(tmp_path / "state").all()
    assert set(ids) <= set(data)
    assert len(data) == 242  # 120 ids + one overwritten "hot" id per writer
    assert data["A-hot"].output == "119" and data["B-hot"].output == "119"


def test_threads_in_one_process_lose_nothing(tmp_path, monkeypatch):
    import threading

    monkeypatch.setattr(corr_mod, "COMPACT_SLACK", 10)
    shared = CorrectionStore(tmp_path)

    def work(prefix, store):
        for n in range(60):
            store.save(item(f"{prefix}{n}"), "x")
            store.save(item("hot"), f"{prefix}{n}")

    threads = [
        threading.Thread(target=work, args=("s", shared)),
        threading.Thread(target=work, args=("t", shared)),
        threading.Thread(target=work, args=("u", CorrectionStore(tmp_path))),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    data = CorrectionStore(tmp_path).all()
    assert len(data) == 181
    assert set(shared.all()) == set(data)
