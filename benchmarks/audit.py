"""Full audit of 10k synthetic vs 10k reference records (plus 2k private, 2k holdout and a
500-item benchmark), with the local MiniLM embedder: once with an empty embedding cache and
once with the cache warm, each in a fresh Python process (as two runs of ``tether audit``
are, imports included), then a second audit in the warm process (a library caller auditing
again). Prints wall time, peak memory, and each against its target (3 min cold, 30 s warm,
4 GB) as a ratio, plus the per-family seconds.

    .venv/bin/python benchmarks/audit.py [--n 10000] [--embedder sentence-transformers|hashing]
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "audit"))

TARGET_COLD, TARGET_WARM, TARGET_GB = 180.0, 30.0, 4.0


def child(n: int, embedder: str, cache: Path, out: Path, again: bool) -> None:
    """One audit in this (fresh) process; the clock starts before tether is imported."""
    from audit_data import make_real  # the test-data generator

    logging.basicConfig(level=logging.WARNING)
    data = make_real(2 * n + 4000, seed=7)
    syn, ref = data[:n], data[n : 2 * n]
    private, holdout = data[2 * n : 2 * n + 2000], data[2 * n + 2000 :]
    bench = {"b": [{"id": f"q{i}", "question": r["instruction"], "answer": r["response"]}
                   for i, r in enumerate(make_real(500, seed=99, prefix="q"))]}
    runs = []
    for _ in range(2 if again else 1):
        t = time.perf_counter()
        from tether.audit import AuditConfig, audit
        from tether.embed import Embedder, EmbedderConfig

        cfg = AuditConfig(embedder=EmbedderConfig(backend=embedder))
        emb = Embedder(cfg.embedder, cache_path=cache)
        rep = audit(syn, reference=ref, private=private, holdout=holdout, benchmarks=bench, config=cfg,
                    embedder=emb)
        rep.write(out)
        emb.close()
        runs.append({"seconds": time.perf_counter() - t, "metrics": len(rep.results),
                     "families": rep.meta["family_seconds"]})
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(json.dumps({"runs": runs, "peak_gb": peak_gb}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--embedder", default="sentence-transformers")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)  # the cache path, in a child process
    ap.add_argument("--again", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.n, args.embedder, args.child, args.child.parent / "out", args.again)
        return
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache.sqlite"
        for label in ("cold", "warm"):
            cmd = [sys.executable, __file__, "--n", str(args.n), "--embedder", args.embedder, "--child", str(cache)]
            if label == "warm":
                cmd.append("--again")
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                sys.exit(f"the {label} audit failed:\n{proc.stderr[-3000:]}")
            results[label] = json.loads(proc.stdout.strip().splitlines()[-1])
    rows = [("cold", results["cold"]["runs"][0]), ("warm", results["warm"]["runs"][0]),
            ("warm, same process", results["warm"]["runs"][1])]
    for label, r in rows:
        fam = ", ".join(f"{k} {v:.1f}" for k, v in r["families"].items())
        print(f"{label}: {r['seconds']:.1f} s  ({r['metrics']} metrics; {fam})")
    peak = max(results["cold"]["peak_gb"], results["warm"]["peak_gb"])
    cold, warm, again = (r["seconds"] for _, r in rows)
    print(f"n={args.n} synthetic vs {args.n} reference, embedder={args.embedder}; each run in a fresh process")
    print(f"cold  {cold:7.1f} s   target {TARGET_COLD:.0f} s   ratio {cold / TARGET_COLD:.2f}")
    print(f"warm  {warm:7.1f} s   target {TARGET_WARM:.0f} s   ratio {warm / TARGET_WARM:.2f}"
          f"   (again in the same process: {again:.1f} s)")
    print(f"peak  {peak:7.2f} GB  target {TARGET_GB:.0f} GB   ratio {peak / TARGET_GB:.2f}")


if __name__ == "__main__":
    main()
