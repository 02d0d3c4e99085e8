"""Diversity: distinct-n, compression ratio, self-repetition, Vendi score, cluster entropy,
template/prefix rate against the reference, and the near-duplicate rate.

This module holds the metrics (pure functions) and their metadata; ``diversity_run`` runs the
family and compares with the reference on matched units against permutation nulls
(``diversity_null``).

Example:
    >>> distinct_n(["the cat sat", "the cat ran"], n=1)
    0.6666666666666666
"""

from __future__ import annotations

import gzip
import logging
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from tether.audit.base import MetricResult, metric, nan_warn
from tether.audit.dataset import AuditData
from tether.text import normalize

log = logging.getLogger(__name__)

F = "diversity"
DISTINCT = {
    n: metric(F, f"distinct_{n}", higher_is_better=True, bounds=(0.0, 1.0),
              description=f"Distinct {n}-grams over all {n}-grams of the corpus (Li et al. 2016).")
    for n in (1, 2, 3, 4)
}
COMPRESSION = metric(F, "compression_ratio", higher_is_better=False, bounds=(0.0, math.inf),
                     description="Size of all texts over their gzip size: higher means more repeated material.")
SELF_REP = metric(F, "self_repetition", higher_is_better=False, bounds=(0.0, 1.0),
                  description="Mean share of a record's word 4-grams that also occur in another record.")
VENDI = metric(F, "vendi_score", higher_is_better=True, bounds=(1.0, math.inf),
               description="Effective number of distinct items: exp of the entropy of the embedding "
                           "similarity spectrum (Friedman & Dieng 2023).")
CLUSTER_H = metric(F, "cluster_entropy", higher_is_better=True, bounds=(0.0, 1.0),
                   description="Normalised entropy of records over k-means clusters of the joint embeddings.")
PREFIX = metric(F, "prefix_rate", higher_is_better=False, bounds=(0.0, 1.0),
                description="Share of records whose opening words are among the most common openings.")
NEAR_DUP = metric(F, "near_duplicate_rate", higher_is_better=False, bounds=(0.0, 1.0),
                  description="Share of records that are a near duplicate (MinHash Jaccard >= threshold) "
                              "of an earlier record.")

# ------------------------------------------------------------------ pure functions


def _tokens(text: str) -> list[str]:
    return normalize(text).split()


