"""LLM backends behind one async interface, with cache, limits, retries and structured output.

Example:
    >>> from tether.llm import LLMConfig, LLMRequest, open_client
    >>> client = open_client(LLMConfig(model="m", base_url="http://127.0.0.1:8000/v1"))
    >>> resp = await client.generate(LLMRequest.chat("Say hi", temperature=0))   # doctest: +SKIP
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tether.errors import ConfigError
from tether.llm.cache import ResponseCache, request_key
from tether.llm.client import LLMClient, StepClient
from tether.llm.config import LLMConfig
from tether.llm.types import LLMRequest, LLMResponse, Message, TokenLogprob, Usage

log = logging.getLogger(__name__)


def open_client(
    config: LLMConfig,
    *,
    name: str = "default",
    cache_path: str | Path | None = None,
    transport: Any = None,
    backend: Any = None,
    base_dir: str | Path | None = None,
    **options: Any,
) -> LLMClient:
    """Build the client for ``config``.

    Args:
        config: the ``llm`` entry.
        name: its name in the pipeline (for messages and the manifest).
        cache_path: the run's ``cache.sqlite``; ``None`` for no cache.
        transport: an ``httpx`` transport for the openai backend (tests: ``httpx.MockTransport``).
        backend: a ready :class:`tether.llm._private.Backend` to use instead of building one.
        base_dir: where a relative ``replay_file`` / ``model_path`` is resolved.
        options: other run options; ignored here.

    Raises:
        ConfigError: the backend cannot be built (missing extra, missing key variable, bad file).
    """
    if options:
        log.debug("open_client ignores options %s", sorted(options))
    base = Path(base_dir) if base_dir is not None else None
    if backend is None:
        if config.backend == "openai":
            from tether.llm.backend_openai import OpenAIBackend

            backend = OpenAIBackend(config, transport=transport)
        elif config.backend == "replay":
            from tether.llm.backend_replay import ReplayBackend

            backend = ReplayBackend(config, base_dir=base)
        elif config.backend == "transformers":
            from tether.llm.backend_transformers import TransformersBackend

            backend = TransformersBackend(config, base_dir=base)
        elif config.backend == "vllm":
            from tether.llm.backend_vllm import VLLMBackend

            backend = VLLMBackend(config, base_dir=base)
        else:  # pragma: no cover - the config's Literal rules this out
            raise ConfigError(f"unknown LLM backend '{config.backend}'")
    return LLMClient(config, backend, name=name, cache_path=cache_path)


__all__ = [
    "LLMClient",
    "LLMConfig",
    "LLMRequest",
    "LLMResponse",
    "Message",
    "ResponseCache",
    "StepClient",
    "TokenLogprob",
    "Usage",
    "open_client",
    "request_key",
]
