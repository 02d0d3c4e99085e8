"""The embedder: MiniLM loads offline and gives semantic vectors; the cache avoids recompute."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tether.embed import Embedder, EmbedderConfig, EmbeddingCache


def test_hashing_backend_is_normalised_and_deterministic() -> None:
    e = Embedder(EmbedderConfig(backend="hashing", dim=128))
    a = e.encode(["the cat sat", "the cat sat", "quantum chromodynamics"])
    assert a.shape == (3, 128) and np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.allclose(a[0], a[1]) and a[0] @ a[2] < 0.5
    assert e.encode([]).shape == (0, 128)


def test_minilm_offline_with_cache(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    cache = tmp_path / "cache.sqlite"
    e = Embedder(EmbedderConfig(), cache_path=cache)
    texts = ["How do I start a compost pile?", "What is the way to begin composting at home?", "Stock market futures fell."]
    v = e.encode(texts)
    assert v.shape == (3, 384)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.3  # a paraphrase is closer than an unrelated sentence
    assert EmbeddingCache(cache).count() == 3
    e2 = Embedder(EmbedderConfig(), cache_path=cache)
    e2._compute = None  # type: ignore[assignment]  # any recompute would fail
    assert np.allclose(e2.encode(texts[::-1]), v[::-1], atol=1e-6)
    e.close()
    e2.close()