class WordNgrams:
    """The word n-grams (n = 1..``max_n``) of a corpus as integer ids, counted with numpy.

    Built once per corpus from its tokens; distinct-n, the most repeated n-grams and
    self-repetition all read it, instead of each building Python tuples of every n-gram
    (about 6 s per 10k-record corpus on 2 cores before). ``ids[n][i]`` is the id of the
    n-gram starting at token position ``i`` of the flattened corpus, or -1 where fewer than
    n tokens of its record remain; ids number the distinct n-grams.
    """

    def __init__(self, tokens: Sequence[Sequence[str]], max_n: int = 4) -> None:
        vocab: dict[str, int] = {}
        lens = np.fromiter((len(t) for t in tokens), dtype=np.int64, count=len(tokens))
        flat = np.fromiter((vocab.setdefault(w, len(vocab)) for toks in tokens for w in toks), dtype=np.int64,
                           count=int(lens.sum()))
        self.n_records = len(tokens)
        self.words = np.array(list(vocab), dtype=object)
        self.flat = flat
        self.record = np.repeat(np.arange(len(tokens)), lens)
        left = np.repeat(np.cumsum(lens), lens) - np.arange(len(flat))  # tokens from here to its record's end
        self.ids: dict[int, np.ndarray] = {1: flat}
        cur, width = flat, max(1, len(vocab))
        for n in range(2, max_n + 1):
            pos = np.flatnonzero(left >= n)
            ids = np.full(len(flat), -1, np.int64)
            # the (n-1)-gram starting here, extended by the token n-1 further on
            ids[pos] = np.unique(cur[pos] * width + flat[pos + n - 1], return_inverse=True)[1]
            self.ids[n] = cur = ids

    def _valid(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        ids = self.ids[n]
        pos = np.flatnonzero(ids >= 0)
        return pos, ids[pos]

    def distinct(self, n: int) -> float:
        """Distinct n-grams over all n-grams (nan, with a warning, when there are none)."""
        _, g = self._valid(n)
        if not len(g):
            return nan_warn(f"distinct_{n}")
        return (int(g.max()) + 1) / len(g)  # ids number the distinct n-grams 0, 1, ...

    def most_repeated(self, n: int, ids: Sequence[str], top: int = 10) -> tuple[list[dict[str, Any]], np.ndarray]:
        """The ``top`` most frequent n-grams seen more than once (ties: the first seen first),
        each with its count and the first five records holding it; and per record the share
        of its n-grams that are one of them."""
        pos, g = self._valid(n)
        share = np.zeros(self.n_records)
        if not len(g):
            return [], share
        counts = np.bincount(g)
        first = np.full(len(counts), len(self.flat), np.int64)
        np.minimum.at(first, g, pos)
        order = np.lexsort((first, -counts))[:top]
        order = order[counts[order] > 1]
        rows = []
        for gid in order:
            at = first[gid]
            holders = np.unique(self.record[pos[g == gid]])[:5]
            rows.append({"ngram": " ".join(self.words[self.flat[at : at + n]]), "count": int(counts[gid]),
                         "records": [ids[r] for r in holders]})
        rec = self.record[pos]
        hit = np.bincount(rec, weights=np.isin(g, order).astype(float), minlength=self.n_records)
        total = np.bincount(rec, minlength=self.n_records)
        np.divide(hit, total, out=share, where=total > 0)
        return rows, share

    def self_repetition(self, n: int) -> np.ndarray:
        """Per record: the share of its distinct n-grams that occur in at least one other record."""
        pos, g = self._valid(n)
        out = np.zeros(self.n_records)
        if not len(g):
            return out
        from tether.curate.minhash import sorted_unique

        width = int(g.max()) + 1
        pairs = sorted_unique(self.record[pos] * width + g)  # each (record, n-gram) once
        rec, gram = pairs // width, pairs % width
        shared = np.bincount(gram, minlength=width)[gram] > 1
        total = np.bincount(rec, minlength=self.n_records)
        np.divide(np.bincount(rec, weights=shared.astype(float), minlength=self.n_records), total, out=out,
                  where=total > 0)
        return out


def distinct_n(texts: Sequence[str], n: int = 2) -> float:
    """Distinct n-grams divided by the total number of n-grams, over the whole corpus."""
    return WordNgrams([_tokens(t) for t in texts], n).distinct(n)


def repeated_ngrams(texts: Sequence[str], ids: Sequence[str], n: int = 2, top: int = 10,
                    ) -> tuple[list[dict[str, Any]], np.ndarray]:
    """The ``top`` most repeated word n-grams of the corpus (each with its count and the first
    five record ids holding it), and per record the share of its n-grams that are one of them."""
    return WordNgrams([_tokens(t) for t in texts], n).most_repeated(n, ids, top)


def compression_ratio(texts: Sequence[str]) -> float:
    """Raw UTF-8 size of the joined texts over their gzip size (one pass)."""
    raw = "\n".join(texts).encode("utf-8")
    if not raw:
        return nan_warn("compression_ratio")
    return len(raw) / len(gzip.compress(raw, compresslevel=9))


def self_repetition_scores(texts: Sequence[str], n: int = 4) -> np.ndarray:
    """Per record: share of its word n-grams found in at least one other record."""
    return WordNgrams([_tokens(t) for t in texts], n).self_repetition(n)


def vendi_score(emb: np.ndarray) -> float:
    """Vendi score (q=1) of unit-normalised embeddings, by the dual (d x d) form."""
    if emb.shape[0] < 2:
        return nan_warn("vendi_score")
    from vendi_score import vendi

    return float(vendi.score_dual(np.asarray(emb, dtype=np.float64), q=1, normalize=True))


def fit_kmeans(emb: np.ndarray, k: int, seed: int = 0):  # noqa: ANN201
    from sklearn.cluster import MiniBatchKMeans

    return MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=2048).fit(emb)


def normalised_entropy(labels: np.ndarray, k: int) -> float:
    counts = np.bincount(labels, minlength=k).astype(float)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum() / math.log(k)) if k > 1 else float("nan")


def openings(texts: Sequence[str], words: int = 3) -> list[str]:
    return [" ".join(_tokens(t)[:words]) for t in texts]


def openings_of_tokens(tokens: Sequence[Sequence[str]], words: int = 3) -> list[str]:
    """:func:`openings` from texts already split into normalised words (``Corpus.tokens``)."""
    return [" ".join(t[:words]) for t in tokens]


