"""Scripted answers for tests and for recording the examples' responses.

A *responder* is a Python function ``responder(request: LLMRequest) -> str | list[str]``
written for the project: it derives an answer from the prompt (the passage between the
fences, the question, the schema asked for). It is not a model: what it says is what the
function says. Two ways to put one behind the recipes:

- :func:`scripted_server` / :func:`served`: behind :class:`tether.llm.testing.FakeOpenAIServer`,
  a real OpenAI-compatible HTTP server on loopback. The pipeline talks to it through the real
  LLM layer (``backend: openai``, cache, retries, structured output), which is how the
  examples' ``responses.jsonl`` files are recorded (``examples/_record.py``) and how the
  end-to-end tests run.
- :class:`ScriptedLLM`: the real client over :class:`ScriptedBackend` (the one scripted fake,
  at the backend seam), in process, for unit tests of one recipe that inspect the
  :class:`LLMRequest` objects it was sent.

Example:
    >>> import asyncio
    >>> from tether.llm.types import LLMRequest
    >>> llm = ScriptedLLM(lambda req: "42")
    >>> asyncio.run(llm.generate(LLMRequest.chat("6 x 7?"))).text
    '42'
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tether.llm._private import Backend
from tether.llm.client import LLMClient
from tether.llm.config import LLMConfig
from tether.llm.types import LLMRequest, LLMResponse, Message, Usage

if TYPE_CHECKING:
    from tether.llm.testing import FakeOpenAIServer

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


_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_WORD = re.compile(r"[a-z0-9]+")


def sentences(text: str, *, min_words: int = 1) -> list[str]:
    """The prose sentences of a text, Markdown heading lines dropped, line breaks joined."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    out = [s.strip() for s in _SENTENCE.split(" ".join(lines)) if s.strip()]
    return [s for s in out if len(s.split()) >= min_words]


def word_support(claim: str, source: str, *, min_len: int = 4) -> float:
    """Share of the claim's words (``min_len`` letters or more) that occur in the source: a
    crude grounding check for scripted judges (1.0 when the claim has no such word)."""
    words = [w for w in _WORD.findall(claim.lower()) if len(w) >= min_len]
    if not words:
        return 1.0
    have = set(_WORD.findall(source.lower()))
    return sum(w in have for w in words) / len(words)


_SCHEMA_LINE = "conforms to this JSON schema, and nothing else:\n"


def llm_request(body: dict[str, Any]) -> LLMRequest:
    """The :class:`LLMRequest` an OpenAI chat completion body carries, as a server sees it.

    The output schema comes from ``response_format`` or, when the client only instructs
    (``structured_mode: prompt``), from the schema line of the system prompt.
    """
    schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("schema")
    messages = [Message(role=m["role"], content=m.get("content") or "") for m in body.get("messages", [])]
    if schema is None and messages and messages[0].role == "system" and _SCHEMA_LINE in messages[0].content:
        line = messages[0].content.split(_SCHEMA_LINE, 1)[1].split("\n", 1)[0]
        try:
            schema = json.loads(line)
        except ValueError:
            schema = None
    stop = body.get("stop")
    return LLMRequest(
        messages=messages,
        n=int(body.get("n") or 1),
        temperature=float(body.get("temperature", 0.7)),
        top_p=float(body.get("top_p", 1.0)),
        max_tokens=int(body.get("max_tokens") or 512),
        seed=body.get("seed"),
        stop=[stop] if isinstance(stop, str) else stop,
        output_schema=schema,
        logprobs=bool(body.get("logprobs")),
    )


def _texts(out: str | list[str], n: int) -> list[str]:
    texts = [out] if isinstance(out, str) else list(out)
    if not texts:
        texts = [""]
    return [texts[i % len(texts)] for i in range(n)]


def served(responder: Responder) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A :class:`~tether.llm.testing.FakeOpenAIServer` responder from a scripted one: the
    request body becomes an :class:`LLMRequest` (:func:`llm_request`), the answer its choices."""

    def answer(body: dict[str, Any]) -> dict[str, Any]:
        req = llm_request(body)
        return {"contents": _texts(responder(req), req.n)}

    return answer


def scripted_server(responder: Responder, **options: Any) -> FakeOpenAIServer:
    """A loopback OpenAI-compatible server answering with ``responder`` (not started; use it
    as a context manager). ``options`` go to :class:`~tether.llm.testing.FakeOpenAIServer`
    (``model``, faults, ``delay``...).

    Example:
        >>> with scripted_server(lambda req: "42", model="scripted") as srv:
        ...     cfg = srv.llm_config()   # {"backend": "openai", "model": "scripted", "base_url": ...}
    """
    from tether.llm.testing import FakeOpenAIServer

    return FakeOpenAIServer(served(responder), **options)


class ScriptedBackend(Backend):
    """A backend whose answers come from ``responder(request) -> text or list of texts``: the
    one scripted fake, at the backend seam (as httpx's MockTransport is), so the client above
    it (limits, retries, structured output, usage) is the real one.

    Args:
        responder: called once per request; a list answers ``n`` samples (cycled if short).
        model: the backend's identity, written to lineage as ``model``.
    """

    billable = False

    def __init__(self, responder: Responder, *, model: str = "scripted:v1") -> None:
        self.responder = responder
        self.identity = model
        self.requests: list[LLMRequest] = []

    async def call(self, request: LLMRequest) -> LLMResponse:
        await asyncio.sleep(0)
        self.requests.append(request)
        texts = _texts(self.responder(request), request.n)
        prompt_tokens = sum(len(m.content.split()) for m in request.messages)
        completion = sum(len(t.split()) for t in texts)
        return LLMResponse(texts=texts, finish_reasons=["stop"] * len(texts), model=self.identity,
                           usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=completion))


class ScriptedLLM(LLMClient):
    """The real :class:`~tether.llm.client.LLMClient` over a :class:`ScriptedBackend` (no cache):
    for unit tests of one recipe that inspect the :class:`LLMRequest` objects it was sent
    (``requests``).

    Args:
        responder: called once per request; a list answers ``n`` samples (cycled if short).
        model: the ``model_identity`` written to lineage.
    """

    def __init__(self, responder: Responder, *, model: str = "scripted:v1") -> None:
        backend = ScriptedBackend(responder, model=model)
        config = LLMConfig.model_validate({"model": model, "structured_mode": "prompt", "max_retries": 0})
        super().__init__(config, backend)
        self.responder = responder

    @property
    def requests(self) -> list[LLMRequest]:
        """Every request the backend was sent, in order."""
        assert isinstance(self.backend, ScriptedBackend)
        return self.backend.requests


__all__ = ["Responder", "ScriptedBackend", "ScriptedLLM", "fenced", "llm_request", "request_text", "schema_name", "scripted_server",
           "sentences", "served", "word_support"]
