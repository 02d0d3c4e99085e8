"""Full audit of 10k synthetic vs 10k reference records (plus 2k private, 2k holdout and a
500-item benchmark), with the local MiniLM embedder: once with an empty embedding cache and
once with the cache warm, each in a fresh Python process (as two runs of ``tether audit``
are, imports included), then a second audit in the warm process (a library caller auditing
again). Prints wall time, peak memory, and each against its target (3 min cold, 30 s warm,
4 GB) as a ratio, plus the per-family seconds.

    .venv/bin/python benchmarks/audit.py [--n 10000] [--embedder sentence-transformers|hashing]
                                         [--repeat 3] [--cache FILE]

``--repeat`` runs the warm audit that many times (fresh processes; the median is compared with
the target). ``--cache`` keeps the embedding cache in FILE: when it is already filled for
these texts, the cold run is skipped. Peak memory adds the audit's worker process to its own.
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
    # the audit's worker runs beside this process: count both (an upper bound of the total)
    peak_gb = sum(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    print(json.dumps({"runs": runs, "peak_gb": peak_gb / 1024**2}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--embedder", default="sentence-transformers")
    ap.add_argument("--repeat", type=int, default=1, help="warm runs (fresh processes)")
    ap.add_argument("--cache", type=Path, help="embedding cache file (default: a new temporary one)")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)  # the cache path, in a child process
    ap.add_argument("--again", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.n, args.embedder, args.child, args.child.parent / "out", args.again)
        return
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache or Path(tmp) / "cache.sqlite"
        filled = cache.exists() and cache.stat().st_size > 0
        out = []
        for label in ["cold"] * (not filled) + ["warm"] * max(1, args.repeat):
            cmd = [sys.executable, __file__, "--n", str(args.n), "--embedder", args.embedder, "--child", str(cache)]
            if label == "warm" and not any(lab == "warm" for lab, _ in out):
                cmd.append("--again")
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                sys.exit(f"the {label} audit failed:\n{proc.stderr[-3000:]}")
            out.append((label, json.loads(proc.stdout.strip().splitlines()[-1])))
    rows = []
    for label, res in out:
        rows.append((label, res["runs"][0]))
        if len(res["runs"]) > 1:
            rows.append(("warm, same process", res["runs"][1]))
    for label, r in rows:
        fam = ", ".join(f"{k} {v:.1f}" for k, v in r["families"].items())
        print(f"{label}: {r['seconds']:.1f} s  ({r['metrics']} metrics; {fam})")
    peak = max(res["peak_gb"] for _, res in out)
    print(f"n={args.n} synthetic vs {args.n} reference, embedder={args.embedder}; each run in a fresh process")
    cold = [r["seconds"] for label, r in rows if label == "cold"]
    warm = sorted(r["seconds"] for label, r in rows if label == "warm")
    again = [r["seconds"] for label, r in rows if label == "warm, same process"]
    if cold:
        print(f"cold  {cold[0]:7.1f} s   target {TARGET_COLD:.0f} s   ratio {cold[0] / TARGET_COLD:.2f}")
    mid = warm[len(warm) // 2]
    print(f"warm  {mid:7.1f} s   target {TARGET_WARM:.0f} s   ratio {mid / TARGET_WARM:.2f}   (median of "
          f"{', '.join(f'{w:.1f}' for w in warm)}; again in the same process: {again[0]:.1f} s)")
    print(f"peak  {peak:7.2f} GB  target {TARGET_GB:.0f} GB   ratio {peak / TARGET_GB:.2f}")


if __name__ == "__main__":
    main()
