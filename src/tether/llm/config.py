"""Configuration of one named LLM in a pipeline's ``llm`` section.

Example::

    llm:
      default:
        backend: openai
        model: Qwen/Qwen2.5-7B-Instruct
        base_url: http://localhost:8000/v1
        api_key_env: VLLM_API_KEY
        concurrency: 64
        rpm: 600
        max_cost_usd: 5.0
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from tether.errors import ConfigError


class LLMConfig(BaseModel):
    """One model the pipeline can call, by name (``llm: {default: {...}}``).

    The API key is never in the config: ``api_key_env`` names the environment variable
    that holds it, read only by :meth:`api_key`.
    """

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    backend: Literal["openai", "transformers", "vllm", "replay"] = "openai"
    """Which backend answers: an OpenAI-compatible server, a local transformers model, the
    vLLM offline engine, or a recorded replay file."""
    model: str
    """The model name the server knows (openai), a label for a local model (transformers,
    vllm; also its path when ``model_path`` is not set), or the recorded model (replay)."""
    base_url: str | None = None
    """Server URL up to ``/v1`` (openai). Default: https://api.openai.com/v1."""
    api_key_env: str | None = None
    """Name of the environment variable holding the API key (openai). Never the key itself."""

    # ---- limits
    concurrency: int = Field(16, ge=1)
    """Most requests in flight at once (lowered automatically on 429, raised back slowly).
    Default: 16; for local models (transformers, vllm) twice ``batch_size``, so that the next
    batch is ready when one ends."""
    rpm: float | None = Field(None, gt=0)
    """Requests per minute cap, or none."""
    tpm: float | None = Field(None, gt=0)
    """Tokens per minute cap (prompt estimate + max_tokens, settled with the real usage), or none."""
    timeout_s: float = Field(60.0, gt=0)
    """Hard wall-clock limit of one attempt (connect, send, wait, read)."""
    total_timeout_s: float = Field(300.0, gt=0)
    """Hard wall-clock limit of one request's own attempts and the waits between them; time
    spent queued for a slot (behind the concurrency cap or a bucket) does not count."""
    max_retries: int = Field(5, ge=0)
    """Retries after the first attempt on 5xx, connection errors, time-outs, bad bodies."""
    max_rate_limit_retries: int = Field(20, ge=0)
    """Retries on 429 (the server asking to wait), counted apart from ``max_retries``."""
    backoff_s: float = Field(0.5, ge=0)
    """Base of the exponential back-off (full jitter), when the server gives no Retry-After."""
    max_backoff_s: float = Field(30.0, ge=0)
    """Longest single wait between attempts (Retry-After included)."""

    # ---- stopping cleanly
    error_rate_threshold: float = Field(0.5, gt=0, le=1)
    """Stop the run when this share of the last ``error_window`` requests failed."""
    error_window: int = Field(20, ge=1)
    """How many recent requests the error rate is measured over (it needs a full window)."""
    price_per_1k_prompt: float | None = Field(None, ge=0)
    """USD per 1,000 prompt tokens, for the cost in the manifest and ``max_cost_usd``."""
    price_per_1k_completion: float | None = Field(None, ge=0)
    """USD per 1,000 completion tokens."""
    max_cost_usd: float | None = Field(None, gt=0)
    """Stop the run (resumably) once this much was spent in the run directory."""
    max_tokens_budget: int | None = Field(None, gt=0)
    """Stop the run (resumably) once this many tokens (prompt + completion) were spent."""

    # ---- structured output
    structured_mode: Literal["auto", "json_schema", "prompt"] = "auto"
    """``json_schema``: ask the server for schema-constrained output (response_format);
    ``prompt``: instruct and parse only; ``auto``: json_schema, falling back to prompt when
    the server refuses it."""

    # ---- local models (transformers, vllm)
    model_path: str | None = None
    """Local model directory (transformers, vllm). Default: ``model``."""
    revision: str | None = None
    """Model revision; part of the model identity (and so of the cache key)."""
    device: str = "cpu"
    """transformers: ``cpu``, ``cuda``, ``cuda:1``, ``auto``."""
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    """Weights' dtype (transformers, vllm)."""
    batch_size: int = Field(8, ge=1)
    """transformers/vllm: most requests generated together in one batch. Default: 8
    (transformers), 256 (vllm, which schedules a batch on the GPU itself)."""
    batch_wait_ms: float = Field(5.0, ge=0)
    """transformers/vllm: how long a batch waits to fill up."""
    gpu_memory_utilization: float = Field(0.85, gt=0, le=1)
    """vllm: share of GPU memory the engine may take."""
    load_format: str | None = None
    """vllm: e.g. ``dummy`` for random weights (throughput checks)."""

    # ---- replay
    replay_file: str | None = None
    """replay: a JSONL file from ``tether cache export`` or a run's ``cache.sqlite``."""

    cache: bool = True
    """Keep answers in the run's cache.sqlite (a rerun makes no repeated calls)."""

    @model_validator(mode="before")
    @classmethod
    def _backend_defaults(cls, data: Any) -> Any:
        """Defaults that depend on the backend: a vLLM engine wants hundreds of requests at once."""
        if not isinstance(data, dict):
            return data
        backend = data.get("backend", "openai")
        if backend not in ("transformers", "vllm"):
            return data
        data = dict(data)
        data.setdefault("batch_size", 256 if backend == "vllm" else 8)
        batch = data["batch_size"]
        if "concurrency" not in data and isinstance(batch, int) and batch >= 1:
            data["concurrency"] = 2 * batch
        return data

    @model_validator(mode="after")
    def _check(self) -> LLMConfig:
        if self.backend == "replay" and not self.replay_file:
            raise ValueError("backend 'replay' needs replay_file (a JSONL from `tether cache export`)")
        return self

    def api_key(self) -> SecretStr | None:
        """The API key from the environment variable ``api_key_env`` (the one place it is read).

        Raises:
            ConfigError: the variable is named but not set.
        """
        if not self.api_key_env:
            return None
        value = os.environ.get(self.api_key_env)
        if not value:
            raise ConfigError(
                f"llm model '{self.model}': environment variable {self.api_key_env} (api_key_env) is not set",
                hint=f"export {self.api_key_env}=... before the run, or drop api_key_env for a local server",
            )
        return SecretStr(value)

    @property
    def identity(self) -> str:
        """Backend + model (+ revision): what lineage records as ``model``."""
        rev = f"@{self.revision}" if self.revision else ""
        return f"{self.backend}:{self.model}{rev}"


__all__ = ["LLMConfig"]
