"""What a step may call on an LLM, typed: ``StepContext.llm(name)`` returns a :class:`StepLLM`;
the run holds :class:`RunLLM` clients (``LLMClient``, or any object with these methods).

Structural (``typing.Protocol``): a client is one by having the methods, not by inheriting.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel

from tether.llm.types import LLMRequest, LLMResponse

M = TypeVar("M", bound=BaseModel)


@runtime_checkable
class StepLLM(Protocol):
    """The client as one step sees it: generation, with usage attributed to the step."""

    @property
    def model_identity(self) -> str:
        """Backend + model (+ revision): what lineage records as ``model``."""
        ...

    async def generate(self, request: LLMRequest, *, record_id: str | None = None) -> LLMResponse:
        """Answer ``request`` (raises :class:`tether.errors.LLMError` subclasses on failure)."""
        ...

    async def generate_structured(
        self, request: LLMRequest, schema: type[M], *, record_id: str | None = None, max_attempts: int = 3
    ) -> tuple[M, LLMResponse]:
        """Answer with an instance of ``schema`` (raises ``LLMResponseError`` with the raw text)."""
        ...


@runtime_checkable
class RunLLM(StepLLM, Protocol):
    """A client a run holds: a step's view of it, its usage for the manifest, closing."""

    def for_step(self, step: str) -> StepLLM:
        """The view of this client that attributes usage to ``step``."""
        ...

    def usage_report(self) -> dict[str, Any]:
        """Usage of the client in this process, for the manifest."""
        ...

    def usage_by_step(self) -> dict[str, dict[str, Any]]:
        """Usage per step name."""
        ...

    def close(self) -> None:
        """Release what can be released without an event loop."""
        ...


__all__ = ["RunLLM", "StepLLM"]
