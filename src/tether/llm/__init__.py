"""LLM backends behind one async interface, with cache, limits, retries and structured output."""

from __future__ import annotations

from typing import Any

from tether.errors import ConfigError
from tether.llm.config import LLMConfig
from tether.llm.types import LLMRequest, LLMResponse, Message, TokenLogprob, Usage


def open_client(config: LLMConfig, **kwargs: Any) -> Any:
    """Build the client for ``config``."""
    raise ConfigError(f"LLM backend '{config.backend}' is not available in this build")


__all__ = ["LLMConfig", "LLMRequest", "LLMResponse", "Message", "TokenLogprob", "Usage", "open_client"]
