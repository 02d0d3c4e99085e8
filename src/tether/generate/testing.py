"""A scripted LLM client for tests and for recording the examples' responses.

:class:`ScriptedLLM` implements the client interface the recipes use (``generate``,
``generate_structured``, ``for_step``, usage, ``close``) with answers from a Python function,
so a recipe can be run end to end without a model. It is not a model: what it says is what
the function says.

Example:
    >>> import asyncio
import re
    >>> from tether.llm.types import LLMRequest
    >>> llm = ScriptedLLM(lambda req: "42")
    >>> asyncio.run(llm.generate(LLMRequest.chat("6 x 7?"))).text
    '42'
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from tether.errors import LLMResponseError
from tether.llm.types import LLMRequest, LLMResponse, Usage
from tether.records import digest

Responder = Callable[[LLMRequest], "str | list[str]"]


def request_text(request: LLMRequest) -> str:
    """All message contents of a request, joined: what a responder usually inspects."""
    return "\n".join(m.content for m in request.messages)


_FENCED = re.compile(r"<(DATA-[0-9a-f]{16})>\n(.*?)\n</\1>", re.S)


def fenced(text: str) -> list[str]:
    """The texts a prompt wraps in randomised delimiters, in order."""
    return [m.group(2) for m in _FENCED.finditer(text)]


def schema_name(request: LLMRequest) -> str | None:
    """The title of the request's output schema (the pydantic model's name), if any."""
    return (request.output_schema or {}).get("title")


class ScriptedLLM:
    """A client whose answers come from ``responder(request) -> text or list of texts``.

    Args:
        responder: called once per request; a list answers ``n`` samples (cycled if short).
        model: the ``model_identity`` written to lineage.
    """

    def __init__(self, responder: Responder, *, model: str = "scripted:v1") -> None:
        self.responder = responder
        self.model_identity = model
        self.requests: list[LLMRequest] = []
        self._usage: dict[str, dict[str, float]] = {}
        self._step: str | None = None
        self._root = self

    def for_step(self, step: str) -> ScriptedLLM:
        bound = ScriptedLLM.__new__(ScriptedLLM)
        bound.__dict__.update(self.__dict__)
        bound._step = step
        bound._root = self._root
        return bound

    def _account(self, prompt: int, completion: int) -> None:
        u = self._root._usage.setdefault(self._step or "-", {
            "prompt_tokens": 0, "completion_tokens": 0, "calls": 0, "cached_calls": 0, "cost_usd": 0.0})
        u["prompt_tokens"] += prompt
        u["completion_tokens"] += completion
        u["calls"] += 1

    async def generate(self, request: LLMRequest, *, record_id: str | None = None) -> LLMResponse:
        await asyncio.sleep(0)
        self._root.requests.append(request)
        out = self.responder(request)
        texts = [out] if isinstance(out, str) else list(out)
        if not texts:
            texts = [""]
        texts = [texts[i % len(texts)] for i in range(request.n)]
        prompt_tokens = sum(len(m.content.split()) for m in request.messages)
        completion = sum(len(t.split()) for t in texts)
        self._account(prompt_tokens, completion)
        key = digest({"model": self.model_identity, "request": request.model_dump(mode="json")})
        return LLMResponse(texts=texts, finish_reasons=["stop"] * len(texts), model=self.model_identity,
                           usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=completion),
                           request_hash=key)

    async def generate_structured(
        self,
        request: LLMRequest,
        schema: type[BaseModel],
        *,
        record_id: str | None = None,
        max_attempts: int = 3,
    ) -> tuple[BaseModel, LLMResponse]:
        req = request.model_copy(update={"output_schema": schema.model_json_schema()})
        last = ""
        error = ""
        for _ in range(max_attempts):
            resp = await self.generate(req, record_id=record_id)
            last = resp.text
            try:
                return schema.model_validate_json(last), resp
            except ValidationError as exc:
                error = str(exc).splitlines()[0]
        raise LLMResponseError(f"no valid {schema.__name__} after {max_attempts} attempts: {error}", raw=last)

    def usage_by_step(self) -> dict[str, dict[str, Any]]:
        return {k: dict(v) for k, v in self._root._usage.items()}

    def usage_report(self) -> dict[str, Any]:
        total: dict[str, Any] = {"prompt_tokens": 0, "completion_tokens": 0, "calls": 0, "cached_calls": 0,
                                 "cost_usd": 0.0}
        for u in self._root._usage.values():
            for k, v in u.items():
                total[k] += v
        return total

    def close(self) -> None:
        pass


__all__ = ["Responder", "ScriptedLLM", "fenced", "request_text", "schema_name"]
