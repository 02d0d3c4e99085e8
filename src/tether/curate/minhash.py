"""MinHash + LSH banding: near-duplicate clusters for a whole corpus at once.

Signatures come from rensa (Rust MinHash) for texts of typical length: ``benchmarks/dedup.py``
measured its signature stage 2x faster than tether's numpy engine on ~150-word texts, at the
same F1 (numbers in ``benchmarks/RESULTS.md``). On short texts (under ~40 shingles) exporting
rensa's digests to numpy costs more than computing them, and the numpy engine, measured
faster there, is kept for them (see :func:`signatures`). Shingling stays here,
on flat arrays of the whole chunk (Arrow normalisation -> stable 64-bit word hashes ->
n-gram shingle hashes), and the flat hashes go to rensa in one call per chunk
(``RMinHash.digest_matrix_from_flat_token_hashes``), so there is no per-document Python
work. Banding and union-find stay here too: rensa's LSH answers "is this a duplicate" or
"which keys collide with this one object", not clusters of a whole corpus, and its
per-object queries are the slow path.

Example:
    >>> minhash_clusters(["the cat sat on the mat today", "the cat sat on the mat today!", "dogs bark"],
    ...                  threshold=0.8, ngram=3)
    [0, 0, 1]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Literal

import numpy as np

from tether.curate._private import components
from tether.text import normalize

Shingle = Literal["word", "char"]

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)


def sorted_unique(x: np.ndarray) -> np.ndarray:
    """``np.unique(x)`` of a 1-D integer array, by a sort. numpy 2.4's ``np.unique`` hashes
    (when no inverse is asked for) and took 0.57 s on 600k random int64 keys where a sort and
    a neighbour comparison take 0.02 s; dedup's pair keys and the audit's n-gram keys are
    such arrays."""
    s = np.sort(x)
    return s[np.r_[True, s[1:] != s[:-1]]] if len(s) else s


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, vectorised (wrapping uint64 arithmetic)."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * _M1
        x = x ^ (x >> np.uint64(27))
        x = x * _M2
        return x ^ (x >> np.uint64(31))


class _WordHasher:
    """Stable 64-bit hashes of words (xxh3), cached per distinct word."""

    def __init__(self) -> None:
        import xxhash

        self._h = xxhash.xxh3_64_intdigest
        self._cache: dict[str, int] = {}

    def __call__(self, toks: list[str]) -> list[int]:
        c = self._cache
        out = []
        for t in toks:
            v = c.get(t)
            if v is None:
                v = c[t] = self._h(t.encode("utf-8"))
            out.append(v)
        return out


def _word_units(texts: Sequence[str], hasher: _WordHasher) -> tuple[np.ndarray, np.ndarray]:
    """Stable hashes of the normalised words of every text, flat, and each text's word count.

    Normalisation is :func:`tether.text.normalize` (NFKC, lowercase, punctuation -> space),
    done in Arrow's C++ kernels over the whole chunk: per-text Python work was the
    bottleneck (measured: 2.5x faster on 150-word documents). Words are dictionary-encoded,
    so each distinct word is hashed once.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(list(texts), pa.large_string())
    arr = pc.utf8_lower(pc.utf8_normalize(arr, "NFKC"))
    arr = pc.replace_substring_regex(arr, r"[^\p{L}\p{N}_\s]", " ")
    # trimmed, a text splits into no empty pieces, except an empty text into one
    arr = pc.utf8_trim_whitespace(arr)
    toks = pc.utf8_split_whitespace(arr)
    offsets = np.asarray(toks.offsets)
    enc = pc.dictionary_encode(toks.values)
    word_hash = np.array(hasher(enc.dictionary.to_pylist()), dtype=np.uint64)
    units = word_hash[np.asarray(enc.indices)]
    lens = np.diff(offsets).astype(np.int64)
    empty = np.flatnonzero(np.asarray(pc.equal(pc.utf8_length(arr), 0), dtype=bool))
    if len(empty):
        units = np.delete(units, offsets[empty])
        lens[empty] = 0
    return units, lens


