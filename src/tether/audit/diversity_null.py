"""Matched comparisons and permutation nulls for the diversity family.

Diversity measures depend on the size of what they measure: distinct-n falls as a corpus
grows in tokens, self-repetition rises, gzip finds more to share, and the Vendi score and
cluster entropy of embeddings shift when records are longer (an embedding of two joined
records sits between theirs, nearer the corpus mean). So the synthetic and reference sides
are compared on matched units, and every difference is judged against a permutation null of
the pooled units (the two sides exchangeable, i.e. nothing wrong):

- n-gram measures (distinct-n, self-repetition): records drawn at random until each side
  holds the same number of tokens (at most :data:`MATCH_TOKENS`), the null splitting the
  pooled records into two halves of equal tokens;
- compression: each side's text cut into fixed-size chunks (8 KiB) and gzipped chunk by
  chunk, the sides' ratios (raw over gzip bytes of all their chunks) compared against a
  permutation of the chunks;
- Vendi score and cluster entropy: the same number of records a side, each side's
  embeddings centred on its own mean and renormalised (joining records shrinks them towards
  the mean; centring removes that and keeps the spread, so duplicates still count), the null
  permuting the pooled records (cluster centroids are fitted on the reference alone, so
  duplicates in the synthetic data cannot pull them towards themselves).

Example:
    >>> import numpy as np
    >>> permutation_p_below(0.5, np.array([0.9, 1.0, 1.1]))
    0.25
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: tokens per side for the matched n-gram comparison (records drawn at random up to it)
MATCH_TOKENS = 40_000
#: bytes per chunk for the chunked compression ratio (a quarter of gzip's window, so that a
#: few hundred records give enough chunks to compare)
CHUNK_BYTES = 8_192
#: bytes per side compressed in chunks (records drawn at random up to it)
CHUNK_MAX_BYTES = 600_000
#: records per side for the Vendi score's permutation null
VENDI_NULL_RECORDS = 200
#: rounds of the Vendi score's permutation null (each computes two spectra)
VENDI_NULL_ROUNDS = 50
#: a comparison is significant at this one-sided permutation p (or, with fewer rounds than
#: it can resolve, when the observed value lies beyond every null value)
P_LIMIT = 0.01


def significant(p: float, rounds: int) -> bool:
    """Whether a permutation p-value from ``rounds`` rounds is significant: at most
    :data:`P_LIMIT`, or the smallest p the rounds can give. With no rounds (``permutations:
    0``) there is no null and only the minimum effect is judged: True."""
    if rounds <= 0:
        return True
    if math.isnan(p):
        return False
    return p <= max(P_LIMIT, 1.0 / (rounds + 1)) + 1e-12


def permutation_p_below(observed: float, null: np.ndarray) -> float:
    """One-sided p-value for a value that is bad when low: (1 + #{null <= observed}) / (1 + rounds)."""
    null = np.asarray(null, dtype=float)
    null = null[~np.isnan(null)]
    if math.isnan(observed) or null.size == 0:
        return float("nan")
    return float((1 + np.count_nonzero(null <= observed + 1e-12)) / (1 + null.size))


def permutation_p_above(observed: float, null: np.ndarray) -> float:
    """One-sided p-value for a value that is bad when high."""
    null = np.asarray(null, dtype=float)
    null = null[~np.isnan(null)]
    if math.isnan(observed) or null.size == 0:
        return float("nan")
    return float((1 + np.count_nonzero(null >= observed - 1e-12)) / (1 + null.size))


def budget_sample(lengths: np.ndarray, budget: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of records drawn at random (without replacement) until they hold ``budget``
    tokens (the last one may pass it), sorted."""
    order = rng.permutation(len(lengths))
    cum = np.cumsum(lengths[order])
    stop = int(np.searchsorted(cum, budget, side="left")) + 1
    return np.sort(order[:stop])


def _halves(lengths: np.ndarray, rounds: int, rng: np.random.Generator) -> np.ndarray:
    """``rounds x N`` boolean: per round, records in a random order until half the pooled
    tokens (side A), the rest side B."""
    n = len(lengths)
    half = lengths.sum() / 2
    keys = rng.random((rounds, n))
    order = np.argsort(keys, axis=1)
    cum = np.cumsum(lengths[order], axis=1)
    out = np.zeros((rounds, n), dtype=bool)
    rows = np.repeat(np.arange(rounds), n).reshape(rounds, n)
    out[rows, order] = cum <= half
    return out


@dataclass
class NgramComparison:
    """Matched-budget n-gram measures of both sides and their permutation nulls."""

    tokens: int  # tokens a side
    records: tuple[int, int]  # records a side (synthetic, reference)
    distinct: dict[int, tuple[float, float]]  # n -> (synthetic, reference)
    distinct_null: dict[int, np.ndarray]  # n -> null of the ratio synthetic / reference
    self_repetition: tuple[float, float]
    self_repetition_null: np.ndarray  # null of the difference synthetic - reference
    rounds: int


class _Pairs:
    """Each record's distinct n-grams of a pooled corpus, as (record, gram) pairs."""

    def __init__(self, grams: object, n: int) -> None:
        from tether.curate.minhash import sorted_unique

        ids = grams.ids[n]  # type: ignore[attr-defined]
        pos = np.flatnonzero(ids >= 0)
        g = ids[pos]
        rec = grams.record[pos]  # type: ignore[attr-defined]
        self.n_records = grams.n_records  # type: ignore[attr-defined]
        self.width = int(g.max()) + 1 if len(g) else 1
        self.total = np.bincount(rec, minlength=self.n_records).astype(float)  # n-grams per record
        pairs = sorted_unique(rec * self.width + g) if len(g) else np.zeros(0, np.int64)
        self.rec, self.gram = pairs // self.width, pairs % self.width
        self.distinct_per_record = np.bincount(self.rec, minlength=self.n_records).astype(float)

    def distinct(self, side: np.ndarray) -> float:
        """Distinct n-grams of the records in ``side`` (boolean per record) over their n-grams."""
        total = float(self.total[side].sum())
        if total == 0:
            return float("nan")
        seen = np.zeros(self.width, dtype=bool)
        seen[self.gram[side[self.rec]]] = True
        return float(seen.sum()) / total

    def self_repetition(self, side: np.ndarray) -> float:
        """Mean over the records of ``side`` of the share of their distinct n-grams found in
        another record of ``side``."""
        keep = side[self.rec]
        gram, rec = self.gram[keep], self.rec[keep]
        if not len(gram):
            return float("nan")
        shared = np.bincount(gram, minlength=self.width)[gram] > 1
        hits = np.bincount(rec, weights=shared.astype(float), minlength=self.n_records)
        tot = self.distinct_per_record
        use = side & (tot > 0)
        return float(np.mean(hits[use] / tot[use])) if use.any() else float("nan")


def compare_ngrams(syn_tokens: Sequence[Sequence[str]], ref_tokens: Sequence[Sequence[str]], *,
                   max_n: int = 4, rep_n: int = 4, rounds: int = 100, seed: int = 0,
                   budget: int = MATCH_TOKENS) -> NgramComparison | None:
    """Distinct-n (n = 1..``max_n``) and self-repetition (``rep_n``-grams) of both sides at a
    matched token budget (the smaller side's tokens, at most ``budget``), with permutation
    nulls; None when a side has no tokens."""
    from tether.audit.diversity import WordNgrams

    ls = np.fromiter((len(t) for t in syn_tokens), dtype=np.int64, count=len(syn_tokens))
    lr = np.fromiter((len(t) for t in ref_tokens), dtype=np.int64, count=len(ref_tokens))
    if ls.sum() == 0 or lr.sum() == 0:
        return None
    rng = np.random.default_rng(seed)
    b = int(min(ls.sum(), lr.sum(), budget))
    si, ri = budget_sample(ls, b, rng), budget_sample(lr, b, rng)
    pool = [syn_tokens[i] for i in si] + [ref_tokens[i] for i in ri]
    lengths = np.concatenate([ls[si], lr[ri]])
    grams = WordNgrams(pool, max(max_n, rep_n))
    observed = np.zeros(len(pool), dtype=bool)
    observed[: len(si)] = True
    null_sides = _halves(lengths, rounds, rng) if rounds > 0 else np.zeros((0, len(pool)), dtype=bool)
    distinct, distinct_null = {}, {}
    for n in range(1, max_n + 1):
        pairs = _Pairs(grams, n)
        a, r = pairs.distinct(observed), pairs.distinct(~observed)
        distinct[n] = (a, r)
        distinct_null[n] = np.array([pairs.distinct(s) / pairs.distinct(~s) for s in null_sides])
        if n == rep_n:
            rep = (pairs.self_repetition(observed), pairs.self_repetition(~observed))
            rep_null = np.array([pairs.self_repetition(s) - pairs.self_repetition(~s) for s in null_sides])
    if rep_n > max_n:
        pairs = _Pairs(grams, rep_n)
        rep = (pairs.self_repetition(observed), pairs.self_repetition(~observed))
        rep_null = np.array([pairs.self_repetition(s) - pairs.self_repetition(~s) for s in null_sides])
    return NgramComparison(tokens=b, records=(len(si), len(ri)), distinct=distinct, distinct_null=distinct_null,
                           self_repetition=rep, self_repetition_null=rep_null, rounds=rounds)


def chunk_sizes(texts: Sequence[str], rng: np.random.Generator, chunk: int = CHUNK_BYTES,
                max_bytes: int = CHUNK_MAX_BYTES) -> tuple[np.ndarray, np.ndarray]:
    """Raw and gzip sizes of consecutive ``chunk``-byte pieces of the texts joined in a random
    order (records drawn up to ``max_bytes``; a last piece under half a chunk is dropped)."""
    order = rng.permutation(len(texts))
    parts, size = [], 0
    for i in order:
        b = texts[i].encode("utf-8")
        parts.append(b)
        size += len(b) + 1
        if size >= max_bytes:
            break
    raw = b"\n".join(parts)
    sizes, packed = [], []
    for start in range(0, len(raw), chunk):
        piece = raw[start : start + chunk]
        if len(piece) < chunk // 2 and start:
            break
        if piece:
            sizes.append(len(piece))
            packed.append(len(gzip.compress(piece, compresslevel=9)))
    return np.array(sizes, dtype=float), np.array(packed, dtype=float)


def chunk_ratios(texts: Sequence[str], rng: np.random.Generator, chunk: int = CHUNK_BYTES,
                 max_bytes: int = CHUNK_MAX_BYTES) -> np.ndarray:
    """Gzip ratios (raw over compressed size) of the chunks of :func:`chunk_sizes`."""
    raw, packed = chunk_sizes(texts, rng, chunk, max_bytes)
    return raw / packed


def pooled_ratio(raw: np.ndarray, packed: np.ndarray) -> float:
    """The compression ratio of a set of chunks: their raw bytes over their gzip bytes (one
    chunk of long repeated runs cannot dominate it, as it would a mean of chunk ratios)."""
    return float(raw.sum() / packed.sum()) if len(raw) and packed.sum() > 0 else float("nan")


def pooled_ratio_null(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], rounds: int,
                      seed: int) -> np.ndarray:
    """``pooled_ratio(a) / pooled_ratio(b)`` with the pooled chunks' sides permuted ``rounds``
    times (vectorised)."""
    na = len(a[0])
    if rounds <= 0 or not na or not len(b[0]):
        return np.zeros(0)
    raw, packed = np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1]])
    rng = np.random.default_rng(seed)
    side = np.zeros((rounds, len(raw)))
    np.put_along_axis(side, np.argsort(rng.random((rounds, len(raw))), axis=1)[:, :na], 1.0, axis=1)
    ra, pa = side @ raw, side @ packed
    return (ra / pa) / ((raw.sum() - ra) / (packed.sum() - pa))


