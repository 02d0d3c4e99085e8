"""Semantic dedup: exact search vs the faiss (HNSW) index, and the choice between them."""

from __future__ import annotations

import numpy as np
import pytest
from curate_helpers import make_ctx, run_step

from tether.curate import Dedup
from tether.curate import semantic as sem
from tether.curate.semantic import ann_pairs, resolve_search, semantic_duplicates, similar_pairs
from tether.records import new_record


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _planted(n_base: int = 600, dim: int = 64, seed: int = 0):
    """Random unit bases (pairwise cosine ~0 in 64 dims) and, for every other base, 1-3 copies
    at cosine ~0.99 (well above 0.9), shuffled; returns vectors and the indices that are copies."""
    rng = np.random.default_rng(seed)
    base = _unit(rng.normal(size=(n_base, dim)))
    rows, is_copy = [base], [np.zeros(n_base, bool)]
    for b in range(0, n_base, 2):
        c = int(rng.integers(1, 4))
        rows.append(_unit(base[b] + 0.1 * rng.normal(size=(c, dim)) / np.sqrt(dim)))
        is_copy.append(np.ones(c, bool))
    v, copy = np.vstack(rows), np.concatenate(is_copy)
    order = rng.permutation(len(v))
    return v[order], copy[order]


def test_ann_and_exact_give_the_same_dedup_decisions():
    v, _ = _planted()
    d_exact, s_exact = semantic_duplicates(v, 0.9, search="exact")
    d_ann, s_ann = semantic_duplicates(v, 0.9, search="ann", k=8)
    assert (d_exact >= 0).sum() >= 300  # every copy or its base is removed: one per planted copy
    assert d_ann.tolist() == d_exact.tolist()
    np.testing.assert_allclose(s_ann, s_exact, atol=1e-5)


def test_ann_pairs_are_verified_and_match_exact():
    v, _ = _planted(seed=1)
    rng = np.random.default_rng(3)
    # hard negatives: cosine ~0.85-0.9 with a base, near the 0.9 threshold but below most of the time
    neg = _unit(v[:200] + rng.uniform(0.45, 0.6, size=(200, 1)) * _unit(rng.normal(size=(200, v.shape[1]))))
    x = np.vstack([v, neg])
    i, j, s = ann_pairs(x, 0.9, k=16)
    assert len(i) and (s >= 0.9).all() and (j < i).all()
    np.testing.assert_allclose(s, np.einsum("ij,ij->i", x[i], x[j]), atol=1e-6)  # the exact cosine
    ie, je, _ = similar_pairs(x, 0.9, search="exact")
    assert set(zip(i.tolist(), j.tolist(), strict=True)) == set(zip(ie.tolist(), je.tolist(), strict=True))
    # queries against a separate set
    qi, qj, qs = similar_pairs(x[:500], 0.9, queries=x[500:], search="ann", k=16)
    ei, ej, _ = similar_pairs(x[:500], 0.9, queries=x[500:], search="exact")
    assert (qs >= 0.9).all()
    assert set(zip(qi.tolist(), qj.tolist(), strict=True)) == set(zip(ei.tolist(), ej.tolist(), strict=True))


def test_ann_never_returns_a_pair_below_the_threshold():
    """With k far below the number of true neighbours the index misses pairs, but every pair
    it returns is at the threshold: candidates are checked by their exact cosine."""
    rng = np.random.default_rng(4)
    x = _unit(rng.normal(size=(3000, 8)))  # 8 dims: many neighbours near any cosine
    for t in (0.8, 0.9, 0.95):
        i, j, s = ann_pairs(x, t, k=4)
        exact = set(zip(*similar_pairs(x, t, search="exact")[:2], strict=True))
        assert (s >= t).all()
        assert set(zip(i.tolist(), j.tolist(), strict=True)) <= {(int(a), int(b)) for a, b in exact}


def test_resolve_search_auto_picks_exact_below_the_size():
    assert resolve_search("auto", sem.ANN_MIN_SIZE) == "exact"
    assert resolve_search("auto", sem.ANN_MIN_SIZE + 1) == "ann"
    assert resolve_search("exact", 10**9) == "exact" and resolve_search("ann", 3) == "ann"
    with pytest.raises(ValueError, match="exact, ann or auto"):
        resolve_search("fast", 10)  # type: ignore[arg-type]


def test_auto_uses_exact_below_and_ann_above(monkeypatch):
    calls: list[int] = []
    real = sem.ann_pairs

    def spy(vectors, *a, **kw):
        calls.append(len(vectors))
        return real(vectors, *a, **kw)

    monkeypatch.setattr(sem, "ann_pairs", spy)
    v, _ = _planted(n_base=200)
    semantic_duplicates(v, 0.9)  # auto, a small set
    assert calls == []
    monkeypatch.setattr(sem, "ANN_MIN_SIZE", 100)
    d_auto, _ = semantic_duplicates(v, 0.9)
    assert calls == [len(v)]
    assert d_auto.tolist() == semantic_duplicates(v, 0.9, search="exact")[0].tolist()


def test_step_search_ann_forced_on_a_small_set(monkeypatch):
    calls: list[int] = []
    real = sem.ann_pairs

    def spy(vectors, *a, **kw):
        calls.append(len(vectors))
        return real(vectors, *a, **kw)

    monkeypatch.setattr(sem, "ann_pairs", spy)
    texts = ["How do I reset my password?", "How do I reset my password??", "What is the capital of France?",
             "Photosynthesis converts light into chemical energy.", "photosynthesis converts light into chemical energy"]
    recs = [new_record({"text": t}) for t in texts]
    out_ann = run_step(Dedup(method="semantic", threshold=0.9, search="ann", k=4), recs, make_ctx("dedup"))
    assert calls == [len(texts)]
    out_exact = run_step(Dedup(method="semantic", threshold=0.9, search="exact"), recs, make_ctx("dedup"))
    assert len(calls) == 1
    assert sorted(r["id"] for r, _ in out_ann.rejected) == sorted(r["id"] for r, _ in out_exact.rejected)
    assert len(out_ann.rejected) == 2 and {v.reason for _, v in out_ann.rejected} == {"semantic_duplicate"}


def test_step_search_config():
    assert Dedup(method="semantic").search == "auto" and Dedup(method="semantic").k == 32
    with pytest.raises(ValueError):
        Dedup(method="semantic", search="fast")
    with pytest.raises(ValueError):
        Dedup(method="semantic", k=0)
