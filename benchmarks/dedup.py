"""Near-duplicate dedup: tether's dedup (rensa signatures, numpy banding) vs datasketch MinHashLSH and plain rensa.

A corpus is generated with known duplicate clusters: each cluster is a base text and copies
with 0-3% of words replaced (true duplicates), plus hard negatives (25% of words replaced,
not duplicates) and unique texts. Every method runs at the same parameters (word 3-grams,
128 permutations, Jaccard threshold 0.7, 16 bands x 8 rows) in its own process, so its
peak memory (max RSS, corpus included) is its own. Reported: documents/s, pairwise
precision/recall/F1 of the clusters against the planted ones, peak memory, and tether's
throughput ratio over datasketch. "tether/rensa" and "tether/numpy" force the signature
engine that the step would not pick for that text length (it picks by measured speed).
"datasketch" runs on its documented fast path: ``MinHash.generator`` (the bulk API) builds the
permutations once instead of per document, signatures go into ``MinHashLSH`` through one
``insertion_session``, then each document is queried once; "datasketch/xxh32" is the same with
xxh32 as ``hashfunc`` in place of the default SHA-1 (datasketch documents swapping the hash
function for speed). "rensa" is rensa used as its docs show (one RMinHash and
one LSH query per document, shingles built in Python); tether computes its signatures with
rensa too, from flat shingle-hash arrays, and clusters with its own banding.

    python benchmarks/dedup.py                      # 100k documents (~150 words) + 1M short (~15 words)
    python benchmarks/dedup.py --docs 20000 --short 100000   # a quicker run

datasketch is slow on 1M short texts (minutes); it runs on the first --baseline-limit of the
short set (default 200k), and tether runs on that same subset too for the side-by-side ratio,
then on the full 1M for time and memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

NUM_PERM, NGRAM, THRESHOLD = 128, 3, 0.7


def corpus(n: int, words_per_doc: int, seed: int) -> tuple[list[str], np.ndarray]:
    """``n`` texts and their true cluster labels."""
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(50_000)])
    texts: list[str] = []
    labels: list[int] = []
    cluster = 0
    while len(texts) < n:
        base = rng.integers(0, len(vocab), size=max(4, int(rng.normal(words_per_doc, words_per_doc / 5))))
        kind = rng.random()
        if kind < 0.5:  # a unique text
            texts.append(" ".join(vocab[base]))
            labels.append(cluster)
        else:  # a cluster: base + 1-4 copies at 0-3% word edits, and maybe a hard negative
            for k in range(int(rng.integers(2, 6))):
                ids = base.copy()
                if k:
                    rate = rng.uniform(0.0, 0.03)
                    hit = rng.random(len(ids)) < rate
                    ids[hit] = rng.integers(0, len(vocab), size=int(hit.sum()))
                texts.append(" ".join(vocab[ids]))
                labels.append(cluster)
            if rng.random() < 0.3:
                ids = base.copy()
                hit = rng.random(len(ids)) < 0.25
                ids[hit] = rng.integers(0, len(vocab), size=int(hit.sum()))
                cluster += 1
                texts.append(" ".join(vocab[ids]))
                labels.append(cluster)
        cluster += 1
    return texts[:n], np.array(labels[:n])


def pair_prf(pred: np.ndarray, true: np.ndarray) -> tuple[float, float, float]:
    """Pairwise precision/recall/F1 of two clusterings (pairs in the same cluster)."""
    def pairs(counts: np.ndarray) -> float:
        return float((counts * (counts - 1) // 2).sum())

    _, cell = np.unique(np.stack([pred, true], axis=1), axis=0, return_counts=True)
    tp = pairs(cell)
    pp = pairs(np.unique(pred, return_counts=True)[1])
    tt = pairs(np.unique(true, return_counts=True)[1])
    p = tp / pp if pp else 1.0
    r = tp / tt if tt else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def _bands() -> tuple[int, int]:
    # 16 bands x 8 rows: the LSH S-curve midpoint (1/16)^(1/8) = 0.707 sits at the threshold,
    # and rensa needs num_perm divisible by the bands
    return 16, 8


def _union_find(n: int, edges: list[tuple[int, int]]) -> np.ndarray:
    from tether.curate._private import components

    a = np.array([e[0] for e in edges], dtype=np.int64)
    b = np.array([e[1] for e in edges], dtype=np.int64)
    return components(n, a, b)


def _shingles(t: str) -> list[str]:
    from tether.text import normalize

    toks = normalize(t).split()  # the same normalisation tether applies, so the work is equal
    return [" ".join(toks[i : i + NGRAM]) for i in range(max(1, len(toks) - NGRAM + 1))]


def run_tether(texts: list[str], verify: bool = False) -> np.ndarray:
    """verify=False: LSH candidates are duplicates, the same semantics as datasketch and rensa."""
    from tether.curate.minhash import minhash_clusters

    b, r = _bands()
    return np.array(minhash_clusters(texts, THRESHOLD, NUM_PERM, NGRAM, bands=b, rows=r, verify=verify))


def run_tether_verify(texts: list[str]) -> np.ndarray:
    """The step's default: candidates whose signature estimate is below the threshold are dropped."""
    return run_tether(texts, verify=True)


def run_tether_engine(texts: list[str], engine: str) -> np.ndarray:
    """tether's pipeline with the signature engine forced (the step picks by text length)."""
    from tether.curate._private import components
    from tether.curate.minhash import lsh_pairs, signatures

    b, r = _bands()
    a, b_ = lsh_pairs(signatures(texts, NUM_PERM, NGRAM, engine=engine), b, r)
    return components(len(texts), a, b_)


