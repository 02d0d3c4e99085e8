"""Any OpenAI-compatible server (OpenAI, vLLM serve, Ollama, llama.cpp server, TGI, SGLang).

Speaks ``POST {base_url}/chat/completions`` through ``httpx2`` (the HTTP client the ``openai``
SDK itself is built on) directly rather than through the SDK: the client needs the raw status, headers (Retry-After) and body to classify faults, and
the SDK's own retries and response models cost CPU per request that the client loop does
not need (``benchmarks/llm_client.py`` measures the two side by side). The transport is
injectable (``httpx2.MockTransport`` in tests).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx2 as httpx
from pydantic import SecretStr

from tether.errors import ConfigError, LLMError
from tether.llm._private import Backend, TransientError, parse_retry_after, short
from tether.llm.config import LLMConfig
from tether.llm.structured import schema_name
from tether.llm.types import LLMRequest, LLMResponse, TokenLogprob, Usage

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
POOL_SIZE = 32


def request_body(model: str, request: LLMRequest, *, native_schema: bool) -> dict[str, Any]:
    """The JSON body of a chat completion request."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "temperature": request.temperature,
        "top_p": request.top_p,
        "max_tokens": request.max_tokens,
    }
    if request.n != 1:
        body["n"] = request.n
    if request.seed is not None:
        body["seed"] = request.seed
    if request.stop:
        body["stop"] = request.stop
    if request.logprobs:
        body["logprobs"] = True
    if request.output_schema is not None and native_schema:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": schema_name(request.output_schema), "schema": request.output_schema,
                            "strict": False},
        }
    return body


def parse_completion(data: Any, n: int) -> LLMResponse:
    """An OpenAI chat completion body to a response; raises TransientError when it is not one."""
    try:
        choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
        texts = [c["message"].get("content") or "" for c in choices]
        reasons = [c.get("finish_reason") for c in choices]
    except (KeyError, TypeError, AttributeError) as exc:
        raise TransientError(f"the body is not a chat completion (missing {exc})", kind="bad_body") from None
    if not texts:
        raise TransientError("the chat completion has no choices", kind="bad_body")
    logprobs = None
    if any(isinstance(c.get("logprobs"), dict) for c in choices):
        logprobs = [
            [TokenLogprob(token=t["token"], logprob=float(t["logprob"])) for t in ((c.get("logprobs") or {}).get("content") or [])]
            for c in choices
        ]
    u = data.get("usage") or {}
    usage = Usage(prompt_tokens=int(u.get("prompt_tokens") or 0), completion_tokens=int(u.get("completion_tokens") or 0))
    return LLMResponse(texts=texts, finish_reasons=reasons, usage=usage, logprobs=logprobs, model=None)


