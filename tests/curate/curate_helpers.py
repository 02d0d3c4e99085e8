"""Helpers for curation tests: a context with a fast embedder and fake LLM clients."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from tether.embed import EmbedderConfig
from tether.errors import LLMResponseError
from tether.llm.types import LLMRequest, LLMResponse
from tether.pipeline.context import StepContext
from tether.pipeline.resources import RunResources
from tether.pipeline.step import GlobalStep, Outcome, Step


class FakeLLM:
    """Implements the agreed client interface; answers come from ``answer(prompt_text)``.

    ``answer`` returns a dict (validated against the schema) or a str (raw text that must
    parse as JSON for the schema; an unparseable one raises LLMResponseError like the real client).
    """

    model_identity = "fake:judge"

    def __init__(self, answer: Callable[[str], Any]) -> None:
        self.answer = answer
        self.calls: list[LLMRequest] = []

    def for_step(self, step: str) -> FakeLLM:
        return self

    async def generate(self, request: LLMRequest, *, record_id: str | None = None) -> LLMResponse:
        self.calls.append(request)
        out = self.answer(request.messages[-1].content)
        text = out if isinstance(out, str) else json.dumps(out)
        return LLMResponse(texts=[text], request_hash="h" + str(len(self.calls)))

    async def generate_structured(self, request, schema, *, record_id=None, max_attempts=3):  # noqa: ANN001
        self.calls.append(request)
        out = self.answer(request.messages[-1].content)
        raw = out if isinstance(out, str) else json.dumps(out)
        try:
            obj = schema.model_validate_json(raw)
        except Exception as exc:  # noqa: BLE001 - mirrors the real client's behaviour
            raise LLMResponseError("answer does not match the schema", raw=raw) from exc
        return obj, LLMResponse(texts=[raw], request_hash="h" + str(len(self.calls)))

    def usage_report(self) -> dict:
        return {"calls": len(self.calls)}

    def usage_by_step(self) -> dict:
        return {}

    def close(self) -> None:
        pass


def make_ctx(step_name: str = "step", *, llms: dict[str, Any] | None = None, embedder: str = "hashing",
             base_dir: Any = None) -> StepContext:
    cfg = EmbedderConfig(backend="hashing", dim=512) if embedder == "hashing" else EmbedderConfig()
    res = RunResources(embedder_config=cfg)
    res._clients.update(llms or {})
    res.llm_configs.update({k: None for k in (llms or {})})  # type: ignore[misc]
    kw = {"base_dir": base_dir} if base_dir is not None else {}
    return StepContext(step_name=step_name, resources=res, **kw)


def run_step(step: Step, records: list[dict], ctx: StepContext | None = None) -> Outcome:
    """Run one curation step over records with ``ctx`` (default: make_ctx)."""
    ctx = ctx or make_ctx(step.instance_name)
    step.setup(ctx)
    try:
        if isinstance(step, GlobalStep):
            return asyncio.run(step.aprocess(list(records), ctx))
        return asyncio.run(step.run_batch(list(records), ctx))
    finally:
        step.teardown()


def pair_scores(pred: set[tuple[int, int]], truth: set[tuple[int, int]]) -> tuple[float, float]:
    """(precision, recall) of predicted pairs against true pairs."""
    tp = len(pred & truth)
    precision = tp / len(pred) if pred else 1.0
    recall = tp / len(truth) if truth else 1.0
    return precision, recall
