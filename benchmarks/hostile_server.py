"""One job against a hostile server: tether vs Bespoke Curator, side by side, in one run.

The server (``tether.llm.testing``, in its own process, started afresh for each tool) answers
every 5th request 429 with ``Retry-After: 1``, every 7th a 500, holds every 11th for
``--hang`` seconds before answering it, and gives every 13th a body that is not JSON; the
faults follow the arrival count, so they never get better. Each tool sends ``--n`` prompts at
concurrency 16 and must finish in one run with every answer:

- tether: ``tether run`` (the CLI, a fresh run directory) on a read step and a ``prompt``
  step (``on_error: quarantine``), ``concurrency: 16``, defaults for everything else;
- Curator: ``curator.LLM(backend="openai")`` with ``max_concurrent_requests=16``,
  ``max_retries=10``, ``request_timeout=60``, and rate limits set high enough not to bind;
  its cache is off. Curator needs its own venv (it pins packages tether's does not):
  ``python -m venv /tmp/curvenv && /tmp/curvenv/bin/pip install bespokelabs-curator``; pass
  ``--curator-python /tmp/curvenv/bin/python``. Offline, tiktoken cannot download its
  encodings: the harness gives Curator a 4-characters-a-token estimate instead (it is used
  only for Curator's token-per-minute bookkeeping).

Printed: seconds, answers, records lost, requests the server saw, and the time ratio
tether / Curator (the target is at most 1.2).

Usage: python benchmarks/hostile_server.py [--n 1000] [--hang 30] [--curator-python PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FAULTS = "429=5,500=7,hang=11,malformed=13"

CURATOR_SCRIPT = textwrap.dedent('''
    import sys, time
    import tiktoken

    class _Enc:  # offline: a 4-characters-a-token estimate instead of a downloaded encoding
        name = "offline"
        def encode(self, s, *a, **k):
            return list(range(max(1, len(s) // 4)))

    tiktoken.get_encoding = lambda name: _Enc()
    tiktoken.encoding_for_model = lambda model: _Enc()
    from bespokelabs import curator

    url, n = sys.argv[1], int(sys.argv[2])
    llm = curator.LLM(model_name="gpt-4o-mini", backend="openai", backend_params={
        "base_url": url, "api_key": "sk-bench", "max_concurrent_requests": 16,
        "max_requests_per_minute": 1_000_000, "max_tokens_per_minute": 1_000_000_000,
        "max_retries": 10, "request_timeout": 60, "require_all_responses": False})
    t0 = time.perf_counter()
    out = llm([f"question number {i}" for i in range(n)])
    took = time.perf_counter() - t0
    ds = getattr(out, "dataset", out)
    answered = sum(1 for r in ds if r.get("response"))
    print("RESULT", answered, f"{took:.2f}")
''')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """The hostile server in its own process; ``requests()`` reads its counters back."""

    def __init__(self, hang: float) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tether.llm.testing", "--port", str(self.port), "--every", FAULTS,
             "--hang-s", str(hang), "--retry-after", "1"],
            stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().decode().strip()

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def run_tether(n: int, hang: float, work: Path) -> dict:
    srv = Server(hang)
    try:
        seeds = work / "seeds.jsonl"
        seeds.write_text("".join(json.dumps({"instruction": f"question number {i}"}) + "\n" for i in range(n)))
        cfg = {
            "name": "hostile",
            "llm": {"default": {"backend": "openai", "model": "fake-model", "base_url": srv.url, "concurrency": 16}},
            "steps": [{"read": {"path": str(seeds)}},
                      {"prompt": {"template": "{{ instruction }}", "on_error": "quarantine"}}],
        }
        (work / "p.json").write_text(json.dumps(cfg))
        run_dir = work / "run"
        t0 = time.perf_counter()
        r = subprocess.run([str(Path(sys.executable).parent / "tether"), "run", str(work / "p.json"),
                            "--run-dir", str(run_dir), "-q"], capture_output=True, text=True)
        took = time.perf_counter() - t0
        rows = 0
        data = run_dir / "dataset" / "data.jsonl"
        if data.exists():
            rows = sum(1 for line in data.read_text().splitlines() if json.loads(line).get("response"))
        return {"tool": "tether", "exit": r.returncode, "seconds": took, "answered": rows,
                "tail": r.stderr.strip().splitlines()[-1:] if r.returncode else []}
    finally:
        srv.close()


def run_curator(python: str, n: int, hang: float, work: Path) -> dict:
    srv = Server(hang)
    try:
        script = work / "curator_job.py"
        script.write_text(CURATOR_SCRIPT)
        env = {**os.environ, "HOME": str(work / "home"), "CURATOR_DISABLE_CACHE": "1",
               "TELEMETRY_ENABLED": "false"}
        t0 = time.perf_counter()
        r = subprocess.run([python, str(script), srv.url, str(n)], capture_output=True, text=True, env=env)
        took = time.perf_counter() - t0
        answered = 0
        for line in r.stdout.splitlines():
            if line.startswith("RESULT"):
                answered = int(line.split()[1])
        return {"tool": "curator", "exit": r.returncode, "seconds": took, "answered": answered,
                "tail": r.stderr.strip().splitlines()[-1:] if r.returncode else []}
    finally:
        srv.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--hang", type=float, default=30.0)
    ap.add_argument("--curator-python", default="/tmp/curvenv/bin/python")
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        (work / "t").mkdir()
        results.append(run_tether(args.n, args.hang, work / "t"))
        if Path(args.curator_python).exists():
            (work / "c").mkdir()
            results.append(run_curator(args.curator_python, args.n, args.hang, work / "c"))
        else:
            print(f"Curator not found at {args.curator_python}: tether alone (see the docstring)")
    print(f"{args.n} prompts, concurrency 16, faults {FAULTS}, hangs of {args.hang:g} s")
    print(f"{'tool':8} {'exit':>4} {'seconds':>8} {'answered':>8} {'lost':>5}")
    for r in results:
        print(f"{r['tool']:8} {r['exit']:>4} {r['seconds']:>8.1f} {r['answered']:>8} {args.n - r['answered']:>5}"
              + (f"  {r['tail']}" if r["tail"] else ""))
    if len(results) == 2 and results[1]["seconds"] > 0:
        print(f"time ratio tether / curator: {results[0]['seconds'] / results[1]['seconds']:.2f} (target <= 1.2)")


if __name__ == "__main__":
    main()