def _pad(units: np.ndarray, lens: np.ndarray, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """Pad texts shorter than ``ngram`` units with zero units (one whole-text shingle)."""
    if len(lens) == 0 or lens.min() >= ngram:
        return units, lens
    new = np.maximum(lens, ngram)
    out = np.zeros(int(new.sum()), dtype=np.uint64)
    old_start = np.concatenate([[0], np.cumsum(lens)[:-1]])
    new_start = np.concatenate([[0], np.cumsum(new)[:-1]])
    doc = np.repeat(np.arange(len(lens)), lens)
    out[new_start[doc] + (np.arange(len(units)) - old_start[doc])] = units
    return out, new


def shingle_hashes(
    texts: Sequence[str], ngram: int = 5, shingle: Shingle = "word", *, hasher: _WordHasher | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of each text's shingles (normalised word or character n-grams).

    Returns ``(hashes, starts)``: a flat uint64 array and each text's first index in it.
    A text shorter than ``ngram`` units gives one shingle (the whole text), so every text
    has at least one.
    """
    if ngram < 1:
        raise ValueError("ngram must be >= 1")
    if len(texts) == 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    if shingle == "word":
        allu, lens = _word_units(texts, hasher or _WordHasher())
    elif shingle == "char":
        units = []
        lens = np.empty(len(texts), dtype=np.int64)
        for i, t in enumerate(texts):
            s = " ".join(normalize(t).split())
            units.append(np.frombuffer(s.encode("utf-32-le"), dtype=np.uint32))
            lens[i] = len(s)
        allu = _mix(np.concatenate(units).astype(np.uint64) + _GOLD)
    else:
        raise ValueError(f"unknown shingle type {shingle!r}")
    allu, lens = _pad(allu, lens, ngram)
    total = int(lens.sum())
    npos = total - ngram + 1
    # rolling combination of ngram consecutive unit hashes (wrapping arithmetic)
    g = np.zeros(npos, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(ngram):
            g = g * _GOLD + allu[k : k + npos]
    g = _mix(g)
    # keep positions whose n-gram lies inside one text
    doc_start = np.concatenate([[0], np.cumsum(lens)[:-1]])
    n_per_doc = lens - ngram + 1
    first = np.cumsum(n_per_doc) - n_per_doc
    idx = np.repeat(doc_start, n_per_doc) + (np.arange(int(n_per_doc.sum())) - np.repeat(first, n_per_doc))
    return g[idx], first.astype(np.int64)


Engine = Literal["auto", "rensa", "numpy"]

# Mean shingles per text from which rensa is the faster engine (measured, benchmarks/dedup.py
# and RESULTS.md): rensa's Rust MinHash is ~5x faster per shingle than the numpy engine, but
# its digests leave Rust only as Python lists (``to_rows``), ~8 us per text at 128
# permutations. On ~150-word texts rensa wins (signatures 3.4 s vs 7.0 s per 100k); on
# ~15-word texts the export dominates and the numpy engine wins (7.3 s vs 13.4 s per 1M).
RENSA_MIN_SHINGLES = 40


def _perms(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
    return a, b


def _numpy_minhash(h: np.ndarray, starts: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """Kept only for short texts, where it beats rensa (see ``RENSA_MIN_SHINGLES``): each
    permutation is a multiply-add-shift ``(a*x + b) >> 32`` of the 64-bit shingle hash,
    reduced per text with ``np.minimum.reduceat``."""
    a, b = _perms(num_perm, seed)
    out = np.empty((len(starts), num_perm), dtype=np.uint32)
    buf = np.empty_like(h)
    shift = np.uint64(32)
    # one permutation at a time on 1-D arrays, in place: ~6x faster than a 2-D block (measured)
    with np.errstate(over="ignore"):
        for k in range(num_perm):
            np.multiply(h, a[k], out=buf)
            buf += b[k]
            buf >>= shift
            out[:, k] = np.minimum.reduceat(buf, starts)
    return out


def _rensa_minhash(h: np.ndarray, starts: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    from rensa import RMinHash

    offsets = np.append(starts, len(h)).astype(np.uint64)
    mat = RMinHash.digest_matrix_from_flat_token_hashes(h, offsets, num_perm, seed)
    # the matrix exposes no buffer; to_rows() is its one bulk export
    return np.array(mat.to_rows(), dtype=np.uint32)


def signatures(
    texts: Sequence[str],
    num_perm: int = 128,
    ngram: int = 5,
    shingle: Shingle = "word",
    *,
    seed: int = 1,
    chunk_docs: int = 50_000,
    engine: Engine = "auto",
) -> np.ndarray:
    """MinHash signatures, shape ``(len(texts), num_perm)``, uint32, of the shingle hashes
    of :func:`shingle_hashes`.

    ``engine="rensa"``: rensa's ``RMinHash`` (equal to ``rensa.RMinHash(num_perm, seed)``
    updated with each text's shingle hashes). ``"numpy"``: tether's multiply-shift engine,
    faster on short texts. ``"auto"`` picks rensa when the first chunk averages at least
    ``RENSA_MIN_SHINGLES`` shingles per text; one engine serves the whole call, so all
    signatures are comparable. Texts are processed ``chunk_docs`` at a time to bound memory.
    """
    if num_perm < 1:
        raise ValueError("num_perm must be >= 1")
    out = np.empty((len(texts), num_perm), dtype=np.uint32)
    hasher = _WordHasher() if shingle == "word" else None
    fn = None
    for lo in range(0, len(texts), chunk_docs):
        h, starts = shingle_hashes(texts[lo : lo + chunk_docs], ngram, shingle, hasher=hasher)
        if len(starts) == 0:
            continue
        if fn is None:
            use_rensa = engine == "rensa" or (engine == "auto" and len(h) >= RENSA_MIN_SHINGLES * len(starts))
            fn = _rensa_minhash if use_rensa else _numpy_minhash
        out[lo : lo + len(starts)] = fn(h, starts, num_perm, seed)
    return out


def _false_probs(threshold: float, b: int, r: int, steps: int = 200) -> tuple[float, float]:
    s1 = np.linspace(0.0, threshold, steps)
    s2 = np.linspace(threshold, 1.0, steps)
    fp = np.trapezoid(1 - (1 - s1**r) ** b, s1)
    fn = np.trapezoid((1 - s2**r) ** b, s2)
    return float(fp), float(fn)


@lru_cache(maxsize=64)
def optimal_bands(threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5) -> tuple[int, int]:
    """The (bands, rows) with ``bands*rows <= num_perm`` minimising the weighted false
    positive + false negative probability mass around ``threshold`` (datasketch's rule)."""
    best, best_err = (1, num_perm), math.inf
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp, fn = _false_probs(threshold, b, r)
            err = fp * fp_weight + fn * fn_weight
            if err < best_err:
                best, best_err = (b, r), err
    return best


def lsh_pairs(sigs: np.ndarray, bands: int, rows: int, window: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs ``(i, j)``, ``i < j``: documents sharing at least one band bucket.

    Within a bucket, each member is paired with the next ``window`` members (all pairs for
    buckets up to ``window + 1``), which keeps big buckets linear and still connected.
    """
    n = sigs.shape[0]
    if bands * rows > sigs.shape[1]:
        raise ValueError(f"bands*rows = {bands * rows} exceeds num_perm = {sigs.shape[1]}")
    mult = _mix(np.arange(1, rows + 1, dtype=np.uint64)) | np.uint64(1)
    ia: list[np.ndarray] = []
    ib: list[np.ndarray] = []
    for band in range(bands):
        cols = sigs[:, band * rows : (band + 1) * rows].astype(np.uint64)
        with np.errstate(over="ignore"):
            key = _mix((cols * mult[None, :]).sum(axis=1, dtype=np.uint64) + np.uint64(band))
        order = np.argsort(key, kind="stable")
        ks = key[order]
        for k in range(1, min(window, n - 1) + 1):
            same = ks[k:] == ks[:-k]
            if not same.any():
                break
            ia.append(order[:-k][same])
            ib.append(order[k:][same])
    if not ia:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    a = np.concatenate(ia)
    b = np.concatenate(ib)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    pair = sorted_unique(lo.astype(np.int64) * n + hi)
    return pair // n, pair % n


def estimated_jaccard(sigs: np.ndarray, a: np.ndarray, b: np.ndarray, chunk: int = 200_000) -> np.ndarray:
    """Estimated Jaccard similarity of pairs: the fraction of equal signature values."""
    out = np.empty(len(a), dtype=np.float32)
    for lo in range(0, len(a), chunk):
        out[lo : lo + chunk] = (sigs[a[lo : lo + chunk]] == sigs[b[lo : lo + chunk]]).mean(axis=1)
    return out


def minhash_clusters(
    texts: Sequence[str],
    threshold: float = 0.8,
    num_perm: int = 128,
    ngram: int = 5,
    *,
    shingle: Shingle = "word",
    bands: int | None = None,
    rows: int | None = None,
    verify: bool = True,
    seed: int = 1,
) -> list[int]:
    """Near-duplicate cluster ids (0-based, in order of first appearance) for ``texts``.

    Texts whose estimated Jaccard similarity of shingles reaches ``threshold`` (directly or
    through a chain) share a cluster. ``bands``/``rows`` default to :func:`optimal_bands`;
    ``verify`` drops LSH candidates whose signature estimate is below ``threshold``.
    """
    labels, _ = minhash_clusters_with_pairs(
        texts, threshold, num_perm, ngram, shingle=shingle, bands=bands, rows=rows, verify=verify, seed=seed
    )
    return labels.tolist()


def minhash_clusters_with_pairs(
    texts: Sequence[str],
    threshold: float = 0.8,
    num_perm: int = 128,
    ngram: int = 5,
    *,
    shingle: Shingle = "word",
    bands: int | None = None,
    rows: int | None = None,
    verify: bool = True,
    seed: int = 1,
) -> tuple[np.ndarray, dict[tuple[int, int], float]]:
    """Like :func:`minhash_clusters`, also returning the accepted pairs and their estimates."""
    if bands is None or rows is None:
        b, r = optimal_bands(threshold, num_perm)
        bands, rows = bands or b, rows or r
    sigs = signatures(texts, num_perm, ngram, shingle, seed=seed)
    a, b_ = lsh_pairs(sigs, bands, rows)
    est = estimated_jaccard(sigs, a, b_)
    if verify:
        ok = est >= threshold
        a, b_, est = a[ok], b_[ok], est[ok]
    labels = components(len(texts), a, b_)
    # renumber in order of first appearance
    _, first = np.unique(labels, return_index=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(np.argsort(first))] = np.arange(len(first))
    pairs = {(int(x), int(y)): float(e) for x, y, e in zip(a, b_, est, strict=True)} if len(a) < 1_000_000 else {}
    return rank[labels], pairs


__all__ = [
    "RENSA_MIN_SHINGLES",
    "estimated_jaccard",
    "lsh_pairs",
    "minhash_clusters",
    "minhash_clusters_with_pairs",
    "optimal_bands",
    "shingle_hashes",
    "signatures",
    "sorted_unique",
]