class OpenAIBackend(Backend):
    """``backend: openai``. One pooled httpx client per event loop."""

    def __init__(self, config: LLMConfig, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        self.identity = config.identity
        self.url = (config.base_url or DEFAULT_BASE_URL).rstrip("/") + "/chat/completions"
        self._key: SecretStr | None = config.api_key()
        self._transport = transport
        self._clients: dict[int, tuple[asyncio.AbstractEventLoop, list[httpx.AsyncClient]]] = {}
        self._rr = 0
        self._ssl: Any = None
        self._native = config.structured_mode != "prompt"
        self.native_structured = self._native

    def redact(self, text: str) -> str:
        """``text`` with the API key masked, and any start of it (8+ characters) that a cut
        left behind: callers mask before they shorten, and this catches the rest."""
        if self._key is not None:
            secret = self._key.get_secret_value()
            if secret:
                text = text.replace(secret, "***")
                for k in range(len(secret) - 1, 7, -1):
                    if secret[:k] in text:
                        text = text.replace(secret[:k], "***")
        return text

    def _http(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        entry = self._clients.get(id(loop))
        if entry is None or entry[0] is not loop:
            headers = {"Content-Type": "application/json"}
            if self._key is not None:
                headers["Authorization"] = f"Bearer {self._key.get_secret_value()}"
            # Several small pools rather than one big one: httpcore's pool scans every idle
            # connection (a poll() each) to place a request, so its cost per request grows
            # with the pool; at concurrency 256 one pool costs ~4x the CPU of 8 pools of 32
            # (benchmarks/llm_client.py).
            n = self.config.concurrency
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context(trust_env=False)  # one, shared by the pools
            shards = max(1, -(-n // POOL_SIZE))
            per = -(-n // shards)
            pools = [
                httpx.AsyncClient(
                    headers=headers,
                    timeout=httpx.Timeout(self.config.timeout_s),
                    limits=httpx.Limits(max_connections=per, max_keepalive_connections=per),
                    transport=self._transport,
                    verify=self._ssl,
                    trust_env=False,
                )
                for _ in range(shards if self._transport is None else 1)
            ]
            entry = (loop, pools)
            self._clients[id(loop)] = entry
        pools = entry[1]
        if len(pools) == 1:
            return pools[0]
        self._rr = (self._rr + 1) % len(pools)
        return pools[self._rr]

    async def call(self, request: LLMRequest) -> LLMResponse:
        native = self._native and request.output_schema is not None
        body = request_body(self.config.model, request, native_schema=native)
        http = self._http()
        try:
            r = await http.post(self.url, content=json.dumps(body, ensure_ascii=False).encode("utf-8"))
            content = r.content
        except httpx.TimeoutException as exc:
            raise TransientError(f"time-out talking to {self.url} ({type(exc).__name__})", kind="timeout") from None
        except httpx.TransportError as exc:
            raise TransientError(
                f"connection to {self.url} failed: {type(exc).__name__}: {short(self.redact(str(exc)), 120)}",
                kind="connection"
            ) from None
        status = r.status_code
        if status == 200:
            try:
                data = json.loads(content)
            except ValueError:
                raise TransientError(
                    f"the server's body is not JSON: {short(self.redact(content.decode('utf-8', 'replace')), 80)!r}",
                    kind="bad_body"
                ) from None
            return parse_completion(data, request.n)
        detail = short(self.redact(_error_detail(content)), 300)  # mask first: a cut could split the key
        if status == 429:
            raise TransientError(f"429 rate limited: {detail}", kind="rate_limit", retry_after=parse_retry_after(r.headers))
        if status in (408, 409) or status >= 500:
            raise TransientError(f"server error {status}: {detail}", kind="server", retry_after=parse_retry_after(r.headers) if status == 503 else None)
        if status == 400 and native and self.config.structured_mode == "auto" and _mentions_response_format(detail):
            log.warning("llm %s: the server refuses response_format json_schema; falling back to prompt-only"
                        " structured output", self.config.model)
            self._native = False
            self.native_structured = False
            return await self.call(request)
        if status in (401, 403):
            env = self.config.api_key_env
            raise ConfigError(
                f"llm {self.config.model}: the server at {self.url} refused the API key ({status}): {detail}",
                hint=f"check the key in ${env}" if env else "set api_key_env to the variable holding the key",
            )
        if status == 404:
            raise ConfigError(
                f"llm {self.config.model}: {self.url} answered 404: {detail}",
                hint="check base_url (it ends in /v1) and the model name the server serves",
            )
        raise LLMError(f"llm {self.config.model}: the server rejected the request ({status}): {detail}")

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        entry = self._clients.pop(id(loop), None)
        if entry is not None and entry[0] is loop:
            for pool in entry[1]:
                await pool.aclose()

    def close(self) -> None:
        self._clients = {k: v for k, v in self._clients.items() if not v[0].is_closed()}


def _error_detail(content: bytes) -> str:
    text = content.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        return text
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            return str(err.get("message") or err)
        return str(err)
    return text


def _mentions_response_format(detail: str) -> bool:
    d = detail.lower()
    return "response_format" in d or "json_schema" in d or "structured" in d


__all__ = ["OpenAIBackend", "parse_completion", "request_body"]