def prefix_rate(texts: Sequence[str], words: int = 3, top: int = 10) -> tuple[float, list[tuple[str, int]]]:
    """Share of records whose first ``words`` words are one of the ``top`` most common openings."""
    return rate_of_openings(openings(texts, words), top)


def rate_of_openings(opens: Sequence[str], top: int = 10) -> tuple[float, list[tuple[str, int]]]:
    """:func:`prefix_rate` of the records' openings (as :func:`openings` gives them)."""
    if not opens:
        return nan_warn("prefix_rate"), []
    common = Counter(o for o in opens if o).most_common(top)
    # an opening shared by a single record is not a template
    common = [(o, c) for o, c in common if c > 1]
    covered = sum(c for _, c in common)
    return covered / len(opens), common


def _excess(so: Counter[str], ro: Counter[str], ns: int, nr: int, top: int) -> float:
    return float(sum(max(0.0, c / ns - ro[o] / nr) for o, c in so.most_common(top) if o))


def prefix_excess(texts: Sequence[str], reference: Sequence[str], words: int = 3, top: int = 10) -> float:
    """Sum, over the ``top`` most common synthetic openings, of how much more often each opens a
    synthetic record than a reference one: the share of records a template adds."""
    return excess_of_openings(openings(texts, words), openings(reference, words), top)


def excess_of_openings(syn_opens: Sequence[str], ref_opens: Sequence[str], top: int = 10) -> float:
    """:func:`prefix_excess` of the two sides' openings."""
    so, ro = Counter(syn_opens), Counter(ref_opens)
    ns, nr = sum(so.values()), sum(ro.values())
    if not ns or not nr:
        return nan_warn("prefix_excess")
    return _excess(so, ro, ns, nr, top)


def prefix_excess_null(texts: Sequence[str], reference: Sequence[str], words: int = 3, top: int = 10,
                       rounds: int = 100, seed: int = 0) -> np.ndarray:
    """``prefix_excess`` when the synthetic/reference labels are shuffled (``rounds`` times):
    what chance alone gives at these sizes. The sum of positive parts is biased upward on
    small corpora (every opening that happens to be more common on one side adds), so the
    excess is judged against this null, not against zero. Vectorised: per round the openings
    are counted with one ``bincount`` and the top ones found with ``argpartition`` (ties among
    equally common openings broken at random, as first-seen order in a shuffle is)."""
    return excess_null_of_openings(openings(texts, words), openings(reference, words), top, rounds, seed)


def excess_null_of_openings(syn_opens: Sequence[str], ref_opens: Sequence[str], top: int = 10, rounds: int = 100,
                            seed: int = 0) -> np.ndarray:
    """:func:`prefix_excess_null` of the two sides' openings."""
    pool = list(syn_opens) + list(ref_opens)
    ns = len(syn_opens)
    nr = len(pool) - ns
    if not ns or not nr or rounds <= 0:
        return np.full(0, np.nan)
    vocab: dict[str, int] = {}
    codes = np.fromiter((vocab.setdefault(o, len(vocab)) for o in pool), dtype=np.int64, count=len(pool))
    v = len(vocab)
    rng = np.random.default_rng(seed)
    perm = np.argsort(rng.random((rounds, len(pool))), axis=1)
    side_a = codes[perm[:, :ns]] + np.arange(rounds)[:, None] * v
    a = np.bincount(side_a.ravel(), minlength=rounds * v).reshape(rounds, v).astype(float)
    b = np.bincount(codes, minlength=v)[None, :] - a
    key = a + rng.random(a.shape) * 0.5  # ties broken at random
    if "" in vocab:
        key[:, vocab[""]] = -1.0
    t = min(top, v)
    idx = np.argpartition(-key, t - 1, axis=1)[:, :t]
    rows = np.arange(rounds)[:, None]
    gain = np.maximum(0.0, a[rows, idx] / ns - b[rows, idx] / nr) * (key[rows, idx] >= 1)
    return gain.sum(axis=1)


