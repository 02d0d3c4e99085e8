"""Typed requests and responses of the one LLM interface every backend implements."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Message(BaseModel):
    """One chat message."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant", "tool"]
    content: str


class LLMRequest(BaseModel):
    """A generation request. ``output_schema`` (a JSON schema) asks for structured output."""

    model_config = ConfigDict(extra="forbid")

    messages: list[Message]
    n: int = Field(1, ge=1)
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = Field(512, ge=1)
    seed: int | None = None
    stop: list[str] | None = None
    output_schema: dict[str, Any] | None = None
    logprobs: bool = False
    sample_key: str | None = None
    """Tells apart samples of one prompt drawn for different records (e.g. a record's id): part
    of the cache key, never sent. Without it, records that render the same prompt share one
    cached answer, and temperature sampling would give them copies."""

    @classmethod
    def chat(cls, prompt: str, *, system: str | None = None, **params: Any) -> LLMRequest:
        """A request from a user prompt and an optional system prompt."""
        msgs = ([Message(role="system", content=system)] if system else []) + [Message(role="user", content=prompt)]
        return cls(messages=msgs, **params)


class Usage(BaseModel):
    """Tokens of one call (or a sum of calls)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class TokenLogprob(BaseModel):
    token: str
    logprob: float


class LLMResponse(BaseModel):
    """What a call returned: one text per requested sample (``n``)."""

    texts: list[str]
    finish_reasons: list[str | None] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    logprobs: list[list[TokenLogprob]] | None = None
    model: str | None = None
    cached: bool = False
    request_hash: str | None = None
    """The cache key of the request: lineage records it as ``prompt_hash``."""

    @property
    def text(self) -> str:
        return self.texts[0]


__all__ = ["LLMRequest", "LLMResponse", "Message", "TokenLogprob", "Usage"]
