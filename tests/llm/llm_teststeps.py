"""Test-only steps that call the LLM (the real recipes live in tether.generate).

Imported by the tests directly, and by pipelines through ``plugins: [llm_teststeps]`` (the
tests put this folder on PYTHONPATH for subprocesses).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

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


# ---- helpers shared by the pipeline tests


def write_seeds(tmp: Path, n: int, poison: set[int] = frozenset()) -> Path:
    path = tmp / "seeds.jsonl"
    with path.open("w") as fh:
        for i in range(n):
            text = f"question number {i}" + (" poison" if i in poison else "")
            fh.write(json.dumps({"text": text, "unused": i}) + "\n")
    return path


def answer_for(req: dict[str, Any]) -> str:
    q = req["messages"][-1]["content"]
    return f"answer to [{q}]"


def pipeline_config(tmp: Path, llm: dict[str, Any], *, drop: list[str] | None = None,
                    structured: bool = False, batch_size: int = 8) -> dict[str, Any]:
    return {
        "name": "llmtest",
        "batch_size": batch_size,
        "plugins": ["llm_teststeps"],
        "llm": {"default": llm},
        "steps": [
            {"read": {"path": str(tmp / "seeds.jsonl"), "require": ["text"]}},
            {"select": {"drop": drop or []}},
            {"llm_ask_test": {"on_error": "quarantine", "structured": structured}},
        ],
    }
