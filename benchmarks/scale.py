"""A large run on this machine: read -> length and repetition filters -> MinHash dedup ->
semantic dedup, at growing sizes, with records/s and the peak memory of the run's process.

The records are real texts (AlpacaEval outputs of several models and Code Alpaca, from
``../shared/data``; the committed excerpts in ``tests/data`` when it is missing), repeated
with a few words changed and a serial number, so that the set grows without becoming
identical (about 1 in 20 records is a planted near-copy of another). The semantic dedup uses
the hashing embedder (model-free): MiniLM over a million texts on two CPU cores would time
the embedder, not tether. Each size runs ``tether run`` in its own process, in a fresh run
directory; peak memory is that process's own high-water mark (``VmHWM``).

The question it answers: does memory stay bounded as the input grows? (It does not yet: every
global step holds all its records, so the peak grows with the input; the slope is printed.)

Usage: python benchmarks/scale.py [--sizes 20000,100000,300000]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = ROOT.parent / "shared" / "data"

RUNNER = """
import resource, sys, time
from tether.pipeline import Pipeline
t0 = time.perf_counter()
res = Pipeline.from_yaml(sys.argv[1]).run(sys.argv[2])
took = time.perf_counter() - t0
hwm = 0
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        hwm = int(line.split()[1]) // 1024
print("RESULT", res.dataset_rows, f"{took:.2f}", hwm)
"""

PIPELINE = """
name: scale
embedder: {backend: hashing}
steps:
  - read: {path: data.jsonl}
  - length_filter: {fields: text, min_words: 3, max_words: 2000}
  - repetition_filter: {fields: text}
  - dedup: {name: near, method: minhash, fields: [text], threshold: 0.8}
  - dedup: {name: semantic, method: semantic, fields: [text], threshold: 0.97}
export:
  formats: [parquet]
"""


def real_texts() -> list[str]:
    texts: list[str] = []
    if DATA.exists():
        for f in sorted((DATA / "alpaca_eval").glob("*.json")):
            texts += [r["output"] for r in json.loads(f.read_text()) if r.get("output")]
        texts += [r["output"] for r in json.loads((DATA / "code_alpaca" / "code_alpaca_2k.json").read_text())
                  if r.get("output")]
    else:
        for f in sorted((ROOT / "tests" / "data").rglob("*.jsonl")):
            for line in f.read_text().splitlines():
                row = json.loads(line)
                texts += [v for v in row.values() if isinstance(v, str) and len(v.split()) > 3]
    return texts


def make_set(n: int, texts: list[str], path: Path, seed: int = 0) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            words = rng.choice(texts).split()
            if i % 20 and len(words) > 4:  # a fresh variant: a few words changed and a serial
                for _ in range(max(1, len(words) // 10)):
                    words[rng.randrange(len(words))] = rng.choice(("alpha", "beta", "gamma", "delta", str(i)))
                words.append(f"(#{i})")
            fh.write(json.dumps({"text": " ".join(words)}) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="20000,100000,300000")
    args = ap.parse_args()
    texts = real_texts()
    rows = []
    for n in [int(x) for x in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory() as d:
            work = Path(d)
            make_set(n, texts, work / "data.jsonl")
            (work / "p.yaml").write_text(PIPELINE)
            (work / "go.py").write_text(RUNNER)
            t0 = time.perf_counter()
            r = subprocess.run([sys.executable, str(work / "go.py"), str(work / "p.yaml"), str(work / "run")],
                               capture_output=True, text=True, cwd=work)
            wall = time.perf_counter() - t0
            line = next((x for x in r.stdout.splitlines() if x.startswith("RESULT")), None)
            if line is None:
                print(f"{n}: failed: {r.stderr.strip().splitlines()[-1:]}")
                continue
            _, kept, took, hwm = line.split()
            rows.append((n, int(kept), float(took), int(hwm), wall))
    print(f"{'records':>9} {'kept':>9} {'run s':>8} {'records/s':>10} {'peak MiB':>9}")
    for n, kept, took, hwm, _wall in rows:
        print(f"{n:>9} {kept:>9} {took:>8.1f} {n / took:>10.0f} {hwm:>9}")
    if len(rows) >= 2:
        (n0, _, _, m0, _), (n1, _, _, m1, _) = rows[0], rows[-1]
        print(f"peak memory grows {1024 * (m1 - m0) / (n1 - n0):.1f} KiB per record between {n0} and {n1}")


if __name__ == "__main__":
    main()
