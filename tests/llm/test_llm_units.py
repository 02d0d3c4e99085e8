"""Pure parts of the LLM layer: JSON extraction, AIMD limiter, token bucket, Retry-After,
request bodies and completion parsing."""

from __future__ import annotations

import asyncio
import time

import pytest
from pydantic import BaseModel

from tether.llm._private import TransientError, parse_retry_after
from tether.llm.backend_openai import parse_completion, request_body
from tether.llm.config import LLMConfig
from tether.llm.limits import AIMDLimiter, TokenBucket
from tether.llm.structured import extract_json, parse_structured, with_schema
from tether.llm.types import LLMRequest


class Item(BaseModel):
    name: str
    count: int


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "a", "count": 2}',
        'Here it is:\n```json\n{"name": "a", "count": 2}\n```\nanything else?',
        'Sure. {"name": "a", "count": 2} Hope that helps {not json}.',
        'The set {x} is odd; answer: {"name": "a", "count": 2}',
        '```\n{"name": "a", "count": 2}\n```',
    ],
)
def test_extract_json_finds_the_object(text: str) -> None:
    assert parse_structured(text, Item) == Item(name="a", count=2)


def test_extract_json_handles_braces_in_strings_and_rejects_prose() -> None:
    assert extract_json('x {"name": "a } {", "count": 1} y') == {"name": "a } {", "count": 1}
    with pytest.raises(ValueError, match="no JSON"):
        extract_json("no json here")
    with pytest.raises(ValueError):
        parse_structured('{"name": "a"}', Item)  # valid JSON, missing field


def test_with_schema_appends_to_the_system_prompt() -> None:
    req = with_schema(LLMRequest.chat("q", system="Be brief."), Item.model_json_schema())
    assert req.messages[0].content.startswith("Be brief.") and '"count"' in req.messages[0].content
    assert req.output_schema["title"] == "Item"
    req2 = with_schema(LLMRequest.chat("q"), Item.model_json_schema())
    assert req2.messages[0].role == "system" and len(req2.messages) == 2


def test_aimd_halves_on_rate_limit_and_grows_back() -> None:
    lim = AIMDLimiter(16, cooldown_s=0.0)
    lim.on_rate_limit()
    assert lim.limit == 8
    lim.on_rate_limit()
    lim.on_rate_limit()
    lim.on_rate_limit()
    lim.on_rate_limit()
    assert lim.limit == 1  # never below one
    for _ in range(3):  # additive: +1 after each success
        lim.on_success()
    assert lim.limit == 4
    for _ in range(30):
        lim.on_success()
    assert lim.limit == 16  # never above the configured cap
    lim2 = AIMDLimiter(16, cooldown_s=60.0)
    lim2.on_rate_limit()
    lim2.on_rate_limit()  # a burst of 429s inside the cool-down counts once
    assert lim2.limit == 8
    lim3 = AIMDLimiter(16, cooldown_s=0.0)
    lim3.on_rate_limit(retry_after=60.0)
    lim3.on_rate_limit()  # the server's Retry-After is the cool-down when it is longer
    assert lim3.limit == 8


def test_aimd_caps_in_flight_and_a_429_pauses_no_one_else() -> None:
    async def go():
        lim = AIMDLimiter(2)
        peak = 0

        async def job():
            nonlocal peak
            await lim.acquire()
            peak = max(peak, lim.in_flight)
            await asyncio.sleep(0.01)
            lim.release()

        await asyncio.gather(*(job() for _ in range(10)))
        assert peak == 2 and lim.in_flight == 0
        lim.on_rate_limit(retry_after=5.0)
        t0 = time.monotonic()
        await lim.acquire()  # the request that got the 429 waits; others go on at once
        lim.release()
        return time.monotonic() - t0, lim.limit

    took, limit = asyncio.run(go())
    assert took < 0.5 and limit == 1


