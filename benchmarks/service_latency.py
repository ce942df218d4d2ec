"""Another key's request latency on `ftui service` while one key uploads a 50 MB file and then asks
for a job on it (the file check), against the same service idle, measured in one run.

Starts a real detached service on a scratch workspace, key A uploads (and asks for a job on the
upload, which runs ftui's pre-flight check of every row), and key B lists its files in a loop
meanwhile. Prints key B's median, 95th percentile and worst latency idle, during the upload and
during the check, and the worst under load against the 200 ms target.
Usage: python benchmarks/service_latency.py [MB]
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from ftui.cli import main as cli
from ftui.core.hosted import service as ft_service

KEY_A, KEY_B = "bench-key-a", "bench-key-b"
TARGET_MS = 200.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _request(url: str, key: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> bytes:
    req = urllib.request.Request(url, data=data, headers={"Authorization": f"Bearer {key}", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=600) as resp:
            return bytes(resp.read())
    except urllib.error.HTTPError as exc:  # a refused job (too many steps) still ran its file check
        return bytes(exc.read())


def _jsonl(megabytes: int) -> bytes:
    row = {"messages": [{"role": "user", "content": "Where is validate_path defined? " * 3}]}
    row["messages"].append({"role": "assistant", "content": "In src/paths.py, next to normalize_path. " * 3})
    line = (json.dumps(row) + "\n").encode()
    return line * (megabytes * (1 << 20) // len(line) + 1)


def _multipart(name: str, content: bytes) -> tuple[bytes, str]:
    boundary = "ftuibench" + os.urandom(8).hex()
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nfine-tune\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return head + content + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _probe(url: str, until: threading.Event, out: list[float], pause: float = 0.02) -> None:
    while not until.is_set():
        t0 = time.perf_counter()
        listed = json.loads(_request(f"{url}/files", KEY_B))
        out.append((time.perf_counter() - t0) * 1000)
        assert len(listed["data"]) == 5, listed  # an answer, not a refusal
        time.sleep(pause)


def _line(label: str, ms: list[float]) -> str:
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    return (
        f"{label:<28} n={len(ms):4d}  median {statistics.median(ms):7.1f} ms  p95 {p95:7.1f} ms  max {ms[-1]:7.1f} ms"
    )


def _under_load(url: str, work) -> tuple[list[float], float]:
    """Key B's latencies while `work` runs, and how long the work took."""
    done, seen = threading.Event(), []
    prober = threading.Thread(target=_probe, args=(url, done, seen))
    prober.start()
    t0 = time.perf_counter()
    try:
        work()
    finally:
        done.set()
        prober.join()
    return seen, time.perf_counter() - t0


def main() -> int:
    megabytes = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    os.environ[ft_service.KEYS_ENV] = f"{KEY_A},{KEY_B}"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / "ws"
        ws.mkdir()
        (ws / "runs.jsonl").write_text(json.dumps({"question_id": "q1", "question": "x", "answer": "y"}) + "\n")
        (ws / "ftui.yaml").write_text("run_log: runs.jsonl\nmodel: bench-model\n")
        port = _free_port()
        url = f"http://127.0.0.1:{port}/v1"
        assert cli(["service", str(ws), "--port", str(port), "--detach"]) == 0
        try:
            # Key B has a few files of its own to list.
            small, ctype = _multipart("b.jsonl", _jsonl(1)[:4096])
            for _ in range(5):
                _request(f"{url}/files", KEY_B, small, {"Content-Type": ctype})
            body, ctype = _multipart("big.jsonl", _jsonl(megabytes))
            idle, _ = _under_load(url, lambda: time.sleep(3))
            uploaded: dict = {}

            def upload() -> None:
                uploaded.update(json.loads(_request(f"{url}/files", KEY_A, body, {"Content-Type": ctype})))

            during_upload, up_s = _under_load(url, upload)
            job = json.dumps({"model": "bench-model", "training_file": uploaded["id"]}).encode()
            answer: dict = {}

            def create() -> None:
                answer.update(
                    json.loads(_request(f"{url}/fine_tuning/jobs", KEY_A, job, {"Content-Type": "application/json"}))
                )

            during_check, check_s = _under_load(url, create)
        finally:
            cli(["service", "-w", str(ws), "--stop"])
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    print(
        f"key A: {len(body) / (1 << 20):.0f} MB upload in {up_s:.1f} s; job request answered in {check_s:.1f} s "
        f"({answer.get('status') or answer.get('error', {}).get('code')})"
    )
    print(_line("key B, idle", idle))
    print(_line("key B, during the upload", during_upload))
    print(_line("key B, during the file check", during_check))
    worst = max(during_upload + during_check)
    print(
        f"worst under load / idle median: {worst / statistics.median(idle):.1f}x; "
        f"worst {worst:.0f} ms vs the {TARGET_MS:.0f} ms target: {'met' if worst <= TARGET_MS else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