def _verified_pairs(texts: Sequence[str], threshold: float, num_perm: int, shingle: int,
                    window: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(i, j)``, ``i < j``, whose estimated Jaccard (MinHash over word ``shingle``-grams)
    is at least ``threshold``: LSH candidates from tether's own MinHash engine (the one the
    ``dedup`` step uses, measured faster than datasketch in benchmarks/dedup.py), then checked
    on their signatures."""
    from tether.curate.minhash import estimated_jaccard, lsh_pairs, optimal_bands, signatures

    if len(texts) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    sigs = signatures(list(texts), num_perm=num_perm, ngram=shingle, shingle="word", seed=1)
    bands, rows = optimal_bands(threshold, num_perm, fp_weight=0.05, fn_weight=0.95)  # candidates are verified
    a, b = lsh_pairs(sigs, bands, rows, window=window)
    keep = estimated_jaccard(sigs, a, b) >= threshold
    return a[keep], b[keep]


def near_duplicates(texts: Sequence[str], threshold: float = 0.8, num_perm: int = 64,
                    shingle: int = 3) -> list[int]:
    """For each record, the index of the earliest earlier record it near-duplicates (estimated
    Jaccard of word ``shingle``-grams >= threshold), or -1."""
    out = np.full(len(texts), -1, dtype=np.int64)
    a, b = _verified_pairs(texts, threshold, num_perm, shingle)
    if len(a):
        order = np.lexsort((a, b))  # by later record, then earliest partner first
        b_sorted, a_sorted = b[order], a[order]
        first = np.r_[True, b_sorted[1:] != b_sorted[:-1]]
        out[b_sorted[first]] = a_sorted[first]
    return out.tolist()


def near_matches(queries: Sequence[str], pool: Sequence[str], threshold: float = 0.8, num_perm: int = 64,
                 shingle: int = 3, window: int = 64) -> list[int]:
    """For each query text, the index of the first pool text with estimated Jaccard >= threshold
    (MinHash over word ``shingle``-grams), or -1.

    Queries are matched against the pool only, band by band: a query is compared with up to
    ``window`` pool texts of each band bucket it falls in, so many near-identical queries
    (a record replayed a hundred times) are each compared with the pool text itself.
    """
    from tether.curate.minhash import optimal_bands, signatures, sorted_unique

    out = np.full(len(queries), -1, dtype=np.int64)
    m = len(pool)
    if not len(queries) or not m:
        return out.tolist()
    sigs = signatures(list(pool) + list(queries), num_perm=num_perm, ngram=shingle, shingle="word", seed=1)
    bands, rows = optimal_bands(threshold, num_perm, fp_weight=0.05, fn_weight=0.95)  # candidates are verified
    cand_q: list[np.ndarray] = []
    cand_p: list[np.ndarray] = []
    for band in range(bands):
        cols = np.ascontiguousarray(sigs[:, band * rows : (band + 1) * rows])
        _, bucket = np.unique(cols.view(np.dtype((np.void, cols.dtype.itemsize * rows))).ravel(),
                              return_inverse=True)
        pb, qb = bucket[:m], bucket[m:]
        order = np.argsort(pb, kind="stable")
        sorted_pb = pb[order]
        lo = np.searchsorted(sorted_pb, qb, "left")
        cnt = np.minimum(np.searchsorted(sorted_pb, qb, "right") - lo, window)
        if not cnt.any():
            continue
        qi = np.repeat(np.arange(len(qb)), cnt)
        offs = np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        cand_q.append(qi)
        cand_p.append(order[np.repeat(lo, cnt) + offs])
    if not cand_q:
        return out.tolist()
    pair = sorted_unique(np.concatenate(cand_q).astype(np.int64) * m + np.concatenate(cand_p))
    q, p = pair // m, pair % m  # sorted by query, then pool index
    keep = (sigs[m + q] == sigs[p]).mean(axis=1) >= threshold
    q, p = q[keep], p[keep]
    if len(q):
        first = np.r_[True, q[1:] != q[:-1]]
        out[q[first]] = p[first]
    return out.tolist()


# ------------------------------------------------------------------ family runner


def run(data: AuditData) -> list[MetricResult]:
    """The family's metrics; the rules against the reference are in ``diversity_run``."""
    from tether.audit.diversity_run import run_family

    return run_family(data)


__all__ = [
    "WordNgrams",
    "compression_ratio",
    "distinct_n",
    "excess_null_of_openings",
    "excess_of_openings",
    "near_duplicates",
    "near_matches",
    "normalised_entropy",
    "openings",
    "openings_of_tokens",
    "prefix_excess",
    "prefix_excess_null",
    "prefix_rate",
    "rate_of_openings",
    "repeated_ngrams",
    "run",
    "self_repetition_scores",
    "vendi_score",
]
