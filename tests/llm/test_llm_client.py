"""The client against a real loopback server: faults, retries, limits, stops, structured output."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx2 as httpx
import pytest
from pydantic import BaseModel

from tether.errors import (
    BudgetExceededError,
    ConfigError,
    ErrorRateExceededError,
    LLMError,
    LLMRateLimitError,
    LLMResponseError,
    LLMTimeoutError,
)
from tether.llm import LLMConfig, LLMRequest, LLMResponse, open_client
from tether.llm._private import Backend
from tether.llm.testing import FakeOpenAIServer


class QA(BaseModel):
    question: str
    answer: str


def _client(srv: FakeOpenAIServer, tmp_path=None, **cfg: Any):
    base = {"backoff_s": 0.01, "timeout_s": 2.0}
    base.update(cfg)
    config = LLMConfig(**srv.llm_config(**base))
    return open_client(config, cache_path=None if tmp_path is None else tmp_path / "cache.sqlite")


def run(coro):
    return asyncio.run(coro)


async def _gather(client, prompts, **params):
    try:
        return await asyncio.gather(
            *(client.generate(LLMRequest.chat(p, temperature=0, **params)) for p in prompts), return_exceptions=True
        )
    finally:
        await client.aclose()


def test_every_fault_is_retried_to_success() -> None:
    with FakeOpenAIServer(rate_limit_first_n=3, error_500_first_n=3, hang_first_n=2, malformed_first_n=2,
                          truncated_first_n=2) as srv:
        client = _client(srv, timeout_s=0.3)
        out = run(_gather(client, [f"q{i}" for i in range(30)]))
        assert [r.text for r in out] == [f"echo: q{i}" for i in range(30)]
        assert dict(srv.faults) == {"429": 3, "500": 3, "hang": 2, "malformed": 2, "truncated": 2}
        rep = client.usage_report()
        assert rep["calls"] == 30 and rep["retries"] == 12 and rep["failed_calls"] == 0
        assert rep["rate_limited"] == 3


def test_hanging_server_hits_the_total_timeout() -> None:
    with FakeOpenAIServer(fault=lambda r: "hang") as srv:
        client = _client(srv, timeout_s=0.2, total_timeout_s=0.6, max_retries=10)
        t0 = time.monotonic()
        (res,) = run(_gather(client, ["never"]))
        took = time.monotonic() - t0
        assert isinstance(res, LLMTimeoutError)
        assert "total_timeout_s" in res.message or "no answer" in res.message
        assert took < 2.0
        assert len(srv.requests) >= 2  # it was retried, then given up on


def test_429_honours_retry_after_and_lowers_concurrency() -> None:
    with FakeOpenAIServer(rate_limit_first_n=1, retry_after=0.4) as srv:
        client = _client(srv, concurrency=8)

        async def go():
            t0 = time.monotonic()
            await _gather(client, ["a"])
            return time.monotonic() - t0

        took = run(go())
        assert took >= 0.38  # waited the server's Retry-After, not the 0.01 s back-off
        st = next(iter(client._states.values()))[1]
        assert st.limiter.decreases == 1 and st.limiter.limit == 5  # halved to 4, then one back for the answer


def test_persistent_429_raises_rate_limit_error() -> None:
    with FakeOpenAIServer(fault=lambda r: "429", retry_after=0.0) as srv:
        client = _client(srv, max_retries=0, max_rate_limit_retries=2, error_window=50)
        (res,) = run(_gather(client, ["x"]))
        assert isinstance(res, LLMRateLimitError)
        assert len(srv.requests) == 3  # 429s have their own allowance: max_retries 0 does not stop them


def test_time_queued_for_a_slot_is_not_part_of_the_total_timeout() -> None:
    # one slot, answers take 0.15 s: the fifth request waits 0.6 s for its slot, longer than its
    # whole total_timeout_s; queueing is not a failure, so every request is answered
    with FakeOpenAIServer(delay=0.15) as srv:
        client = _client(srv, concurrency=1, timeout_s=0.4, total_timeout_s=0.4, max_retries=0)
        out = run(_gather(client, [f"q{i}" for i in range(5)]))
        assert [getattr(r, "text", r) for r in out] == [f"echo: q{i}" for i in range(5)]
        assert client.usage_report()["failed_calls"] == 0


def test_a_hostile_server_is_outlasted_at_full_concurrency() -> None:
    # every 5th request 429 (Retry-After 1 s), every 7th a 500, every 11th hangs 1 s, every 13th
    # not JSON: every request is answered, with no failure, and the 429s do not hold the whole
    # run to one request per pause (at one request in flight this job takes over 40 s)
    faults = {"429": 5, "500": 7, "hang": 11, "malformed": 13}
    with FakeOpenAIServer(every=faults, hang_s=1.0, retry_after=1.0) as srv:
        client = _client(srv, concurrency=16, timeout_s=5.0)
        t0 = time.monotonic()
        out = run(_gather(client, [f"q{i}" for i in range(150)]))
        took = time.monotonic() - t0
        assert [getattr(r, "text", r) for r in out] == [f"echo: q{i}" for i in range(150)]
        assert client.usage_report()["failed_calls"] == 0
        assert srv.faults["429"] > 20 and srv.faults["hang"] > 10
        assert took < 20.0, took


def test_concurrency_cap_is_respected() -> None:
    active = {"now": 0, "max": 0}
    import threading

    lock = threading.Lock()

    def slow(req):
        with lock:
            active["now"] += 1
            active["max"] = max(active["max"], active["now"])
        time.sleep(0.05)
        with lock:
            active["now"] -= 1
        return "ok"

    with FakeOpenAIServer(slow) as srv:
        client = _client(srv, concurrency=3)
        run(_gather(client, [f"p{i}" for i in range(12)]))
        assert active["max"] == 3


def test_rpm_bucket_spaces_requests() -> None:
    with FakeOpenAIServer() as srv:
        # 600 rpm = 10/s, burst of 10 s worth = 100: take the burst away, then 5 more take ~0.5 s
        client = _client(srv, rpm=600)

        async def go():
            await client.generate(LLMRequest.chat("warm", temperature=0))
            st = next(iter(client._states.values()))[1]
            t0 = time.monotonic()
            st.rpm.level, st.rpm._t = 0.0, t0  # empty now, with no credit from the warm-up
            await asyncio.gather(*(client.generate(LLMRequest.chat(f"r{i}", temperature=0)) for i in range(5)))
            took = time.monotonic() - t0
            await client.aclose()
            return took

        took = run(go())
        assert 0.4 <= took < 2.0


def test_error_rate_stops_the_client() -> None:
    with FakeOpenAIServer(fault=lambda r: "500") as srv:
        client = _client(srv, max_retries=0, error_window=4, error_rate_threshold=0.5, concurrency=1)
        out = run(_gather(client, [f"e{i}" for i in range(10)]))
        stops = [r for r in out if isinstance(r, ErrorRateExceededError)]
        assert stops, out
        assert stops[0].aborts_run
        assert "4 of the last 4 requests failed" in stops[0].message
        # once stopped, no more requests go out
        assert len(srv.requests) == 4


def test_token_budget_stops_cleanly() -> None:
    with FakeOpenAIServer(lambda r: {"content": "x", "usage": {"prompt_tokens": 10, "completion_tokens": 5}}) as srv:
        client = _client(srv, max_tokens_budget=40, concurrency=1)
        out = run(_gather(client, [f"b{i}" for i in range(6)]))
        ok = [r for r in out if not isinstance(r, Exception)]
        assert len(ok) == 3  # 15 tokens each: 45 >= 40 after the third
        assert all(isinstance(r, BudgetExceededError) for r in out[3:])
        assert srv.calls == 3


def test_cost_budget_counts_what_the_run_directory_spent(tmp_path) -> None:
    usage = {"prompt_tokens": 1000, "completion_tokens": 1000}
    with FakeOpenAIServer(lambda r: {"content": "x", "usage": usage}) as srv:
        cfg = {"price_per_1k_prompt": 0.001, "price_per_1k_completion": 0.002, "max_cost_usd": 0.0061,
               "concurrency": 1}
        client = _client(srv, tmp_path, **cfg)
        out = run(_gather(client, ["c0", "c1", "c2", "c3"]))
        assert [isinstance(r, BudgetExceededError) for r in out] == [False, False, False, True]
        assert client.usage_report()["cost_usd"] == pytest.approx(0.009)
        client.close()
        # a rerun in the same run directory remembers the spend: still stopped, no new call
        again = _client(srv, tmp_path, **cfg)
        out2 = run(_gather(again, ["c3"]))
        assert isinstance(out2[0], BudgetExceededError)
        assert srv.calls == 3
        again.close()
        # raising the budget resumes
        more = _client(srv, tmp_path, **{**cfg, "max_cost_usd": 1.0})
        out3 = run(_gather(more, ["c0", "c3"]))
        assert [r.cached for r in out3] == [True, False]
        assert srv.calls == 4
        more.close()


def test_identical_requests_in_flight_share_one_call() -> None:
    with FakeOpenAIServer(delay=0.05) as srv:
        client = _client(srv)
        out = run(_gather(client, ["same"] * 5))
        assert srv.calls == 1
        assert sum(r.cached for r in out) == 4


def test_bad_key_is_a_config_error_and_never_printed(monkeypatch) -> None:
    monkeypatch.setenv("TETHER_TEST_KEY", "sk-wrong-123456")
    with FakeOpenAIServer(expect_key="sk-right") as srv:
        client = _client(srv, api_key_env="TETHER_TEST_KEY")
        (res,) = run(_gather(client, ["k"]))
        assert isinstance(res, ConfigError)
        assert "TETHER_TEST_KEY" in (res.hint or "")
        assert "sk-wrong-123456" not in res.message
        assert srv.headers[0]["Authorization"] == "Bearer sk-wrong-123456"


def test_missing_key_variable_is_named() -> None:
    with pytest.raises(ConfigError, match="TETHER_TEST_KEY"):
        open_client(LLMConfig(model="m", api_key_env="TETHER_TEST_KEY"))


def test_logprobs_n_seed_and_stop_reach_the_server() -> None:
    def two(req):
        return {"contents": ["a b", "c d"], "logprobs": [[("a", -0.1), ("b", -0.2)], [("c", -1.0), ("d", -2.0)]]}

    with FakeOpenAIServer(two) as srv:
        client = _client(srv)
        (resp,) = run(_gather(client, ["lp"], n=2, seed=7, stop=["\n"], logprobs=True, top_p=0.9))
        body = srv.requests[0]
        assert body["n"] == 2 and body["seed"] == 7 and body["stop"] == ["\n"] and body["logprobs"] is True
        assert body["top_p"] == 0.9
        assert resp.texts == ["a b", "c d"] and resp.finish_reasons == ["stop", "stop"]
        assert [[t.logprob for t in lp] for lp in resp.logprobs] == [[-0.1, -0.2], [-1.0, -2.0]]


# ---------------------------------------------------------------- structured output


def test_structured_uses_the_servers_json_schema_mode() -> None:
    with FakeOpenAIServer(lambda r: {"question": "q?", "answer": "a."}) as srv:
        client = _client(srv)

        async def go():
            obj, resp = await client.generate_structured(LLMRequest.chat("make a QA"), QA)
            await client.aclose()
            return obj, resp

        obj, resp = run(go())
        assert obj == QA(question="q?", answer="a.")
        rf = srv.requests[0]["response_format"]
        assert rf["type"] == "json_schema" and rf["json_schema"]["schema"]["title"] == "QA"


def test_structured_falls_back_when_the_server_has_no_schema_mode() -> None:
    answers = iter(['Here you go:\n```json\n{"question": "q", "answer": "a"}\n```'])

    with FakeOpenAIServer(lambda r: next(answers), reject_response_format=True) as srv:
        client = _client(srv)

        async def go():
            obj, _ = await client.generate_structured(LLMRequest.chat("make a QA"), QA)
            await client.aclose()
            return obj

        assert run(go()) == QA(question="q", answer="a")
        assert "response_format" in srv.requests[0] and "response_format" not in srv.requests[1]
        # the instruction carries the schema for servers without the mode
        assert '"question"' in srv.requests[1]["messages"][0]["content"]


def test_structured_retries_with_the_validation_error_then_gives_up_with_raw() -> None:
    replies = ['{"question": "q"}', 'still not it', '{"question": "q", "answer": "a"}']

    def responder(req):
        return replies[min(len(req["messages"]) // 2 - 1, 2)]

    with FakeOpenAIServer(responder) as srv:
        client = _client(srv, structured_mode="prompt")

        async def go(n):
            try:
                return await client.generate_structured(LLMRequest.chat("make a QA"), QA, max_attempts=n)
            finally:
                await client.aclose()

        with pytest.raises(LLMResponseError) as info:
            run(go(2))
        assert info.value.raw == "still not it"
        second = srv.requests[1]["messages"]
        assert second[-2]["content"] == '{"question": "q"}'
        assert "answer" in second[-1]["content"] and "Field required" in second[-1]["content"]
        obj, _ = run(go(3))
        assert obj.answer == "a"


def test_structured_answer_cut_at_max_tokens_says_so() -> None:
    cut = {"content": '{"question": "q", "answer": "a long answ' + "er" * 400, "finish_reason": "length"}
    with FakeOpenAIServer(lambda r: cut) as srv:
        client = _client(srv, structured_mode="prompt")

        async def go():
            try:
                return await client.generate_structured(LLMRequest.chat("make a QA", max_tokens=12), QA,
                                                        max_attempts=2)
            finally:
                await client.aclose()

        with pytest.raises(LLMResponseError, match=r"cut off at max_tokens \(12\)") as info:
            run(go())
        assert "raise max_tokens" in info.value.hint
        retry = srv.requests[1]["messages"]
        assert "cut off at max_tokens" in retry[-1]["content"] and "shorter" in retry[-1]["content"]
        # only the cut answer's start is repeated: the prompt does not grow by max_tokens a try
        assert retry[-2]["content"] == cut["content"][:300] + " …"


# ---------------------------------------------------------------- local backends' start


class SlowStart(Backend):
    """A local engine that takes longer to load than one attempt may last."""

    identity = "local:slow"

    def __init__(self, load_s: float, fail: bool = False) -> None:
        self.load_s, self.fail = load_s, fail
        self.starts = 0
        self.loaded = False

    async def start(self) -> None:
        self.starts += 1
        await asyncio.sleep(self.load_s)
        if self.fail:
            raise ConfigError("model_path /nowhere does not exist")
        self.loaded = True

    async def call(self, request: LLMRequest) -> LLMResponse:
        assert self.loaded
        return LLMResponse(texts=[request.messages[-1].content.upper()], finish_reasons=["stop"])


def test_backend_start_runs_once_outside_the_attempt_time_out() -> None:
    backend = SlowStart(load_s=0.5)
    client = open_client(LLMConfig(model="slow", timeout_s=0.1, total_timeout_s=0.3, max_retries=0),
                         backend=backend)
    out = run(_gather(client, [f"q{i}" for i in range(5)]))
    assert [r.text for r in out] == [f"Q{i}" for i in range(5)]
    assert backend.starts == 1
    rep = client.usage_report()
    assert rep["calls"] == 5 and rep["retries"] == 0 and rep["failed_calls"] == 0


def test_backend_start_failure_reaches_every_request() -> None:
    backend = SlowStart(load_s=0.05, fail=True)
    client = open_client(LLMConfig(model="slow"), backend=backend)
    out = run(_gather(client, ["a", "b", "c"]))
    assert all(isinstance(e, ConfigError) and "does not exist" in str(e) for e in out)
    assert backend.starts == 1


def test_mock_transport_needs_no_network() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        return httpx.Response(200, json={"choices": [{"index": 0, "message": {"content": body["model"]},
                                                      "finish_reason": "stop"}]})

    client = open_client(LLMConfig(model="mocked", base_url="http://nowhere.invalid/v1"),
                         transport=httpx.MockTransport(handler))

    async def go():
        r = await client.generate(LLMRequest.chat("x"))
        await client.aclose()
        return r

    assert run(go()).text == "mocked"


def test_gate_holds_then_drops_requests() -> None:
    with FakeOpenAIServer() as srv:
        srv.gate.set()
        client = _client(srv, timeout_s=0.2, total_timeout_s=0.5, max_retries=1)
        (res,) = run(_gather(client, ["held"]))
        assert isinstance(res, LLMTimeoutError)
        assert srv.calls == 0 and srv.faults["gated"] >= 1
        srv.gate.clear()
        client2 = _client(srv)
        (ok,) = run(_gather(client2, ["held"]))
        assert ok.text == "echo: held" and srv.calls == 1


def _state(client):
    return next(iter(client._states.values()))[1]


def test_tpm_reserves_the_estimate_then_settles_with_the_real_usage() -> None:
    from tether.llm.client import estimate_tokens

    tries: dict[str, int] = {}

    def flaky_once(req):  # the first try of "flaky" fails with a 500
        q = req["messages"][-1]["content"]
        tries[q] = tries.get(q, 0) + 1
        return "500" if q == "flaky" and tries[q] == 1 else None

    usage = {"prompt_tokens": 7, "completion_tokens": 3}
    with FakeOpenAIServer(lambda req: {"content": "ok", "usage": usage}, fault=flaky_once) as srv:
        client = _client(srv, tpm=600_000)
        ok, flaky = (LLMRequest.chat(q, temperature=0, max_tokens=64) for q in ("fine", "flaky"))
        events: list[tuple] = []

        async def go():
            await client.generate(LLMRequest.chat("warm", temperature=0))
            bucket = _state(client).tpm
            take, settle = bucket.take, bucket.settle

            async def spy_take(n):
                events.append(("take", n))
                await take(n)

            def spy_settle(reserved, actual):
                events.append(("settle", reserved, actual))
                settle(reserved, actual)

            bucket.take, bucket.settle = spy_take, spy_settle
            await client.generate(ok)
            await client.generate(flaky)
            await client.aclose()

        run(go())
    e_ok, e_flaky = estimate_tokens(ok), estimate_tokens(flaky)
    assert e_ok >= 64 and e_flaky >= 64  # max_tokens is part of the reservation
    assert events == [
        ("take", e_ok), ("settle", e_ok, 10),  # reserved, then settled with the 7 + 3 tokens used
        ("take", e_flaky), ("settle", e_flaky, 0),  # a failed try gives its reservation back
        ("take", e_flaky), ("settle", e_flaky, 10),
    ]


def test_low_tpm_spaces_requests() -> None:
    from tether.llm.client import estimate_tokens

    # every call uses exactly what it reserved, so nothing comes back to the bucket early
    def exact(req):
        est = estimate_tokens(LLMRequest.chat(req["messages"][-1]["content"], max_tokens=req["max_tokens"]))
        return {"content": "ok", "usage": {"prompt_tokens": est - req["max_tokens"], "completion_tokens": req["max_tokens"]}}

    with FakeOpenAIServer(exact) as srv:
        client = _client(srv, tpm=6000, concurrency=8)  # 100 tokens/s
        reqs = [LLMRequest.chat(f"r{i}", temperature=0, max_tokens=20) for i in range(6)]
        need = sum(estimate_tokens(r) for r in reqs)  # 6 x 24 = 144 tokens: at least 1.44 s from empty

        async def go():
            await client.generate(LLMRequest.chat("warm", temperature=0, max_tokens=1))
            bucket = _state(client).tpm
            t0 = time.monotonic()
            bucket.level, bucket._t = 0.0, t0  # empty now, no credit from the warm-up
            await asyncio.gather(*(client.generate(r) for r in reqs))
            took = time.monotonic() - t0
            await client.aclose()
            return took

        took = run(go())
    assert need == 144
    assert took >= 0.9 * need / 100  # the bucket cannot give tokens faster than its rate
    assert took < 30.0  # and does go (generous: a loaded machine)


class _RecordingRandom:
    """A seeded generator that records each jittered back-off it draws."""

    def __init__(self, seed: int) -> None:
        import random

        self._rng = random.Random(seed)
        self.draws: list[tuple[float, float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        v = self._rng.uniform(a, b)
        self.draws.append((a, b, v))
        return v


def test_backoff_is_jittered_exponential_within_its_bounds(caplog) -> None:
    import logging
    import random
    import re

    caplog.set_level(logging.DEBUG, logger="tether.llm.client")
    with FakeOpenAIServer(error_500_first_n=5) as srv:
        client = _client(srv, backoff_s=0.04, max_backoff_s=0.1, max_retries=5, concurrency=1)
        jitter = client._jitter = _RecordingRandom(seed=11)
        out = run(_gather(client, ["q"]))
    assert out[0].text == "echo: q"
    # full jitter: attempt k sleeps uniform(0, min(max_backoff_s, backoff_s * 2^(k-1)))
    assert [(a, b) for a, b, _ in jitter.draws] == [(0, 0.04), (0, 0.08), (0, 0.1), (0, 0.1), (0, 0.1)]
    delays = [v for _, _, v in jitter.draws]
    assert all(0 <= v <= b for _, b, v in jitter.draws)
    assert len(set(delays)) == len(delays)  # no two retries wait alike
    expected = random.Random(11)
    assert delays == [expected.uniform(0, b) for b in (0.04, 0.08, 0.1, 0.1, 0.1)]  # seeded: reproducible
    slept = [float(m) for m in re.findall(r"retry \d+ in ([0-9.]+)s", caplog.text)]
    assert slept == [round(v, 2) for v in delays]  # what was drawn is what the client waited


class Buggy(Backend):
    """A backend that raises what no backend should: a bug, not a provider error."""

    identity = "local:buggy"

    async def call(self, request: LLMRequest) -> LLMResponse:
        text = request.messages[-1].content
        if text.startswith("bad"):
            raise TypeError("usage.prompt_tokens must be an int, got 'many'")
        return LLMResponse(texts=[text.upper()], finish_reasons=["stop"])


def test_an_unexpected_backend_error_fails_its_request_and_frees_its_slot() -> None:
    """Before, only TimeoutError, TransientError and TetherError gave the concurrency slot
    back: after `concurrency` such failures every later request waited for ever."""
    client = open_client(LLMConfig(model="buggy", concurrency=2, max_retries=0, error_rate_threshold=1.0),
                         backend=Buggy())
    prompts = [f"bad {i}" for i in range(4)] + [f"ok {i}" for i in range(6)]

    async def go():  # noqa: ANN202
        return await asyncio.wait_for(_gather(client, prompts), timeout=10)

    out = run(go())
    bad, good = out[:4], out[4:]
    assert all(isinstance(e, LLMError) and "TypeError" in str(e) and "must be an int" in str(e) for e in bad)
    assert [r.text for r in good] == [f"OK {i}" for i in range(6)]


def test_a_key_echoed_in_a_long_error_body_is_masked_before_the_cut(monkeypatch) -> None:
    """The server's error detail is cut to 300 characters; cut first and masked after, a key
    that straddled the cut kept its first characters in the message."""
    key = "sk-live-" + "q7W2" * 12
    monkeypatch.setenv("TETHER_TEST_KEY", key)
    pad = "x" * 275  # 15 characters of the key fall before the cut at 300

    def answer(req):  # noqa: ANN001, ANN202
        return {"status": 400, "body": {"error": {"message": f"{pad} bad key {key} in request"}}}

    with FakeOpenAIServer(answer) as srv:
        client = _client(srv, api_key_env="TETHER_TEST_KEY", max_retries=0)
        (res,) = run(_gather(client, ["k"]))
    text = f"{res} {getattr(res, 'hint', '')}"
    assert "sk-live-q7W2" not in text and key[:8] not in text, text
