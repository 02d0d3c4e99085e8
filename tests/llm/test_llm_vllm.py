"""The vLLM backend without vLLM: the missing-extra error, and the request -> SamplingParams ->
response mapping through a stand-in ``vllm`` module injected into ``sys.modules``.

The stand-in mirrors vLLM's public names (``LLM``, ``SamplingParams``,
``sampling_params.StructuredOutputsParams``, ``RequestOutput`` fields). vLLM itself is not in
the test environment (its CPU build pins an older transformers); ``make vllm-check`` runs the
backend on the real engine (``benchmarks/vllm_backend.py``).
"""

from __future__ import annotations

import asyncio
import json
import sys
import types
from dataclasses import dataclass, field
from typing import Any

import pytest

from tether.errors import ConfigError, LLMError
from tether.llm import LLMConfig, LLMRequest, open_client


class VLLMClientError(Exception):
    """vLLM's base of request errors; like vLLM's, not a ValueError."""


class VLLMValidationError(VLLMClientError):
    pass


class SamplingParams:
    def __init__(self, **kw: Any) -> None:
        if kw.get("top_p") == 0:
            raise VLLMValidationError("top_p must be in (0, 1], got 0.")
        self.kw = kw


class StructuredOutputsParams:
    def __init__(self, json: Any = None) -> None:
        self.json = json


@dataclass
class Logprob:
    logprob: float
    decoded_token: str


@dataclass
class CompletionOutput:
    text: str
    token_ids: list[int]
    finish_reason: str
    logprobs: list[dict[int, Logprob]] | None = None


@dataclass
class RequestOutput:
    prompt_token_ids: list[int]
    outputs: list[CompletionOutput] = field(default_factory=list)


class FakeLLM:
    instances: list[FakeLLM] = []

    def __init__(self, **kw: Any) -> None:
        self.kw = kw
        self.calls: list[tuple[list, list]] = []
        FakeLLM.instances.append(self)

    def chat(self, convs, sampling_params, use_tqdm=True):
        self.calls.append((convs, sampling_params))
        for sp in sampling_params:  # like vLLM: one request it cannot compile fails the whole call
            so = sp.kw.get("structured_outputs")
            if so is not None and "$ref" in json.dumps(so.json):
                raise VLLMValidationError("Grammar error: Pointer '/defs/nope' does not exist")
        outs = []
        for conv, sp in zip(convs, sampling_params, strict=True):
            words = conv[-1]["content"].split()
            comps = []
            for j in range(sp.kw["n"]):
                ids = list(range(len(words)))
                lps = [{i: Logprob(-0.1 * (i + 1), w)} for i, w in enumerate(words)] if "logprobs" in sp.kw else None
                comps.append(CompletionOutput(f"{j}:{' '.join(words)}", ids, "stop", lps))
            outs.append(RequestOutput(prompt_token_ids=[0] * 7, outputs=comps))
        return outs


@pytest.fixture
def fake_vllm(monkeypatch):
    mod = types.ModuleType("vllm")
    mod.LLM = FakeLLM
    mod.SamplingParams = SamplingParams
    sp = types.ModuleType("vllm.sampling_params")
    sp.StructuredOutputsParams = StructuredOutputsParams
    mod.sampling_params = sp
    monkeypatch.setitem(sys.modules, "vllm", mod)
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", sp)
    exc = types.ModuleType("vllm.exceptions")
    exc.VLLMClientError = VLLMClientError
    mod.exceptions = exc
    monkeypatch.setitem(sys.modules, "vllm.exceptions", exc)
    FakeLLM.instances.clear()
    return mod


def test_missing_vllm_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm -> ImportError
    with pytest.raises(ConfigError) as info:
        open_client(LLMConfig(backend="vllm", model="m"))
    assert "pip install 'tether[vllm]'" in info.value.hint


def test_requests_map_to_sampling_params_and_back(fake_vllm) -> None:
    cfg = LLMConfig(backend="vllm", model="qwen", model_path="/models/qwen", revision="abc", dtype="bfloat16",
                    load_format="dummy", gpu_memory_utilization=0.5, batch_size=8, batch_wait_ms=30)
    client = open_client(cfg)
    reqs = [
        LLMRequest.chat("alpha beta", temperature=0.3, top_p=0.8, max_tokens=5, n=2, seed=3, stop=["\n"],
                        logprobs=True),
        LLMRequest.chat("gamma", temperature=0.0, output_schema={"type": "object"}),
    ]

    async def go():
        return await asyncio.gather(*(client.generate(r) for r in reqs))

    a, b = asyncio.run(go())
    (engine,) = FakeLLM.instances
    assert engine.kw == {"model": "/models/qwen", "dtype": "bfloat16", "gpu_memory_utilization": 0.5,
                         "revision": "abc", "load_format": "dummy"}
    assert len(engine.calls) == 1  # both requests in one engine call
    convs, params = engine.calls[0]
    assert convs[0] == [{"role": "user", "content": "alpha beta"}]
    assert params[0].kw == {"n": 2, "temperature": 0.3, "top_p": 0.8, "max_tokens": 5, "seed": 3, "stop": ["\n"],
                            "logprobs": 0}
    assert params[1].kw["structured_outputs"].json == {"type": "object"}
    assert a.texts == ["0:alpha beta", "1:alpha beta"] and a.finish_reasons == ["stop", "stop"]
    assert a.usage.prompt_tokens == 7 and a.usage.completion_tokens == 4
    assert [[(t.token, t.logprob) for t in lp] for lp in a.logprobs] == [[("alpha", -0.1), ("beta", -0.2)]] * 2
    assert b.logprobs is None and b.text == "0:gamma"
    assert client.model_identity == "vllm:qwen@abc"


def test_prompt_mode_skips_guided_decoding(fake_vllm) -> None:
    from tether.llm.backend_vllm import sampling_params

    req = LLMRequest.chat("x", output_schema={"type": "object"})
    assert "structured_outputs" not in sampling_params(req, fake_vllm, guided=False).kw
    del fake_vllm.sampling_params.StructuredOutputsParams  # an older vLLM
    fake_vllm.sampling_params.GuidedDecodingParams = StructuredOutputsParams
    assert sampling_params(req, fake_vllm).kw["guided_decoding"].json == {"type": "object"}


def test_a_request_vllm_rejects_fails_alone(fake_vllm) -> None:
    client = open_client(LLMConfig(backend="vllm", model="m", batch_wait_ms=30))
    bad_schema = {"type": "object", "properties": {"x": {"$ref": "#/defs/nope"}}}
    reqs = [LLMRequest.chat("good one"), LLMRequest.chat("bad schema", output_schema=bad_schema),
            LLMRequest.chat("bad top_p", top_p=0), LLMRequest.chat("good two")]

    async def go():
        return await asyncio.gather(*(client.generate(r) for r in reqs), return_exceptions=True)

    good1, schema_err, top_p_err, good2 = asyncio.run(go())
    assert good1.text == "0:good one" and good2.text == "0:good two"
    assert isinstance(schema_err, LLMError) and "vLLM rejected the request: Grammar error" in str(schema_err)
    assert isinstance(top_p_err, LLMError) and "top_p must be in (0, 1]" in str(top_p_err)
    (engine,) = FakeLLM.instances
    # one call for the three with valid parameters, refused; then each of them alone
    assert [len(convs) for convs, _ in engine.calls] == [3, 1, 1, 1]
