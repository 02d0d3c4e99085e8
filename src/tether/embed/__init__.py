"""Embedding backends (local all-MiniLM-L6-v2 by default) and their cache."""

from __future__ import annotations

from tether.embed.cache import EmbeddingCache
from tether.embed.config import EmbedderConfig
from tether.embed.embedder import MINILM, Embedder

__all__ = ["MINILM", "Embedder", "EmbedderConfig", "EmbeddingCache"]
