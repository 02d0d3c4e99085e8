"""Semantic near-duplicates: cosine similarity of unit embeddings, greedy in priority order.

Pairs come from an exact search (blockwise matrix products, O(n^2)) or, above
``ANN_MIN_SIZE`` vectors or when asked, from an approximate nearest-neighbour index (faiss
IVF-Flat on inner product; HNSW on request): each vector's ``k`` nearest neighbours are candidates, and a
candidate counts only if its exact cosine (recomputed from the vectors) reaches the
threshold. So the index can miss a pair, never invent one.

Example:
    >>> import numpy as np
    >>> v = np.array([[1, 0], [0.99, 0.141], [0, 1]], dtype=np.float32)
    >>> v /= np.linalg.norm(v, axis=1, keepdims=True)
    >>> semantic_duplicates(v, threshold=0.95)[0].tolist()
    [-1, 0, -1]
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from tether.errors import ConfigError

Search = Literal["exact", "ann", "auto"]
ANN_MIN_SIZE = 20_000
"""``search: auto`` uses the index when the searched set has more vectors than this."""
DEFAULT_K = 32
DEFAULT_NPROBE = 16
IVF_NITER, IVF_TRAIN_PER_LIST = 10, 40
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 16, 40, 48


def resolve_search(search: Search, n: int, min_size: int | None = None) -> Literal["exact", "ann"]:
    """``exact`` or ``ann`` for a searched set of ``n`` vectors (``auto``: ann when n > min_size,
    default ``ANN_MIN_SIZE``)."""
    if search == "auto":
        return "ann" if n > (ANN_MIN_SIZE if min_size is None else min_size) else "exact"
    if search not in ("exact", "ann"):
        raise ValueError(f"search must be exact, ann or auto; got {search!r}")
    return search


def similar_pairs(
    vectors: np.ndarray, threshold: float, *, queries: np.ndarray | None = None, block: int = 1024,
    search: Search = "exact", k: int = DEFAULT_K, nprobe: int = DEFAULT_NPROBE,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs ``(i, j, cosine)`` with cosine >= ``threshold``.

    Without ``queries``: pairs within ``vectors`` with ``j < i``. With ``queries``: ``i``
    indexes ``queries`` and ``j`` indexes ``vectors``. Vectors must be L2-normalised.
    ``search="exact"``: blockwise matrix products, O(n*m) time and O(block*m) memory, every
    pair. ``"ann"``: :func:`ann_pairs` (the ``k`` nearest of each query, verified; may miss
    pairs). ``"auto"``: ann when ``vectors`` has more than ``ANN_MIN_SIZE`` rows.
    """
    if resolve_search(search, len(vectors)) == "ann":
        return ann_pairs(vectors, threshold, queries=queries, k=k, nprobe=nprobe)
    self_pairs = queries is None
    q = vectors if queries is None else queries
    ii: list[np.ndarray] = []
    jj: list[np.ndarray] = []
    ss: list[np.ndarray] = []
    for lo in range(0, len(q), block):
        sims = q[lo : lo + block] @ vectors.T
        if self_pairs:
            rows = np.arange(lo, lo + len(sims))[:, None]
            sims = np.where(np.arange(len(vectors))[None, :] < rows, sims, -np.inf)
        i, j = np.nonzero(sims >= threshold)
        ii.append(i + lo)
        jj.append(j)
        ss.append(sims[i, j])
    if not ii:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    return np.concatenate(ii), np.concatenate(jj), np.concatenate(ss).astype(np.float32)


def _faiss():  # noqa: ANN202
    try:
        import faiss
    except ImportError as exc:  # a core dependency; only a broken install lacks it
        raise ConfigError("semantic dedup with search: ann needs faiss", hint="pip install faiss-cpu") from exc
    return faiss


