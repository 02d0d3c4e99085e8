"""Requests/s of tether's LLM client vs a bare ``openai.AsyncOpenAI`` + ``asyncio.gather`` loop.

Both talk to the same loopback OpenAI-compatible server (``tether.llm.testing``), run in a
separate process so that the client's CPU time is its own. At each concurrency both send the
same number of distinct requests from ``concurrency`` worker coroutines gathered with
``asyncio.gather`` (so latency is per request, not queueing); tether runs with its cache (a fresh SQLite file, so every
request is a miss that is written) and its limits on (AIMD cap, rpm and tpm buckets set
high enough not to bind). Reported: requests/s, p50/p99 latency, client CPU ms per request,
and the ratio tether / bare (target >= 0.9).

Usage: python benchmarks/llm_client.py [--levels 1,4,16,64,256] [--requests 400] [--delay 0.0]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(delay: float) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tether.llm.testing", "--port", str(port), "--delay", str(delay)],
        stdout=subprocess.PIPE, env={"PYTHONPATH": str(HERE.parent / "src"), "PATH": "/usr/bin:/bin"},
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().decode().strip()
    return proc, url


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


async def run_tether(url: str, conc: int, n: int, tag: str, cache_dir: Path) -> dict:
    from tether.llm import LLMConfig, LLMRequest, open_client

    cfg = LLMConfig(backend="openai", model="fake-model", base_url=url, concurrency=conc,
                    rpm=1e9, tpm=1e12, timeout_s=60)
    client = open_client(cfg, cache_path=cache_dir / f"{tag}.sqlite")
    lat: list[float] = []

    todo = iter(range(n))

    async def worker() -> None:
        for i in todo:
            t = time.perf_counter()
            r = await client.generate(LLMRequest.chat(f"{tag} question {i}", temperature=0, max_tokens=16))
            assert not r.cached
            lat.append(time.perf_counter() - t)

    c0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conc)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    await client.aclose()
    return {"rps": n / wall, "p50": pct(lat, 0.5), "p99": pct(lat, 0.99), "cpu_ms": 1000 * cpu / n}


async def run_bare(url: str, conc: int, n: int, tag: str) -> dict:
    import openai

    client = openai.AsyncOpenAI(base_url=url, api_key="bench", max_retries=0)
    lat: list[float] = []
    todo = iter(range(n))

    async def worker() -> None:
        for i in todo:
            t = time.perf_counter()
            r = await client.chat.completions.create(
                model="fake-model", messages=[{"role": "user", "content": f"{tag} question {i}"}],
                temperature=0, max_tokens=16,
            )
            assert r.choices[0].message.content
            lat.append(time.perf_counter() - t)

    c0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conc)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    await client.close()
    return {"rps": n / wall, "p50": pct(lat, 0.5), "p99": pct(lat, 0.99), "cpu_ms": 1000 * cpu / n}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--levels", default="1,4,16,64,256")
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--delay", type=float, default=0.0, help="server latency per answer (s)")
    args = ap.parse_args()
    proc, url = start_server(args.delay)
    print(f"server {url} (separate process), delay {args.delay}s, {args.requests} requests per trial,"
          f" best of {args.repeats}")
    print(f"{'conc':>5} | {'tether rps':>10} {'p50 ms':>7} {'p99 ms':>7} {'cpu ms/req':>10} |"
          f" {'bare rps':>9} {'p50 ms':>7} {'p99 ms':>7} {'cpu ms/req':>10} | ratio")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(run_bare(url, 4, 50, "warm"))
            asyncio.run(run_tether(url, 4, 50, "warm", Path(tmp)))
            for conc in (int(x) for x in args.levels.split(",")):
                n = args.requests if conc > 1 else max(100, args.requests // 4)
                ts, bs = [], []
                for rep in range(args.repeats):  # alternate, so drift hits both
                    ts.append(asyncio.run(run_tether(url, conc, n, f"t{conc}-{rep}", Path(tmp))))
                    bs.append(asyncio.run(run_bare(url, conc, n, f"b{conc}-{rep}")))
                t = max(ts, key=lambda r: r["rps"])
                b = max(bs, key=lambda r: r["rps"])
                ratio = statistics.median(x["rps"] for x in ts) / statistics.median(x["rps"] for x in bs)
                print(f"{conc:>5} | {t['rps']:>10.0f} {t['p50']*1e3:>7.1f} {t['p99']*1e3:>7.1f} {t['cpu_ms']:>10.2f} |"
                      f" {b['rps']:>9.0f} {b['p50']*1e3:>7.1f} {b['p99']*1e3:>7.1f} {b['cpu_ms']:>10.2f} |"
                      f" {ratio:.2f}", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print("ratio = median tether rps / median bare rps over the repeats")


if __name__ == "__main__":
    main()
