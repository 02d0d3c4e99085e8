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

Real text, against the true Jaccard (``--real``): the AlpacaEval outputs and instructions and
the Code Alpaca records (``../shared/data``, or the excerpts in ``tests/data``) with planted
one-word and few-word edits, many of them near the threshold (word 5-grams, threshold 0.8).
The truth is every pair whose exact Jaccard of shingle sets reaches the threshold (all pairs,
by prefix filtering); a record should be removed when its component of true pairs has an
earlier member. Reported per method: precision and recall of the removed records, recall on
planted pairs just above the threshold (0.82-0.9), and pairs accepted below it.

tether vs plain rensa, side by side (``--vs-rensa``): both on the same corpus in alternating
processes, ``--repeats`` times each; the best time and the peak memory of each, and the ratios.

    python benchmarks/dedup.py                      # 100k documents (~150 words) + 1M short (~15 words)
    python benchmarks/dedup.py --docs 20000 --short 100000   # a quicker run
    python benchmarks/dedup.py --real --vs-rensa --skip-synthetic   # real text + tether vs rensa only
    OMP_NUM_THREADS=1 python benchmarks/dedup.py --semantic --skip-synthetic   # semantic: exact vs faiss index

Semantic (``--semantic``): MiniLM vectors of the same real texts plus planted near copies (one
word changed, the last tenth cut, two words swapped; embedded once and cached in
/tmp/tether-bench), and beyond their ~15k, synthetic vectors made from real ones with noise
(plus one in ten near copies). Exact all-pairs search and the step's IVF-Flat index (and HNSW,
the alternative) side by side in their own processes: recall of the index on the exact
search's pairs at each threshold, whether the dedup decisions are the same, seconds, peak memory.

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


def _shingles(t: str, n: int = NGRAM) -> list[str]:
    from tether.text import normalize

    toks = normalize(t).split()  # the same normalisation tether applies, so the work is equal
    return [" ".join(toks[i : i + n]) for i in range(max(1, len(toks) - n + 1))]


def run_tether(texts: list[str], verify: bool = False) -> np.ndarray:
    """verify=False: LSH candidates are duplicates, the same semantics as datasketch and rensa."""
    from tether.curate.minhash import minhash_clusters

    b, r = _bands()
    return np.array(minhash_clusters(texts, THRESHOLD, NUM_PERM, NGRAM, bands=b, rows=r, verify=verify))


def run_tether_verify(texts: list[str]) -> np.ndarray:
    """The step's default: candidates whose exact Jaccard of shingles is below the threshold are dropped."""
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
    print(json.dumps({"seconds": secs, "peak_rss_mib": peak_rss_mib()}))


