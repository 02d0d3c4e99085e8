"""Semantic near-duplicates: cosine similarity of unit embeddings, greedy in priority order.

Example:
    >>> import numpy as np
    >>> v = np.array([[1, 0], [0.99, 0.141], [0, 1]], dtype=np.float32)
    >>> v /= np.linalg.norm(v, axis=1, keepdims=True)
    >>> semantic_duplicates(v, threshold=0.95)[0].tolist()
    [-1, 0, -1]
"""

from __future__ import annotations

import numpy as np


def similar_pairs(
    vectors: np.ndarray, threshold: float, *, queries: np.ndarray | None = None, block: int = 1024
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs ``(i, j, cosine)`` with cosine >= ``threshold``.

    Without ``queries``: pairs within ``vectors`` with ``j < i``. With ``queries``: ``i``
    indexes ``queries`` and ``j`` indexes ``vectors``. Vectors must be L2-normalised.
    Exact (blockwise matrix products), O(n*m) time and O(block*m) memory.
    """
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


def semantic_duplicates(vectors: np.ndarray, threshold: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Greedy semantic dedup over vectors in priority order (earlier = preferred).

    A vector is a duplicate when its cosine with an earlier *kept* vector reaches
    ``threshold``; no chaining, so any two kept vectors are below the threshold.
    Returns ``(dup_of, score)``: the index of the kept vector it duplicates (``-1`` if
    kept) and the best cosine with an earlier kept vector (``nan`` if none reaches it).
    """
    n = len(vectors)
    dup_of = np.full(n, -1, dtype=np.int64)
    score = np.full(n, np.nan, dtype=np.float32)
    i, j, s = similar_pairs(vectors, threshold)
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


__all__ = ["semantic_duplicates", "similar_pairs"]
