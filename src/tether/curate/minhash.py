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

The bands lean to recall (:func:`recall_bands`) and every candidate pair is then checked
with the exact Jaccard of its shingle sets (:func:`exact_jaccard`, NeMo Curator's
false-positive check): a pair at the threshold is found ~99.8% of the time at 0.8, and no
pair below it is accepted. Signatures are reduced to band keys chunk by chunk and not kept.

Example:
    >>> minhash_clusters(["the cat sat on the mat today", "the cat sat on the mat today!", "dogs bark"],
    ...                  threshold=0.8, ngram=3)
    [0, 0, 1]
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
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


def _mix_inplace(x: np.ndarray) -> None:
    """:func:`_mix` of a uint64 array in place, with one scratch array."""
    t = np.empty_like(x)
    with np.errstate(over="ignore"):
        for shift, mult in ((30, _M1), (27, _M2)):
            np.right_shift(x, np.uint64(shift), out=t)
            np.bitwise_xor(x, t, out=x)
            np.multiply(x, mult, out=x)
        np.right_shift(x, np.uint64(31), out=t)
        np.bitwise_xor(x, t, out=x)


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
    # rolling combination of ngram consecutive unit hashes (wrapping arithmetic), in place:
    # each temporary here is as large as the chunk's words
    g = np.zeros(npos, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(ngram):
            np.multiply(g, _GOLD, out=g)
            np.add(g, allu[k : k + npos], out=g)
    del allu
    _mix_inplace(g)
    # keep positions whose n-gram lies inside one text: drop the last ngram-1 of each text
    n_per_doc = lens - ngram + 1
    first = np.cumsum(n_per_doc) - n_per_doc
    if ngram > 1:
        keep = np.ones(npos, dtype=bool)
        ends = np.cumsum(lens)
        for k in range(1, ngram):
            tail = ends[:-1] - k  # the last text's tail lies past npos already
            keep[tail] = False
        g = g[keep]
    return g, first.astype(np.int64)


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


#: Texts per rensa call: its digests leave Rust only as Python lists (~36 bytes per value),
#: so a 50k-text chunk at 128 permutations held ~230 MB of lists at once; this bounds it.
RENSA_EXPORT_DOCS = 2048


def _rensa_minhash(h: np.ndarray, starts: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    from rensa import RMinHash

    offsets = np.append(starts, len(h)).astype(np.uint64)
    out = np.empty((len(starts), num_perm), dtype=np.uint32)
    for lo in range(0, len(starts), RENSA_EXPORT_DOCS):
        hi = min(lo + RENSA_EXPORT_DOCS, len(starts))
        a, b = int(offsets[lo]), int(offsets[hi])
        mat = RMinHash.digest_matrix_from_flat_token_hashes(h[a:b], offsets[lo : hi + 1] - offsets[lo], num_perm, seed)
        # the matrix exposes no buffer; to_rows() is its one bulk export
        out[lo:hi] = mat.to_rows()
    return out


#: Characters of text shingled at a time, which bounds shingling's temporaries. Measured on
#: 50k texts of ~150 words (peak memory over the corpus, verify on): 2M characters +203 MiB
#: 2.6 s, 4M +228 MiB 2.4 s, 8M +250 MiB 2.45 s; all 50k texts at once took +400 MiB.
CHUNK_CHARS = 1 << 22


def _chunks(texts: Sequence[str], max_docs: int, max_chars: int) -> Iterator[tuple[int, int]]:
    """``(lo, hi)`` ranges of at most ``max_docs`` texts and (past the first text) ``max_chars``
    characters."""
    if max_docs < 1:
        raise ValueError("chunk_docs must be >= 1")
    lens = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    cum = np.cumsum(lens)
    lo = 0
    while lo < len(texts):
        base = cum[lo - 1] if lo else 0
        hi = int(np.searchsorted(cum, base + max_chars, side="right"))
        hi = min(max(hi, lo + 1), lo + max_docs, len(texts))
        yield lo, hi
        lo = hi


def _signature_chunks(
    texts: Sequence[str], num_perm: int, ngram: int, shingle: Shingle, seed: int, chunk_docs: int, engine: Engine
) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """``(first text, shingle hashes, starts, signatures)`` of each chunk of ``chunk_docs`` texts;
    the engine is chosen on the first chunk and serves them all."""
    if num_perm < 1:
        raise ValueError("num_perm must be >= 1")
    hasher = _WordHasher() if shingle == "word" else None
    fn = None
    for lo, hi in _chunks(texts, chunk_docs, CHUNK_CHARS):
        h, starts = shingle_hashes(texts[lo:hi], ngram, shingle, hasher=hasher)
        if len(starts) == 0:
            continue
        if fn is None:
            use_rensa = engine == "rensa" or (engine == "auto" and len(h) >= RENSA_MIN_SHINGLES * len(starts))
            fn = _rensa_minhash if use_rensa else _numpy_minhash
        yield lo, h, starts, fn(h, starts, num_perm, seed)


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
    signatures are comparable. Texts are processed ``chunk_docs`` (and at most
    ``CHUNK_CHARS`` characters) at a time to bound memory.
    """
    out = np.empty((len(texts), num_perm), dtype=np.uint32)
    for lo, _, starts, sig in _signature_chunks(texts, num_perm, ngram, shingle, seed, chunk_docs, engine):
        out[lo : lo + len(starts)] = sig
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


def candidate_prob(similarity: float, bands: int, rows: int) -> float:
    """The LSH S-curve: the probability that a pair of Jaccard ``similarity`` shares at
    least one of ``bands`` bands of ``rows`` rows, ``1 - (1 - s**rows)**bands``."""
    return float(1 - (1 - similarity**rows) ** bands)


@lru_cache(maxsize=64)
def recall_bands(threshold: float, num_perm: int, margin: float = 0.05, target: float = 0.95) -> tuple[int, int]:
    """Recall-leaning (bands, rows): the most rows per band (fewest chance candidates) such
    that a pair at Jaccard ``threshold - margin`` becomes a candidate with probability at
    least ``target``, with ``bands = num_perm // rows``. Candidates are then checked with
    their exact Jaccard, so a loose S-curve costs verification time, not precision.

    Example:
        >>> recall_bands(0.8, 128)
        (21, 6)
    """
    best = (num_perm, 1)
    for r in range(1, num_perm + 1):
        b = num_perm // r
        if candidate_prob(max(threshold - margin, 0.0), b, r) >= target:
            best = (b, r)
    return best


def band_keys(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit bucket key per document and band, shape ``(n, bands)``."""
    if bands * rows > sigs.shape[1]:
        raise ValueError(f"bands*rows = {bands * rows} exceeds num_perm = {sigs.shape[1]}")
    mult = _mix(np.arange(1, rows + 1, dtype=np.uint64)) | np.uint64(1)
    out = np.empty((sigs.shape[0], bands), dtype=np.uint64)
    for band in range(bands):
        cols = sigs[:, band * rows : (band + 1) * rows].astype(np.uint64)
        with np.errstate(over="ignore"):
            out[:, band] = _mix((cols * mult[None, :]).sum(axis=1, dtype=np.uint64) + np.uint64(band))
    return out


def pairs_from_keys(keys: np.ndarray, window: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs ``(i, j)``, ``i < j``, of documents sharing a bucket in any band of
    :func:`band_keys`. Within a bucket, each member is paired with the next ``window``
    members (all pairs for buckets up to ``window + 1``), which keeps big buckets linear and
    still connected."""
    n = keys.shape[0]
    found: list[np.ndarray] = []  # pair codes lo * n + hi; a pair is found in up to every band
    for band in range(keys.shape[1]):
        key = keys[:, band]
        order = np.argsort(key, kind="stable")
        ks = key[order]
        for k in range(1, min(window, n - 1) + 1):
            same = ks[k:] == ks[:-k]
            if not same.any():
                break
            a, b = order[:-k][same], order[k:][same]
            found.append(np.minimum(a, b).astype(np.int64) * n + np.maximum(a, b))
    if not found:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    pair = np.concatenate(found)
    del found
    pair.sort()
    pair = pair[np.r_[True, pair[1:] != pair[:-1]]]
    return pair // n, pair % n


def lsh_pairs(sigs: np.ndarray, bands: int, rows: int, window: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs ``(i, j)``, ``i < j``: documents sharing at least one band bucket
    (:func:`band_keys` then :func:`pairs_from_keys`)."""
    return pairs_from_keys(band_keys(sigs, bands, rows), window)


_LOW32 = np.uint64(0xFFFFFFFF)


def exact_jaccard(
    h: np.ndarray | Sequence[np.ndarray], starts: np.ndarray, a: np.ndarray, b: np.ndarray, chunk: int = 1 << 18
) -> np.ndarray:
    """Exact Jaccard similarity of the shingle sets of pairs ``(a[k], b[k])``.

    ``h``/``starts`` are :func:`shingle_hashes` output for all texts: one flat array (uint64,
    or uint32: the high half of each hash, which is what is compared), or a list of
    consecutive pieces of it. Only the texts in a pair are touched: their (text, shingle) keys
    are sorted once, and each pair looks the shingles of its smaller text up among the
    other's, ``chunk`` look-ups at a time.
    """
    if len(a) == 0:
        return np.zeros(0, dtype=np.float64)
    parts = [h] if isinstance(h, np.ndarray) else list(h)
    parts = [p if p.dtype == np.uint32 else (p >> np.uint64(32)).astype(np.uint32) for p in parts]
    all_lens = np.diff(np.append(starts, sum(len(p) for p in parts))).astype(np.int64)
    docs = sorted_unique(np.concatenate([a, b]).astype(np.int64))
    lens = all_lens[docs]
    in_doc = np.zeros(len(starts), dtype=bool)
    in_doc[docs] = True
    in_pair = np.repeat(in_doc, all_lens)
    # (text rank, shingle) keys of the texts in pairs, filled piece by piece, then sorted:
    # grouped by text; a repeated shingle is kept but only its first copy counts
    keys = np.repeat(np.arange(len(docs), dtype=np.uint64) << np.uint64(32), lens)
    pos, done = 0, 0
    for p in parts:
        sel = p[in_pair[done : done + len(p)]]
        keys[pos : pos + len(sel)] |= sel
        pos += len(sel)
        done += len(p)
    del in_pair
    keys.sort()
    first = np.empty(len(keys), dtype=bool)
    first[0] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    off = np.cumsum(lens) - lens
    cnt = np.add.reduceat(first.astype(np.int64), off)
    ra, rb = np.searchsorted(docs, a), np.searchsorted(docs, b)
    small = np.where(cnt[ra] <= cnt[rb], ra, rb)
    other = ra + rb - small
    size = lens[small]
    inter = np.empty(len(a), dtype=np.int64)
    cum = np.cumsum(size)
    cuts = np.searchsorted(cum, np.arange(chunk, int(cum[-1]), chunk), side="right")
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(a)], strict=True):
        if lo == hi:
            continue
        sz = size[lo:hi]
        seg = np.cumsum(sz) - sz
        idx = np.repeat(off[small[lo:hi]] - seg, sz) + np.arange(int(sz.sum()))
        q = (np.repeat(other[lo:hi].astype(np.uint64), sz) << np.uint64(32)) | (keys[idx] & _LOW32)
        at = np.minimum(np.searchsorted(keys, q), len(keys) - 1)
        inter[lo:hi] = np.add.reduceat(((keys[at] == q) & first[idx]).astype(np.int64), seg)
    return inter / (cnt[ra] + cnt[rb] - inter)


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

    Texts whose Jaccard similarity of shingles reaches ``threshold`` (directly or through a
    chain) share a cluster. ``bands``/``rows`` default to :func:`recall_bands`; ``verify``
    drops LSH candidates whose exact Jaccard of shingles is below ``threshold`` (without it,
    every candidate is a duplicate, as in datasketch's and rensa's LSH).
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
    chunk_docs: int = 50_000,
    engine: Engine = "auto",
) -> tuple[np.ndarray, dict[tuple[int, int], float]]:
    """Like :func:`minhash_clusters`, also returning the accepted pairs and their exact Jaccard
    (``nan`` without ``verify``).

    Signatures are turned into band keys chunk by chunk and not kept; with ``verify`` each
    text's shingle hashes are kept (4 bytes a shingle) for the exact check of the candidates.
    """
    if bands is None or rows is None:
        b, r = recall_bands(threshold, num_perm)
        bands, rows = bands or b, rows or r
    n = len(texts)
    keys = np.empty((n, bands), dtype=np.uint64)
    sh: list[np.ndarray] = []
    starts = np.zeros(n, dtype=np.int64)
    used = 0
    for lo, h, st, sig in _signature_chunks(texts, num_perm, ngram, shingle, seed, chunk_docs, engine):
        keys[lo : lo + len(st)] = band_keys(sig, bands, rows)
        if verify:
            sh.append((h >> np.uint64(32)).astype(np.uint32))
        starts[lo : lo + len(st)] = st + used
        used += len(h)
    a, b_ = pairs_from_keys(keys)
    del keys
    if verify:
        jac = exact_jaccard(sh, starts, a, b_)
        del sh
        ok = jac >= threshold
        a, b_, jac = a[ok], b_[ok], jac[ok]
    else:  # every candidate is a duplicate; no similarity is computed
        jac = np.full(len(a), np.nan)
    labels = components(n, a, b_)
    # renumber in order of first appearance
    _, first = np.unique(labels, return_index=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(np.argsort(first))] = np.arange(len(first))
    pairs = {(int(x), int(y)): float(e) for x, y, e in zip(a, b_, jac, strict=True)} if len(a) < 1_000_000 else {}
    return rank[labels], pairs


__all__ = [
    "RENSA_MIN_SHINGLES",
    "band_keys",
    "candidate_prob",
    "estimated_jaccard",
    "exact_jaccard",
    "lsh_pairs",
    "minhash_clusters",
    "minhash_clusters_with_pairs",
    "optimal_bands",
    "pairs_from_keys",
    "recall_bands",
    "shingle_hashes",
    "signatures",
    "sorted_unique",
]