def centred(emb: np.ndarray) -> np.ndarray:
    """Embeddings centred on their own mean and renormalised to unit length (float64)."""
    x = np.asarray(emb, dtype=np.float64)
    x = x - x.mean(axis=0, keepdims=True)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norm > 0, norm, 1.0)


def vendi_from_gram(grams: np.ndarray) -> np.ndarray:
    """Vendi scores (q = 1) of a stack of unit-diagonal Gram matrices ``(..., m, m)``."""
    m = grams.shape[-1]
    lam = np.clip(np.linalg.eigvalsh(grams / m), 0.0, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.sum(np.where(lam > 0, lam * np.log(lam), 0.0), axis=-1)
    return np.exp(h)


def vendi_null(syn: np.ndarray, ref: np.ndarray, *, records: int = VENDI_NULL_RECORDS,
               rounds: int = VENDI_NULL_ROUNDS, seed: int = 0) -> tuple[float, np.ndarray, int]:
    """The ratio of the centred Vendi scores (synthetic over reference) of ``records`` records a
    side, and that ratio with the pooled records' labels permuted; also the records a side."""
    rng = np.random.default_rng(seed)
    m = int(min(records, len(syn), len(ref)))
    if m < 2:
        return float("nan"), np.zeros(0), m
    a = np.asarray(syn, dtype=np.float64)[np.sort(rng.choice(len(syn), m, replace=False))]
    b = np.asarray(ref, dtype=np.float64)[np.sort(rng.choice(len(ref), m, replace=False))]
    pool = np.concatenate([a, b])

    def score(x: np.ndarray) -> np.ndarray:  # x: (..., m, d) -> centred Vendi per stack entry
        x = x - x.mean(axis=-2, keepdims=True)
        x = x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
        return vendi_from_gram(x @ np.swapaxes(x, -1, -2))

    obs = score(np.stack([a, b]))
    if rounds <= 0:
        return float(obs[0] / obs[1]), np.zeros(0), m
    perm = np.argsort(rng.random((rounds, 2 * m)), axis=1)
    out = np.empty(rounds)
    step = 10  # rounds per batch: (step, 2, m, d) at a time
    for s in range(0, rounds, step):
        x = pool[perm[s : s + step]].reshape(-1, 2, m, pool.shape[1])
        v = score(x)
        out[s : s + step] = v[:, 0] / v[:, 1]
    return float(obs[0] / obs[1]), out, m


def entropy_rows(counts: np.ndarray, k: int) -> np.ndarray:
    """Normalised entropy of each row of cluster counts."""
    tot = counts.sum(axis=-1, keepdims=True)
    p = counts / np.maximum(tot, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.sum(np.where(p > 0, p * np.log(p), 0.0), axis=-1)
    return h / math.log(k) if k > 1 else np.full(h.shape, np.nan)


def entropy_gap_null(labels: np.ndarray, n_syn: int, k: int, rounds: int, seed: int) -> np.ndarray:
    """Reference entropy minus synthetic entropy over fixed cluster labels of the pooled
    records (synthetic first), with the side labels permuted ``rounds`` times."""
    if rounds <= 0:
        return np.zeros(0)
    rng = np.random.default_rng(seed)
    n = len(labels)
    onehot = np.eye(k)[labels]
    side = np.zeros((rounds, n))
    perm = np.argsort(rng.random((rounds, n)), axis=1)
    np.put_along_axis(side, perm[:, :n_syn], 1.0, axis=1)
    a = side @ onehot
    b = onehot.sum(axis=0)[None, :] - a
    return entropy_rows(b, k) - entropy_rows(a, k)


def two_proportion_p(k: int, n: int, k_ref: int, n_ref: int) -> float:
    """One-sided Fisher exact p-value that ``k / n`` exceeds ``k_ref / n_ref``."""
    from scipy.stats import fisher_exact

    if n <= 0 or n_ref <= 0:
        return float("nan")
    return float(fisher_exact([[k, n - k], [k_ref, n_ref - k_ref]], alternative="greater")[1])


__all__ = [
    "CHUNK_BYTES",
    "MATCH_TOKENS",
    "NgramComparison",
    "budget_sample",
    "centred",
    "chunk_ratios",
    "chunk_sizes",
    "compare_ngrams",
    "entropy_gap_null",
    "permutation_p_above",
    "permutation_p_below",
    "pooled_ratio",
    "pooled_ratio_null",
    "significant",
    "two_proportion_p",
    "vendi_from_gram",
    "vendi_null",
]
