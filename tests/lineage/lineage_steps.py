"""Test-only steps for the lineage tests, loaded through ``plugins: [lineage_steps]``."""

from __future__ import annotations

from typing import ClassVar

from tether.pipeline import FilterStep, MapStep, Verdict, register
from tether.records import child, digest


@register
class Expand(MapStep):
    """Makes ``per_record`` instruction/response children per document, like a QA recipe."""

    type: ClassVar[str] = "lt_expand"
    description: ClassVar[str] = "test step"
    per_record: int = 2
    temperature: float = 0.7
    template: str = "Ask question {i} about: {text}"

    def input_columns(self) -> set[str]:
        return {"text"}

    def output_columns(self) -> set[str]:
        return {"instruction", "response"}

    def map(self, record, ctx):
        out = []
        first = record["text"].splitlines()[-1]
        for i in range(self.per_record):
            prompt = self.template.format(i=i, text=record["text"])
            response = first if i == 0 else first.split()[0]
            out.append(child(record, {"instruction": f"Question {i} on {record['title']}?", "response": response},
                             step=self.instance_name, recipe="lt_qa", model="test/echo",
                             template_hash=digest(self.template), prompt_hash=digest(prompt),
                             params_hash=digest({"temperature": self.temperature}), run_id=ctx.run_id))
        return out


@register
class MinLen(FilterStep):
    """Rejects responses shorter than ``min_chars``."""

    type: ClassVar[str] = "lt_min_len"
    description: ClassVar[str] = "test step"
    min_chars: int = 40

    def input_columns(self) -> set[str]:
        return {"response"}

    def keep(self, record, ctx):
        n = len(record["response"])
        return Verdict(n >= self.min_chars, "too_short", float(n), {"chars": n})


@register
class Noisy(MapStep):
    """Adds an unseeded random number: a step that does not reproduce (a planted defect)."""

    type: ClassVar[str] = "lt_noisy"
    description: ClassVar[str] = "test step"

    def map(self, record, ctx):
        import random

        return {**record, "noise": random.random()}
