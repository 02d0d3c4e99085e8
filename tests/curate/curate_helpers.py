"""Helpers for curation tests: a context with a fast embedder and fake LLM clients."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from tether.embed import EmbedderConfig
from tether.generate.testing import ScriptedLLM
from tether.llm.types import LLMRequest
from tether.pipeline.context import StepContext
from tether.pipeline.resources import RunResources
from tether.pipeline.step import Outcome, Step


class FakeLLM(ScriptedLLM):
    """The real client over a scripted backend; answers come from ``answer(prompt_text)``, the
    text of the request's first user message (the prompt, also when the client asks again
    with a correction after it).

    ``answer`` returns a dict (sent as its JSON) or a str (raw text that must parse as JSON for
    a structured request; an unparseable one fails as the real client fails: asked again with
    the error shown, then LLMResponseError with the raw text). ``calls`` is every request sent.
    """

    def __init__(self, answer: Callable[[str], Any]) -> None:
        def respond(request: LLMRequest) -> str:
            out = answer(next(m.content for m in request.messages if m.role == "user"))
            return out if isinstance(out, str) else json.dumps(out)

        super().__init__(respond, model="fake:judge")
        self.answer = answer

    @property
    def calls(self) -> list[LLMRequest]:
        return self.requests


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
        return asyncio.run(step.run_all(list(records), ctx))
    finally:
        step.teardown()


def pair_scores(pred: set[tuple[int, int]], truth: set[tuple[int, int]]) -> tuple[float, float]:
    """(precision, recall) of predicted pairs against true pairs."""
    tp = len(pred & truth)
    precision = tp / len(pred) if pred else 1.0
    recall = tp / len(truth) if truth else 1.0
    return precision, recall