def run_datasketch(texts: list[str], hashfunc: Any = None) -> np.ndarray:
    """datasketch on its documented fast path: ``MinHash.generator`` builds the permutations
    once and copies them into every MinHash (no per-document regeneration); all signatures
    go into the index through one ``insertion_session``, then each document is queried once.
    ``hashfunc=None`` keeps datasketch's default (SHA-1, 32 bits)."""
    from datasketch import MinHash, MinHashLSH

    b, r = _bands()
    kw: dict[str, Any] = {"num_perm": NUM_PERM, "seed": 1}
    if hashfunc is not None:
        kw["hashfunc"] = hashfunc
    shingles = ([s.encode("utf-8") for s in _shingles(t)] for t in texts)
    sigs = list(MinHash.generator(shingles, **kw))
    lsh = MinHashLSH(num_perm=NUM_PERM, params=(b, r))
    with lsh.insertion_session() as session:
        for i, m in enumerate(sigs):
            session.insert(i, m, check_duplication=False)
    edges = [(i, j) for i, m in enumerate(sigs) for j in lsh.query(m) if j != i]
    return _union_find(len(texts), edges)


def run_datasketch_xxh(texts: list[str]) -> np.ndarray:
    """datasketch's fast path with a faster hash function (xxh32), which its docs offer
    through ``hashfunc`` in place of the default SHA-1."""
    import xxhash

    return run_datasketch(texts, hashfunc=xxhash.xxh32_intdigest)


def run_rensa(texts: list[str]) -> np.ndarray:
    from rensa import RMinHash, RMinHashLSH

    b, _ = _bands()
    lsh = RMinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM, num_bands=b)
    edges = []
    for i, t in enumerate(texts):
        m = RMinHash(num_perm=NUM_PERM, seed=1)
        m.update(_shingles(t))
        edges.extend((i, j) for j in lsh.query(m))
        lsh.insert(i, m)
    return _union_find(len(texts), edges)


METHODS = {"tether": run_tether, "tether/rensa": lambda t: run_tether_engine(t, "rensa"),
           "tether/numpy": lambda t: run_tether_engine(t, "numpy"), "tether+verify": run_tether_verify, "datasketch": run_datasketch,
           "datasketch/xxh32": run_datasketch_xxh, "rensa": run_rensa, "none": None}


def worker(method: str, n: int, words: int, seed: int, out: str) -> None:
    texts, _ = corpus(n, words, seed)
    import datasketch  # noqa: F401  (imports are not timed)
    import rensa  # noqa: F401
    import scipy.sparse.csgraph  # noqa: F401  (every method's union-find)

    import tether.curate.minhash  # noqa: F401

    t0 = time.perf_counter()
    fn = METHODS[method]
    labels = fn(texts) if fn else np.arange(len(texts))
    secs = time.perf_counter() - t0
    np.save(out, labels)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB (Linux reports KiB)
    print(json.dumps({"seconds": secs, "peak_rss_mib": rss}))


def measure(method: str, n: int, words: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "labels.npy")
        cmd = [sys.executable, __file__, "--worker", method, str(n), str(words), str(seed), out]
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        info = json.loads(res.stdout.strip().splitlines()[-1])
        info["labels"] = np.load(out)
    return info


def compare(name: str, n: int, words: int, seed: int, methods: list[str]) -> list[dict]:
    _, truth = corpus(n, words, seed)
    base = measure("none", n, words, seed)["peak_rss_mib"]
    rows = []
    for m in methods:
        info = measure(m, n, words, seed)
        p, r, f = pair_prf(info["labels"], truth)
        rows.append({"set": name, "method": m, "docs": n, "docs_per_s": n / info["seconds"], "seconds": info["seconds"],
                     "precision": p, "recall": r, "f1": f, "peak_rss_mib": info["peak_rss_mib"],
                     "corpus_rss_mib": base})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--short", type=int, default=1_000_000)
    ap.add_argument("--baseline-limit", type=int, default=200_000)
    ap.add_argument("--no-rensa", action="store_true")
    ap.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        m, n, w, s, out = a.worker
        worker(m, int(n), int(w), int(s), out)
        return
    others = ["datasketch", "datasketch/xxh32"] + ([] if a.no_rensa else ["rensa"])
    b, r = _bands()
    print(f"params: word {NGRAM}-grams, num_perm={NUM_PERM}, threshold={THRESHOLD}, bands={b}, rows={r}; "
          f"cores={os.cpu_count()}")
    rows = compare("documents", a.docs, 150, 1, ["tether", "tether+verify", "tether/numpy", *others])
    sub = min(a.short, a.baseline_limit)
    rows += compare("short", sub, 15, 2, ["tether", "tether+verify", "tether/rensa", *others])
    if a.short > sub:
        rows += compare("short-full", a.short, 15, 2, ["tether"])
    print(f"{'set':<11} {'method':<14} {'docs':>8} {'docs/s':>10} {'P':>6} {'R':>6} {'F1':>6} {'peak MiB':>9} {'corpus MiB':>10}")
    for x in rows:
        print(f"{x['set']:<11} {x['method']:<14} {x['docs']:>8} {x['docs_per_s']:>10.0f} {x['precision']:>6.3f} "
              f"{x['recall']:>6.3f} {x['f1']:>6.3f} {x['peak_rss_mib']:>9.0f} {x['corpus_rss_mib']:>10.0f}")
    for s in ("documents", "short"):
        t = next(x for x in rows if x["set"] == s and x["method"] == "tether")
        for o in others:
            d = next(x for x in rows if x["set"] == s and x["method"] == o)
            print(f"{s}: tether / {o} throughput = {t['docs_per_s'] / d['docs_per_s']:.1f}x "
                  f"(F1 {t['f1']:.3f} vs {d['f1']:.3f})")


if __name__ == "__main__":
    main()
