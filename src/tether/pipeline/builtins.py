"""Small built-in steps for shaping records: ``select`` and ``limit``."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pydantic import Field

from tether.core.registry import register
from tether.core.step import GlobalStep, MapStep, Outcome, Verdict
from tether.records import ID, LINEAGE, Record

if TYPE_CHECKING:
    from tether.core.context import StepContext


@register
class Select(MapStep):
    """Keep, drop or rename payload columns (``id`` and ``lineage`` always stay)."""

    type: ClassVar[str] = "select"
    description: ClassVar[str] = "Keep, drop or rename payload columns."

    keep: list[str] | None = None
    """Keep only these payload columns."""
    drop: list[str] = Field(default_factory=list)
    """Drop these columns."""
    rename: dict[str, str] = Field(default_factory=dict)
    """Old name -> new name, applied after keep/drop."""

    def input_columns(self) -> set[str]:
        return set(self.keep or []) | set(self.rename)

    def output_columns(self) -> set[str]:
        if self.keep is None:
            return {new for old, new in self.rename.items() if old not in self.drop}
        return {self.rename.get(k, k) for k in self.keep if k not in self.drop}

    def removed_columns(self) -> set[str]:
        # with keep, every column not kept goes: the records hold only output_columns()
        if self.keep is not None:
            return {"*"}
        return set(self.drop) | set(self.rename)

    def map(self, record: Record, ctx: StepContext) -> Record:
        out = {k: v for k, v in record.items() if k not in self.drop}
        if self.keep is not None:
            out = {k: v for k, v in out.items() if k in self.keep or k in (ID, LINEAGE)}
        return {self.rename.get(k, k): v for k, v in out.items()}


@register
class Limit(GlobalStep):
    """Keep the first ``n`` records (or a seeded random ``n``); the rest are rejected."""

    type: ClassVar[str] = "limit"
    description: ClassVar[str] = "Keep n records (first n, or a seeded random sample); reject the rest."

    n: int = Field(ge=0)
    """How many records to keep."""
    random: bool = False
    """Sample at random (seeded by the run seed) instead of taking the first n."""

    def process(self, records: list[Record], ctx: StepContext) -> Outcome:
        order = list(range(len(records)))
        if self.random:
            ctx.rng().shuffle(order)
        chosen = set(order[: self.n])
        out = Outcome()
        for i, rec in enumerate(records):
            if i in chosen:
                out.kept.append(rec)
            else:
                out.rejected.append((rec, Verdict(False, "over_limit")))
        return out