def test_aimd_cancelled_waiter_does_not_leak_a_slot() -> None:
    async def go():
        lim = AIMDLimiter(1)
        await lim.acquire()
        waiter = asyncio.ensure_future(lim.acquire())
        await asyncio.sleep(0)
        waiter.cancel()
        lim.release()
        await asyncio.sleep(0)
        await asyncio.wait_for(lim.acquire(), 1.0)  # the slot is free again
        return lim.in_flight

    assert asyncio.run(go()) == 1


def test_token_bucket_rate() -> None:
    async def go():
        b = TokenBucket(6000, burst_s=0.1)  # 100 units/s, holds 10
        t0 = time.monotonic()
        for _ in range(5):
            await b.take(10)
        took = time.monotonic() - t0
        b.settle(reserved=10, actual=2)  # 8 units given back
        return took, b.level

    took, level = asyncio.run(go())
    assert 0.35 <= took < 1.0  # 4 refills of 0.1 s after the first full bucket
    assert level >= 8 - 1e-6


def test_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({}) is None
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # in the past


def test_request_body_and_completion_parsing() -> None:
    req = LLMRequest.chat("hi", temperature=0.2, output_schema={"title": "A B", "type": "object"})
    body = request_body("m", req, native_schema=True)
    assert body["response_format"]["json_schema"]["name"] == "A_B"
    assert "n" not in body and "seed" not in body
    assert "response_format" not in request_body("m", req, native_schema=False)
    resp = parse_completion({"choices": [{"index": 1, "message": {"content": "b"}, "finish_reason": "length"},
                                         {"index": 0, "message": {"content": "a"}, "finish_reason": "stop"}],
                             "usage": {"prompt_tokens": 3, "completion_tokens": 4}}, 2)
    assert resp.texts == ["a", "b"] and resp.finish_reasons == ["stop", "length"] and resp.usage.total_tokens == 7
    with pytest.raises(TransientError):
        parse_completion({"object": "error"}, 1)


def test_config_rejects_unknown_keys_and_bad_values() -> None:
    with pytest.raises(ValueError, match="concurency"):
        LLMConfig(model="m", concurency=3)
    with pytest.raises(ValueError):
        LLMConfig(model="m", error_rate_threshold=1.5)
    assert LLMConfig(model="m", revision="v2").identity == "openai:m@v2"


def test_local_backends_default_to_batches_their_engine_can_use() -> None:
    assert (LLMConfig(model="m").batch_size, LLMConfig(model="m").concurrency) == (8, 16)
    tf = LLMConfig(backend="transformers", model="m")
    assert (tf.batch_size, tf.concurrency) == (8, 16)
    vl = LLMConfig(backend="vllm", model="m")
    assert (vl.batch_size, vl.concurrency) == (256, 512)  # 8 ran at 0.29x the bare engine
    assert LLMConfig(backend="vllm", model="m", batch_size=32).concurrency == 64
    assert LLMConfig(backend="vllm", model="m", concurrency=5).concurrency == 5


def test_clients_and_their_step_views_are_the_typed_protocols(tmp_path) -> None:
    from tether.core.resources import RunResources
    from tether.generate.testing import ScriptedLLM
    from tether.llm import LLMConfig
    from tether.llm.client import LLMClient, StepClient
    from tether.llm.protocol import RunLLM, StepLLM

    res = RunResources({"default": LLMConfig(backend="openai", model="m", base_url="http://127.0.0.1:9/v1")})
    client = res.llm("default", step="s")
    assert isinstance(client, StepClient) and isinstance(client, StepLLM)
    assert isinstance(res._clients["default"], LLMClient) and isinstance(res._clients["default"], RunLLM)
    scripted = ScriptedLLM(lambda req: "ok")
    assert isinstance(scripted, RunLLM) and isinstance(scripted.for_step("s"), StepLLM)
    assert not isinstance(object(), StepLLM)
    res.close()
