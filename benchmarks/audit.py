"""Full audit of 10k synthetic vs 10k reference records (plus 2k private, 2k holdout and a
500-item benchmark), with the local MiniLM embedder: once with an empty embedding cache and
once with the cache warm. Prints wall time, peak memory, and each against its target
(3 min cold, 30 s warm, 4 GB) as a ratio, plus the per-family seconds.

    .venv/bin/python benchmarks/audit.py [--n 10000] [--embedder sentence-transformers|hashing]
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "audit"))
from audit_data import make_real  # noqa: E402  (the test-data generator)

from tether.audit import AuditConfig, audit  # noqa: E402
from tether.embed import Embedder, EmbedderConfig  # noqa: E402

TARGET_COLD, TARGET_WARM, TARGET_GB = 180.0, 30.0, 4.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--embedder", default="sentence-transformers")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    n = args.n
    data = make_real(2 * n + 4000, seed=7)
    syn, ref = data[:n], data[n : 2 * n]
    private, holdout = data[2 * n : 2 * n + 2000], data[2 * n + 2000 :]
    bench = {"b": [{"id": f"q{i}", "question": r["instruction"], "answer": r["response"]}
                   for i, r in enumerate(make_real(500, seed=99, prefix="q"))]}
    cfg = AuditConfig(embedder=EmbedderConfig(backend=args.embedder))
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache.sqlite"
        times = []
        for label in ("cold", "warm"):
            emb = Embedder(cfg.embedder, cache_path=cache)
            t = time.perf_counter()
            rep = audit(syn, reference=ref, private=private, holdout=holdout, benchmarks=bench, config=cfg,
                        embedder=emb)
            rep.write(Path(tmp) / "out")
            dt = time.perf_counter() - t
            emb.close()
            times.append(dt)
            fam = ", ".join(f"{k} {v:.1f}" for k, v in rep.meta["family_seconds"].items())
            print(f"{label}: {dt:.1f} s  ({len(rep.results)} metrics; {fam})")
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"n={n} synthetic vs {n} reference, embedder={args.embedder}")
    print(f"cold  {times[0]:7.1f} s   target {TARGET_COLD:.0f} s   ratio {times[0] / TARGET_COLD:.2f}")
    print(f"warm  {times[1]:7.1f} s   target {TARGET_WARM:.0f} s   ratio {times[1] / TARGET_WARM:.2f}")
    print(f"peak  {peak_gb:7.2f} GB  target {TARGET_GB:.0f} GB   ratio {peak_gb / TARGET_GB:.2f}")


if __name__ == "__main__":
    main()
