"""Test-only steps, loaded through a pipeline's ``plugins:`` list."""

from __future__ import annotations

import os
import time
from typing import ClassVar

from tether.errors import RecordError
from tether.pipeline import FilterStep, MapStep, Verdict, register
from tether.records import child


@register
class SlowUpper(MapStep):
    """Upper-cases text slowly, making one child record per input."""

    type: ClassVar[str] = "test_slow_upper"
    description: ClassVar[str] = "test step"
    delay: float = 0.0

    def input_columns(self) -> set[str]:
        return {"text"}

    def output_columns(self) -> set[str]:
        return {"upper"}

    def map(self, record, ctx):
        if self.delay:
            time.sleep(self.delay)
        marker = os.environ.get("TETHER_TEST_CALL_LOG")
        if marker:
            with open(marker, "a", encoding="utf-8") as fh:
                fh.write(record["id"] + "\n")
        return child(record, {"text": record["text"], "n": record.get("n"), "upper": record["text"].upper()}, step=self.instance_name,
                     recipe="test", run_id=ctx.run_id)


@register
class EvenOnly(FilterStep):
    """Keeps records whose ``n`` is even."""

    type: ClassVar[str] = "test_even_only"
    description: ClassVar[str] = "test step"

    def input_columns(self) -> set[str]:
        return {"n"}

    def keep(self, record, ctx):
        n = int(record["n"])
        return Verdict(n % 2 == 0, "odd", float(n))


@register
class Flaky(MapStep):
    """Fails on records whose ``n`` is a multiple of ``every``."""

    type: ClassVar[str] = "test_flaky"
    description: ClassVar[str] = "test step"
    every: int = 3

    def map(self, record, ctx):
        if int(record["n"]) % self.every == 0:
            raise RecordError("cannot handle this record", field="n")
        return record
