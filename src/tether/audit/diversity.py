"""Diversity: distinct-n, compression ratio, self-repetition, Vendi score, cluster entropy,
template/prefix rate against the reference, and the near-duplicate rate.

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

from tether.audit.base import MetricResult, bootstrap_ci, metric, nan_warn, offenders, wilson_ci
from tether.audit.dataset import AuditData, Corpus
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
                              "of an earlier record.", warn="> 0.05")


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


def prefix_rate(texts: Sequence[str], words: int = 3, top: int = 10) -> tuple[float, list[tuple[str, int]]]:
    """Share of records whose first ``words`` words are one of the ``top`` most common openings."""
    opens = openings(texts, words)
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
    so, ro = Counter(openings(texts, words)), Counter(openings(reference, words))
    ns, nr = sum(so.values()), sum(ro.values())
    if not ns or not nr:
        return nan_warn("prefix_excess")
    return _excess(so, ro, ns, nr, top)


def prefix_excess_null(texts: Sequence[str], reference: Sequence[str], words: int = 3, top: int = 10,
                       rounds: int = 50, seed: int = 0) -> np.ndarray:
    """``prefix_excess`` when the synthetic/reference labels are shuffled (``rounds`` times):
    what chance alone gives at these sizes. The sum of positive parts is biased upward on
    small corpora (every opening that happens to be more common on one side adds), so the
    excess is judged against this null, not against zero."""
    pool = openings(texts, words) + openings(reference, words)
    ns = len(texts)
    if not ns or len(pool) == ns:
        return np.full(0, np.nan)
    rng = np.random.default_rng(seed)
    out = np.empty(rounds)
    for i in range(rounds):
        perm = rng.permutation(len(pool))
        a, b = Counter(pool[j] for j in perm[:ns]), Counter(pool[j] for j in perm[ns:])
        out[i] = _excess(a, b, ns, len(pool) - ns, top)
    return out


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


def _ref_same_size(data: AuditData) -> Corpus | None:
    ref = data.reference
    if ref is None:
        return None
    n = len(data.synthetic)
    if len(ref) > n:
        rng = np.random.default_rng(data.config.seed + 7)
        return ref.subset(np.sort(rng.choice(len(ref), n, replace=False)))
    return ref


def run(data: AuditData) -> list[MetricResult]:
    cfg = data.config
    syn = data.synthetic
    ref = _ref_same_size(data)
    n = len(syn)
    out: list[MetricResult] = []

    grams = WordNgrams(syn.tokens, max(DISTINCT))
    ref_grams = WordNgrams(ref.tokens, max(DISTINCT)) if ref is not None else None
    for k, info in DISTINCT.items():
        v = grams.distinct(k)
        top_grams, share = grams.most_repeated(k, syn.ids)
        # offenders: the records made most of the corpus's most repeated n-grams
        res = MetricResult.of(info, v, n=n, details={"top_ngrams": top_grams},
                              offenders=[o for o in offenders(syn.ids, share, syn.texts) if o["score"] > 0])
        if ref_grams is not None:
            rv = ref_grams.distinct(k)
            res.details["reference"] = rv
            res.warn_if(v < 0.8 * rv, f"below 80% of the reference ({rv:.3f})")
        out.append(res)

    cr = compression_ratio(syn.texts)
    res = MetricResult.of(COMPRESSION, cr, n=n)
    if ref is not None:
        rcr = compression_ratio(ref.texts)
        res.details["reference"] = rcr
        res.warn_if(cr > 1.25 * rcr, f"25% more compressible than the reference ({rcr:.2f})")
    out.append(res)

    sr = grams.self_repetition(4)
    res = MetricResult.of(SELF_REP, float(sr.mean()) if n else float("nan"), n=n,
                          ci=bootstrap_ci(sr, n_boot=cfg.bootstrap, seed=cfg.seed),
                          details={"top_ngrams": grams.most_repeated(4, syn.ids)[0]},
                          offenders=offenders(syn.ids, sr, syn.texts))
    if ref_grams is not None:
        rsr = float(ref_grams.self_repetition(4).mean())
        res.details["reference"] = rsr
        res.warn_if(res.value > rsr + 0.1, f"more than 0.1 above the reference ({rsr:.3f})")
    out.append(res)

    emb = data.emb(syn)
    v = vendi_score(emb)
    res = MetricResult.of(VENDI, v, n=n)
    if ref is not None:
        rv = vendi_score(data.emb(ref))
        res.details["reference"] = rv
        res.details["ratio"] = v / rv if rv else float("nan")
        res.warn_if(v < 0.8 * rv, f"below 80% of the reference ({rv:.1f})")
    out.append(res)

    # clusters are fitted on the reference (when given), so duplicates in the synthetic data
    # cannot pull the centroids towards themselves
    # float64: scikit-learn's k-means upcasts float32 distances chunk by chunk (about 0.7 s of
    # 2 s on 10k records)
    base = (emb if ref is None else data.emb(ref)).astype(np.float64)
    emb64 = emb.astype(np.float64)
    k = int(max(2, min(50, len(base) // 20)))
    if n >= 2 and len(base) >= 2 * k:
        km = fit_kmeans(base, k, cfg.seed)
        labels = km.predict(emb64)
        h = normalised_entropy(labels, k)
        share = np.bincount(labels, minlength=k) / n
        # the clusters holding more synthetic records than expected (the reference's share, or
        # 1/k without one); offenders are the most typical members of the most crowded one
        expected = np.bincount(km.labels_, minlength=k) / len(km.labels_) if ref is not None else np.full(k, 1 / k)
        excess = share - expected
        crowded = [int(c) for c in np.argsort(-excess, kind="stable")[:5] if excess[c] > 0]
        members: list[int] = []
        if crowded:
            idx = np.where(labels == crowded[0])[0]
            members = idx[np.argsort(km.transform(emb64[idx])[:, crowded[0]], kind="stable")][:10].tolist()
        res = MetricResult.of(
            CLUSTER_H, h, n=n,
            details={"k": k, "fitted_on": "reference" if ref else "synthetic",
                     "largest_clusters": [{"cluster": c, "share": float(share[c]), "expected_share": float(expected[c]),
                                           "size": int(share[c] * n + 0.5)} for c in crowded]},
            offenders=[{"id": syn.ids[i], "score": float(excess[crowded[0]]), "cluster": crowded[0],
                        "text": syn.texts[i][:300]} for i in members])
        if ref is not None:
            rh = normalised_entropy(km.labels_, k)
            res.details["reference"] = rh
            res.warn_if(h < rh - 0.1, f"more than 0.1 below the reference ({rh:.3f})")
        out.append(res)

    pr, common = prefix_rate(syn.texts, cfg.prefix_words, cfg.prefix_top)
    opens = openings(syn.texts, cfg.prefix_words)
    top = {o for o, _ in common[:3]}
    bad = [i for i, o in enumerate(opens) if o in top]
    res = MetricResult.of(
        PREFIX, pr, n=n, ci=wilson_ci(round(pr * n), n) if n else None,
        details={"top_openings": [{"opening": o, "count": c} for o, c in common]},
        offenders=[{"id": syn.ids[i], "score": 1.0, "text": syn.texts[i][:300]} for i in bad[:10]],
    )
    if ref is not None:
        rpr, rcommon = prefix_rate(ref.texts, cfg.prefix_words, cfg.prefix_top)
        res.details["reference"] = rpr
        res.details["reference_top_openings"] = [{"opening": o, "count": c} for o, c in rcommon]
        ex = prefix_excess(syn.texts, ref.texts, cfg.prefix_words, cfg.prefix_top)
        null = prefix_excess_null(syn.texts, ref.texts, cfg.prefix_words, cfg.prefix_top, seed=cfg.seed)
        q50, q95 = (float(np.quantile(null, 0.5)), float(np.quantile(null, 0.95))) if null.size else (0.0, 0.0)
        res.details["excess_over_reference"] = ex
        res.details["excess_by_chance"] = {"median": q50, "p95": q95}
        res.warn_if(ex > q95 and ex - q50 > 0.1,
                    f"common openings take {ex:.1%} more records than in the reference "
                    f"(chance alone gives {q50:.1%}, 95th percentile {q95:.1%})")
    else:
        res.warn_if(pr > 0.3, "over 30% of records share a few openings")
    out.append(res)

    dups = near_duplicates(syn.texts, cfg.near_dup_threshold)
    flagged = [i for i, j in enumerate(dups) if j >= 0]
    res = MetricResult.of(
        NEAR_DUP, len(flagged) / n if n else float("nan"), n=n, ci=wilson_ci(len(flagged), n),
        details={"count": len(flagged), "threshold": cfg.near_dup_threshold},
        offenders=[{"id": syn.ids[i], "score": 1.0, "duplicate_of": syn.ids[dups[i]], "text": syn.texts[i][:300]}
                   for i in flagged[:10]],
    )
    out.append(res)
    return out


__all__ = [
    "compression_ratio",
    "distinct_n",
    "near_duplicates",
    "near_matches",
    "normalised_entropy",
    "prefix_excess",
    "prefix_excess_null",
    "prefix_rate",
    "repeated_ngrams",
    "run",
    "self_repetition_scores",
    "vendi_score",
]
