"""Configuration of one named LLM in a pipeline's ``llm`` section."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class LLMConfig(BaseModel):
    """One model the pipeline can call, by name (``llm: {default: {...}}``).

    The API key is never in the config: ``api_key_env`` names the environment variable
    that holds it.
    """

    model_config = ConfigDict(extra="forbid")

    backend: Literal["openai", "transformers", "vllm", "replay"] = "openai"
    model: str
    base_url: str | None = None
    api_key_env: str | None = None
