"""Test-only steps that call the LLM (the real recipes live in tether.generate).

Imported by the tests directly, and by pipelines through ``plugins: [llm_teststeps]`` (the
tests put this folder on PYTHONPATH for subprocesses).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel

from tether.llm.types import LLMRequest
from tether.pipeline.registry import register
from tether.pipeline.step import MapStep


class Answer(BaseModel):
    question: str
    answer: str


@register
class LLMAskTest(MapStep):
    """Ask the model about ``text``; write ``answer`` and the call's lineage."""

    type: ClassVar[str] = "llm_ask_test"
    description: ClassVar[str] = "test-only: ask the LLM about each text"

    llm: str = "default"
    structured: bool = False

    def input_columns(self) -> set[str]:
        return {"text"}

    def output_columns(self) -> set[str]:
        return {"answer"}

    async def amap(self, record, ctx):
        client = ctx.llm(self.llm)
        req = LLMRequest.chat(record["text"], system="Answer briefly.", temperature=0.0, max_tokens=32)
        if self.structured:
            obj, resp = await client.generate_structured(req, Answer, record_id=record["id"])
            answer = obj.answer
        else:
            resp = await client.generate(req, record_id=record["id"])
            answer = resp.text
        out = dict(record)
        out["answer"] = answer
        lin = dict(out.get("lineage") or {})
        lin["model"] = client.model_identity
        lin["prompt_hash"] = resp.request_hash
        out["lineage"] = lin
        return out