def peak_rss_mib() -> float:
    """This process's peak resident memory. Linux's VmHWM belongs to the process image, so a
    worker does not inherit the high-water mark of the (bigger) parent it was forked from, as
    ``ru_maxrss`` does across fork and exec."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


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


# --------------------------------------------------------------------------- real text, true Jaccard

REAL_NGRAM, REAL_THRESHOLD = 5, 0.8
HERE = os.path.dirname(os.path.abspath(__file__))


def real_texts() -> tuple[list[str], str]:
    """AlpacaEval instructions and outputs and Code Alpaca records: the shared data folder if
    present, else the excerpts committed under tests/data."""
    import glob
    from pathlib import Path

    shared = os.path.join(HERE, "..", "..", "shared", "data")
    texts: list[str] = []
    if os.path.isdir(os.path.join(shared, "alpaca_eval")):
        for f in sorted(glob.glob(os.path.join(shared, "alpaca_eval", "*.json"))):
            rows = json.loads(Path(f).read_text(encoding="utf-8"))
            texts += [r["output"] for r in rows]
            texts += [r["instruction"] for r in rows]
        for r in json.loads(Path(shared, "code_alpaca", "code_alpaca_2k.json").read_text(encoding="utf-8")):
            texts += [(r["instruction"] + " " + r["input"]).strip(), r["output"]]
        where = "../shared/data (AlpacaEval 8 models x 805, Code Alpaca 2k)"
    else:
        data = os.path.join(HERE, "..", "tests", "data")
        for f in sorted(glob.glob(os.path.join(data, "*", "*.jsonl"))):
            for line in Path(f).read_text(encoding="utf-8").splitlines():
                r = json.loads(line)
                texts += [r["output"], (r["instruction"] + " " + r.get("input", "")).strip()]
        where = "tests/data excerpts"
    return [t for t in dict.fromkeys(texts) if t.strip()], where


def planted_real(seed: int = 0) -> tuple[list[str], list[tuple[int, int]]]:
    """Real texts plus edited copies: for each text of 8+ words, its first or last word
    changed (often just above 0.8 with 5-grams) and, for every other one, 1-3 words inside
    changed (often just below). Returns the texts and the planted (original, copy) pairs."""
    rng = np.random.default_rng(seed)
    base, _ = real_texts()
    texts = list(base)
    planted = []
    for k, t in enumerate(base):
        toks = t.split()
        if len(toks) < 8:
            continue
        edits = [[int(rng.choice([0, len(toks) - 1]))]]
        if k % 2:
            edits.append(list(rng.choice(np.arange(1, len(toks) - 1), size=int(rng.integers(1, 4)), replace=False)))
        for pos in edits:
            new = list(toks)
            for p in pos:
                new[p] = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), size=int(rng.integers(4, 9))))
            planted.append((k, len(texts)))
            texts.append(" ".join(new))
    return texts, planted


def _shingle_sets(texts: list[str], n: int) -> list[frozenset[str]]:
    return [frozenset(_shingles(t, n)) for t in texts]


def true_pairs(sets: list[frozenset[str]], threshold: float) -> dict[tuple[int, int], float]:
    """Every pair with exact Jaccard >= threshold, by prefix filtering (sets ordered by
    global rarity; two sets that reach the threshold share a token of their prefixes)."""
    import math
    from collections import Counter

    freq = Counter(g for s in sets for g in s)
    index: dict[str, list[int]] = {}
    out: dict[tuple[int, int], float] = {}
    for i in sorted(range(len(sets)), key=lambda i: len(sets[i])):  # shorter first
        s = sets[i]
        toks = sorted(s, key=lambda g: (freq[g], g))
        prefix = toks[: len(s) - math.ceil(threshold * len(s)) + 1]
        seen: set[int] = set()
        for g in prefix:
            for j in index.get(g, ()):
                if j in seen:
                    continue
                seen.add(j)
                if len(sets[j]) >= threshold * len(s):  # j is no longer than i
                    jac = len(s & sets[j]) / len(s | sets[j])
                    if jac >= threshold:
                        out[(min(i, j), max(i, j))] = jac
            index.setdefault(g, []).append(i)
    return out


def _removed(labels: np.ndarray) -> np.ndarray:
    """Records whose cluster has an earlier member (the first of each cluster is kept)."""
    seen: set[int] = set()
    out = np.zeros(len(labels), dtype=bool)
    for i, lab in enumerate(labels.tolist()):
        out[i] = lab in seen
        seen.add(lab)
    return out


def _real_methods(n_perm: int = NUM_PERM) -> dict[str, Any]:
    from tether.curate.minhash import minhash_clusters_with_pairs, optimal_bands, recall_bands

    t = REAL_THRESHOLD

    def tether(verify: bool, bands: tuple[int, int] | None = None) -> Any:
        def run(texts: list[str]) -> tuple[np.ndarray, dict]:
            b, r = bands or recall_bands(t, n_perm)
            labels, pairs = minhash_clusters_with_pairs(texts, t, n_perm, REAL_NGRAM, bands=b, rows=r, verify=verify)
            return labels, pairs
        return run

    def rensa(texts: list[str]) -> tuple[np.ndarray, dict]:
        from rensa import RMinHash, RMinHashLSH

        lsh = RMinHashLSH(threshold=t, num_perm=n_perm, num_bands=16)  # rensa needs num_perm % bands == 0
        edges = []
        for i, x in enumerate(texts):
            m = RMinHash(num_perm=n_perm, seed=1)
            m.update(_shingles(x, REAL_NGRAM))
            edges.extend((j, i) for j in lsh.query(m))
            lsh.insert(i, m)
        return _union_find(len(texts), edges), {e: float("nan") for e in edges}

    def datasketch(texts: list[str]) -> tuple[np.ndarray, dict]:
        from datasketch import MinHash, MinHashLSH

        lsh = MinHashLSH(threshold=t, num_perm=n_perm)  # its own optimal (bands, rows)
        edges = []
        gen = MinHash.generator(([s.encode() for s in _shingles(x, REAL_NGRAM)] for x in texts), num_perm=n_perm, seed=1)
        for i, m in enumerate(gen):
            edges.extend((j, i) for j in lsh.query(m))
            lsh.insert(i, m)
        return _union_find(len(texts), edges), {e: float("nan") for e in edges}

    ds = optimal_bands(t, n_perm)
    rb = recall_bands(t, n_perm)
    return {
        f"tether (default: recall bands {rb[0]}x{rb[1]}, exact verify)": tether(True),
        f"tether, recall bands {rb[0]}x{rb[1]}, no verify": tether(False),
        f"tether, datasketch bands {ds[0]}x{ds[1]}, exact verify": tether(True, ds),
        "rensa per-doc LSH (16 bands x 8)": rensa,
        f"datasketch MinHashLSH (its {ds[0]}x{ds[1]})": datasketch,
    }


def real_text_report() -> list[dict]:
    texts, planted = planted_real()
    _, where = real_texts()
    t0 = time.perf_counter()
    sets = _shingle_sets(texts, REAL_NGRAM)
    truth = true_pairs(sets, REAL_THRESHOLD)
    from tether.curate._private import components

    ta = np.array([p[0] for p in truth], dtype=np.int64)
    tb = np.array([p[1] for p in truth], dtype=np.int64)
    should = _removed(components(len(texts), ta, tb))
    jac = {p: len(sets[p[0]] & sets[p[1]]) / len(sets[p[0]] | sets[p[1]]) for p in planted}
    near = [p for p, j in jac.items() if REAL_THRESHOLD + 0.02 <= j < 0.9]
    print(f"real text: {len(texts)} texts from {where}, {len(planted)} planted copies "
          f"({len(near)} at true Jaccard 0.82-0.9, {sum(j < REAL_THRESHOLD for j in jac.values())} below 0.8); "
          f"{len(truth)} true pairs at >= {REAL_THRESHOLD}, {int(should.sum())} records to remove "
          f"(truth in {time.perf_counter() - t0:.1f} s)")
    rows = []
    from tether.text import normalize

    for name, fn in _real_methods().items():
        normalize.cache_clear()  # rensa's and datasketch's shingles call it: no method starts warm
        t1 = time.perf_counter()
        labels, pairs = fn(texts)
        secs = time.perf_counter() - t1
        removed = _removed(np.asarray(labels))
        tp = int((removed & should).sum())
        precision = tp / max(1, int(removed.sum()))
        recall = tp / max(1, int(should.sum()))
        near_found = sum(labels[a] == labels[b] for a, b in near) / max(1, len(near))
        below = sum(1 for a, b in pairs if (min(a, b), max(a, b)) not in truth)
        rows.append({"method": name, "seconds": secs, "precision": precision, "recall": recall,
                     "near_recall": near_found, "pairs_below": below, "removed": int(removed.sum())})
    print(f"{'method':<58} {'removed':>8} {'P':>6} {'R':>6} {'R 0.82-0.9':>10} {'pairs < 0.8':>11} {'s':>6}")
    for r in rows:
        print(f"{r['method']:<58} {r['removed']:>8} {r['precision']:>6.3f} {r['recall']:>6.3f} "
              f"{r['near_recall']:>10.3f} {r['pairs_below']:>11} {r['seconds']:>6.1f}")
    return rows


# --------------------------------------------------------------------------- semantic: exact vs ANN

SEM_CACHE = os.environ.get("TETHER_BENCH_CACHE", os.path.join(tempfile.gettempdir(), "tether-bench"))


def planted_semantic(seed: int = 0) -> tuple[list[str], list[tuple[int, int]]]:
    """The real texts plus near copies of every third one of 8+ words: one word changed, the
    last tenth of the words cut, or two adjacent words swapped (in turn). Returns the texts
    and the planted (original, copy) pairs."""
    rng = np.random.default_rng(seed)
    base, _ = real_texts()
    texts = list(base)
    planted = []
    for k, t in enumerate(base):
        toks = t.split()
        if len(toks) < 8 or k % 3:
            continue
        new = list(toks)
        kind = (k // 3) % 3
        if kind == 0:
            new[int(rng.integers(len(new)))] = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), size=6))
        elif kind == 1:
            new = new[: max(6, len(new) - max(1, len(new) // 10))]
        else:
            p = int(rng.integers(len(new) - 1))
            new[p], new[p + 1] = new[p + 1], new[p]
        planted.append((k, len(texts)))
        texts.append(" ".join(new))
    return texts, planted


def semantic_real_vectors() -> tuple[np.ndarray, list[str], list[tuple[int, int]]]:
    """MiniLM (all-MiniLM-L6-v2) unit vectors of :func:`planted_semantic`'s texts, cached under
    ``$TETHER_BENCH_CACHE`` (default /tmp/tether-bench) by a digest of the texts: embedding them
    on CPU takes minutes."""
    import hashlib

    texts, planted = planted_semantic()
    key = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
    path = os.path.join(SEM_CACHE, f"minilm-{key}.npy")
    if os.path.exists(path):
        return np.load(path), texts, planted
    from tether.embed import Embedder

    t0 = time.perf_counter()
    vecs = Embedder(cache_path=None).encode(texts)
    print(f"embedded {len(texts)} texts with MiniLM in {time.perf_counter() - t0:.0f} s -> {path}")
    os.makedirs(SEM_CACHE, exist_ok=True)
    np.save(path, vecs)
    return vecs, texts, planted


def sem_vectors(n: int, seed: int = 0) -> tuple[np.ndarray, int]:
    """``n`` unit vectors: the MiniLM vectors of the real texts (and their planted copies), shuffled,
    then, beyond them, synthetic vectors built from real ones: a random real vector plus Gaussian
    noise (cosine ~0.75 with it, ~0.55 between siblings: not duplicates), and for one in ten a
    near copy of an earlier vector (cosine ~0.97). Returns the vectors and how many are real."""
    real, _, _ = semantic_real_vectors()
    rng = np.random.default_rng(seed)
    real = real[rng.permutation(len(real))]
    if n <= len(real):
        return np.ascontiguousarray(real[:n]), n
    d = real.shape[1]
    m = n - len(real)
    out = np.empty((n, d), dtype=np.float32)
    out[: len(real)] = real
    base = real[rng.integers(0, len(real), size=m)]
    noise = rng.standard_normal((m, d), dtype=np.float32) / np.sqrt(d)
    x = base + 0.9 * noise
    out[len(real) :] = x / np.linalg.norm(x, axis=1, keepdims=True)
    copies = np.nonzero(rng.random(m) < 0.1)[0] + len(real)
    src = (rng.random(len(copies)) * copies).astype(np.int64)  # an earlier vector
    y = out[src] + 0.25 * rng.standard_normal((len(copies), d), dtype=np.float32) / np.sqrt(d)
    out[copies] = y / np.linalg.norm(y, axis=1, keepdims=True)
    return out, len(real)


SEM_SAMPLE = 10_000  # exact search above EXACT_FULL_MAX runs for the last SEM_SAMPLE rows only
EXACT_FULL_MAX = 50_000


def sem_worker(method: str, n: int, threshold: float, k: int, out: str) -> None:
    """One search in its own process: pairs (saved), seconds, peak memory."""
    import faiss  # noqa: F401  (imports are not timed)

    from tether.curate.semantic import ann_pairs, semantic_duplicates, similar_pairs

    v, _ = sem_vectors(n)
    t0 = time.perf_counter()
    info: dict[str, Any] = {}
    if method == "none":
        i = j = np.zeros(0, np.int64)
    elif method == "exact" and n > EXACT_FULL_MAX:  # the last SEM_SAMPLE rows against all earlier ones
        q0 = n - SEM_SAMPLE
        i, j, _ = similar_pairs(v, threshold, queries=v[q0:], search="exact")
        i = i + q0
        keep = j < i
        i, j = i[keep], j[keep]
        info["sampled"] = SEM_SAMPLE
    elif method == "exact":
        i, j, _ = similar_pairs(v, threshold, search="exact")
    elif method in ("ivf", "hnsw"):
        i, j, _ = ann_pairs(v, threshold, k=k, kind=method)  # type: ignore[arg-type]
    else:
        raise SystemExit(f"unknown method {method}")
    info["seconds"] = time.perf_counter() - t0
    if method in ("exact", "ivf") and "sampled" not in info:  # the step's whole dedup, greedy pass included
        t1 = time.perf_counter()
        dup_of, _ = semantic_duplicates(v, threshold, search="ann" if method == "ivf" else "exact", k=k)
        info["dedup_seconds"] = time.perf_counter() - t1
        np.save(out + ".dup.npy", dup_of)
    np.save(out, np.stack([np.asarray(i, np.int64), np.asarray(j, np.int64)]))
    info["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(info))


def sem_measure(method: str, n: int, threshold: float, k: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "pairs.npy")
        cmd = [sys.executable, __file__, "--sem-worker", method, str(n), str(threshold), str(k), out]
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        info = json.loads(res.stdout.strip().splitlines()[-1])
        ij = np.load(out)
        info["pairs"] = set(zip(ij[0].tolist(), ij[1].tolist(), strict=True))
        if os.path.exists(out + ".dup.npy"):
            info["dup_of"] = np.load(out + ".dup.npy")
    return info


def semantic_report(sizes: list[int], thresholds: list[float], k: int, methods: list[str]) -> None:
    """Exact search vs the IVF-Flat index (and HNSW) side by side: pair recall against exact,
    agreement of the dedup decisions, seconds and peak memory (each run in its own process)."""
    _, texts, planted = semantic_real_vectors()
    print(f"semantic: MiniLM vectors of {len(texts)} real texts ({len(planted)} planted near copies); "
          f"k={k}; threads OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print(f"{'n':>8} {'real':>6} {'thr':>5} {'method':>6} {'pairs':>8} {'recall':>7} {'same decisions':>14} "
          f"{'search s':>9} {'dedup s':>8} {'peak MiB':>9} {'vectors MiB':>11}")
    for n in sizes:
        base = sem_measure("none", n, 0.9, k)["peak_rss_mib"]
        n_real = sem_vectors(n)[1] if n > len(texts) else n
        for t in thresholds:
            ex = sem_measure("exact", n, t, k)
            sampled = ex.get("sampled")
            rows = [("exact", ex)] + [(m, sem_measure(m, n, t, k)) for m in methods]
            for m, info in rows:
                pairs = info["pairs"]
                if sampled:
                    pairs = {p for p in pairs if p[0] >= n - sampled}
                found = len(pairs & ex["pairs"]) / max(1, len(ex["pairs"]))
                same = "-"
                if "dup_of" in info and "dup_of" in ex:
                    agree = float((info["dup_of"] == ex["dup_of"]).mean())
                    same = f"{agree:.5f}"
                secs = info["seconds"] * (n / sampled if m == "exact" and sampled else 1)
                note = "*" if m == "exact" and sampled else " "
                dedup = f"{info['dedup_seconds']:.1f}" if "dedup_seconds" in info else "-"
                print(f"{n:>8} {n_real:>6} {t:>5} {m:>6} {len(pairs):>8} {found:>7.4f} {same:>14} "
                      f"{secs:>8.1f}{note} {dedup:>8} {info['peak_rss_mib']:>9.0f} {base:>11.0f}", flush=True)
    print(f"* exact above {EXACT_FULL_MAX}: the last {SEM_SAMPLE} rows searched against all earlier ones, "
          f"time scaled by n/{SEM_SAMPLE}; recall there is on those rows' pairs")


# --------------------------------------------------------------------------- tether vs plain rensa


def vs_rensa(n: int, words: int, seed: int, repeats: int) -> None:
    """tether's dedup and plain rensa on one corpus, alternating processes, best of ``repeats``."""
    methods = ["tether", "tether+verify", "rensa"]
    best: dict[str, dict] = {}
    base = measure("none", n, words, seed)["peak_rss_mib"]
    for _ in range(repeats):
        for m in methods:
            info = measure(m, n, words, seed)
            b = best.setdefault(m, {"seconds": [], "peak_rss_mib": 0.0})
            b["seconds"].append(info["seconds"])
            b["peak_rss_mib"] = max(b["peak_rss_mib"], info["peak_rss_mib"])
    print(f"tether vs rensa, {n} texts of ~{words} words, best of {repeats} (corpus alone {base:.0f} MiB):")
    for m in methods:
        s = sorted(best[m]["seconds"])
        print(f"  {m:<14} best {s[0]:6.2f} s  median {s[len(s) // 2]:6.2f} s  peak {best[m]['peak_rss_mib']:5.0f} MiB "
              f"(+{best[m]['peak_rss_mib'] - base:.0f} over the corpus)")
    r = best["rensa"]
    for m in ("tether", "tether+verify"):
        t = best[m]
        print(f"  {m} speed / rensa speed = {min(r['seconds']) / min(t['seconds']):.2f}x (>1: tether faster); "
              f"peak memory {m} / rensa = {t['peak_rss_mib'] / r['peak_rss_mib']:.2f}x, "
              f"over the corpus {(t['peak_rss_mib'] - base) / max(1.0, r['peak_rss_mib'] - base):.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--short", type=int, default=1_000_000)
    ap.add_argument("--baseline-limit", type=int, default=200_000)
    ap.add_argument("--no-rensa", action="store_true")
    ap.add_argument("--real", action="store_true", help="precision/recall against the true Jaccard on real text")
    ap.add_argument("--vs-rensa", action="store_true", help="tether and plain rensa side by side, repeated")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-synthetic", action="store_true", help="skip the datasketch/rensa tables")
    ap.add_argument("--semantic", action="store_true", help="semantic dedup: exact search vs the faiss index")
    ap.add_argument("--sem-sizes", default="10000,50000,200000")
    ap.add_argument("--sem-thresholds", default="0.9,0.95")
    ap.add_argument("--sem-k", type=int, default=32)
    ap.add_argument("--sem-methods", default="ivf,hnsw", help="indexes beside exact: ivf (the step's), hnsw")
    ap.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    ap.add_argument("--sem-worker", nargs=5, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.sem_worker:
        m, n, t, k, out = a.sem_worker
        sem_worker(m, int(n), float(t), int(k), out)
        return
    if a.semantic:
        semantic_report([int(x) for x in a.sem_sizes.split(",")], [float(x) for x in a.sem_thresholds.split(",")],
                        a.sem_k, a.sem_methods.split(","))
    if a.worker:
        m, n, w, s, out = a.worker
        worker(m, int(n), int(w), int(s), out)
        return
    if a.real:
        real_text_report()
    if a.vs_rensa:
        vs_rensa(a.docs, 150, 1, a.repeats)
        vs_rensa(min(a.short, a.baseline_limit), 15, 2, a.repeats)
    if a.skip_synthetic:
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