def ann_index(vectors: np.ndarray, kind: Literal["ivf", "hnsw"] = "ivf", nprobe: int = DEFAULT_NPROBE):  # noqa: ANN201
    """A faiss index (inner product) over unit ``vectors``: IVF-Flat (``nlist`` about 4 sqrt(n)
    cells, k-means on a sample, ``nprobe`` cells searched) or HNSW (``HNSW_M`` links)."""
    faiss = _faiss()
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    n, d = x.shape
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.add(x)
        return index
    nlist = max(1, min(int(4 * np.sqrt(n)), n // 39))  # faiss wants >= 39 training points per cell
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = IVF_NITER
    index.cp.min_points_per_centroid = 1
    sample = np.random.default_rng(0).choice(n, size=min(n, IVF_TRAIN_PER_LIST * nlist), replace=False)
    index.train(x[np.sort(sample)])
    index.add(x)
    index.nprobe = min(nprobe, nlist)
    return index


def pair_cosines(a: np.ndarray, b: np.ndarray, i: np.ndarray, j: np.ndarray, block: int = 16_384) -> np.ndarray:
    """``a[i] . b[j]`` for each pair, a block of pairs at a time (the gathered rows stay small)."""
    s = np.zeros(len(i), dtype=np.float32)
    for lo in range(0, len(i), block):
        s[lo : lo + block] = np.einsum("ij,ij->i", a[i[lo : lo + block]], b[j[lo : lo + block]])
    return s


def ann_pairs(
    vectors: np.ndarray, threshold: float, *, queries: np.ndarray | None = None, k: int = DEFAULT_K,
    nprobe: int = DEFAULT_NPROBE, kind: Literal["ivf", "hnsw"] = "ivf", block: int = 65_536,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`similar_pairs` through a faiss index (:func:`ann_index`): the ``k`` nearest ``vectors`` of each
    query are candidates; a candidate is kept only if its exact cosine (the dot product of
    the two vectors) reaches ``threshold``. Without ``queries`` the set is searched against
    itself and a pair found from either end counts once, as ``(later, earlier)``.
    A pair is missed when the index does not return it (or a vector has more than ``k - 1``
    neighbours at the threshold); no returned pair is below the threshold.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1; got {k}")
    self_pairs = queries is None
    q = vectors if queries is None else queries
    if len(vectors) == 0 or len(q) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    index = ann_index(vectors, kind, nprobe)
    if kind == "hnsw":
        index.hnsw.efSearch = max(HNSW_EF_SEARCH, k)
    kk = min(k + self_pairs, len(vectors))
    ii: list[np.ndarray] = []
    jj: list[np.ndarray] = []
    for lo in range(0, len(q), block):
        qb = np.ascontiguousarray(q[lo : lo + block], dtype=np.float32)
        _, nb = index.search(qb, kk)
        rows = np.repeat(np.arange(lo, lo + len(qb)), kk)
        cols = nb.reshape(-1)
        ok = cols >= 0
        rows, cols = rows[ok], cols[ok]
        if self_pairs:
            ok = rows != cols
            rows, cols = rows[ok], cols[ok]
            rows, cols = np.maximum(rows, cols), np.minimum(rows, cols)
        ii.append(rows)
        jj.append(cols)
    i, j = np.concatenate(ii).astype(np.int64), np.concatenate(jj).astype(np.int64)
    if self_pairs:
        key = np.unique(i * len(vectors) + j)
        i, j = key // len(vectors), key % len(vectors)
    s = pair_cosines(q, vectors, i, j)
    ok = s >= threshold
    return i[ok], j[ok], s[ok]


def semantic_duplicates(
    vectors: np.ndarray, threshold: float = 0.95, *, search: Search = "auto", k: int = DEFAULT_K,
    nprobe: int = DEFAULT_NPROBE,
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy semantic dedup over vectors in priority order (earlier = preferred).

    A vector is a duplicate when its cosine with an earlier *kept* vector reaches
    ``threshold``; no chaining, so any two kept vectors are below the threshold.
    Returns ``(dup_of, score)``: the index of the kept vector it duplicates (``-1`` if
    kept) and the best cosine with an earlier kept vector (``nan`` if none reaches it).
    ``search``/``k``: how pairs are found (:func:`similar_pairs`); the greedy pass over them is
    the same, so ann gives the exact result whenever it finds the pairs exact search finds.
    """
    n = len(vectors)
    dup_of = np.full(n, -1, dtype=np.int64)
    score = np.full(n, np.nan, dtype=np.float32)
    i, j, s = similar_pairs(vectors, threshold, search=search, k=k, nprobe=nprobe)
    if len(i) == 0:
        return dup_of, score
    order = np.lexsort((-s, i))
    i, j, s = i[order], j[order], s[order]
    bounds = np.searchsorted(i, np.arange(n + 1))
    for k in np.unique(i):
        lo, hi = bounds[k], bounds[k + 1]
        for jj, ss in zip(j[lo:hi], s[lo:hi], strict=True):
            if dup_of[jj] == -1:  # the best-matching earlier record that was kept
                dup_of[k] = jj
                score[k] = ss
                break
    return dup_of, score


__all__ = ["ANN_MIN_SIZE", "DEFAULT_K", "DEFAULT_NPROBE", "ann_index", "ann_pairs", "pair_cosines", "resolve_search", "semantic_duplicates", "similar_pairs"]
