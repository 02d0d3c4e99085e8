"""Test-only steps for the CLI tests, loaded through a pipeline's ``plugins:`` list (the tests
put this folder on PYTHONPATH)."""

from __future__ import annotations

from typing import ClassVar

from tether.llm.types import LLMRequest
from tether.pipeline import MapStep, register


@register
class CliAsk(MapStep):
    """Ask the model about ``text``; write ``answer``."""

    type: ClassVar[str] = "cli_ask"
    description: ClassVar[str] = "test-only: ask the LLM about each text"

    def input_columns(self) -> set[str]:
        return {"text"}

    def output_columns(self) -> set[str]:
        return {"answer"}

    async def amap(self, record, ctx):
        resp = await ctx.llm("default").generate(
            LLMRequest.chat(record["text"], temperature=0.0, max_tokens=16), record_id=record["id"])
        return {**record, "answer": resp.text}


@register
class CliBug(MapStep):
    """A step with a bug: it raises a plain RuntimeError."""

    type: ClassVar[str] = "cli_bug"
    description: ClassVar[str] = "test-only: fails with a programming error"

    def map(self, record, ctx):
        raise RuntimeError("planted bug in cli_bug")
