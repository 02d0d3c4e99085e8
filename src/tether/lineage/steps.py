"""The ``mix`` step: hybrid real + synthetic mixing. (Phased ordering in a pipeline is the
``phase_order`` step of ``tether.generate.taxonomy``; it and ``tether mix --phases`` both call
:func:`tether.lineage.mix.phase_order`.)"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from tether.core.registry import register
from tether.core.step import GlobalStep, Outcome, Verdict
from tether.io._private import file_sha256
from tether.lineage.mix import (
    NOT_SELECTED,
    mix_records,
    origin_of,
    read_dataset,
)
from tether.records import ORIGIN_REAL, ORIGIN_SYNTHETIC, Record

if TYPE_CHECKING:
    from tether.core.context import StepContext

log = logging.getLogger(__name__)


@register
class Mix(GlobalStep):
    """Mix the pipeline's records with a second dataset so a set share is synthetic.

    Records are sorted by their ``lineage.origin``; the second dataset's records count as
    ``other_origin`` unless they carry tether lineage. Records left out are rejected with
    reason ``not_selected_for_mix`` (the second dataset's too, so everything read is
    accounted for: in + other_read = out + rejected).
    """

    type: ClassVar[str] = "mix"
    description: ClassVar[str] = "Mix with a second dataset at a synthetic share (ratio), optionally stratified."

    path: str
    """The second dataset: a run directory, a tether dataset file, or any readable file."""
    other_origin: Literal["real", "synthetic"] = "real"
    """The origin of the second dataset's records (when they carry no lineage)."""
    ratio: float = Field(ge=0.0, le=1.0)
    """The share of synthetic records in the result (0.3 = 30% synthetic)."""
    stratify_by: str | None = None
    """A field: every value of it gets the same synthetic share."""
    size: int | None = Field(None, ge=0)
    """Records in the result (default: as many as the scarcer side allows)."""
    rename: dict[str, str] = Field(default_factory=dict)
    """Column renames for the second dataset (its name -> the pipeline's)."""

    def fingerprint_extra(self, ctx: StepContext) -> Any:
        p = ctx.resolve(self.path)
        if p.is_file():
            return {"other": file_sha256(p)}
        if p.is_dir():
            return {"other": {str(f.relative_to(p)): file_sha256(f) for f in sorted(p.rglob("*.parquet")) if f.is_file()}
                    | {str(f.relative_to(p)): file_sha256(f) for f in sorted(p.rglob("*.json*")) if f.is_file()
                       and f.name != "manifest.json"}}
        return {"other": None}

    def process(self, records: list[Record], ctx: StepContext) -> Outcome:
        other = read_dataset(ctx.resolve(self.path), origin=self.other_origin, rename=self.rename,
                             step=self.instance_name, base_dir=ctx.base_dir)
        real: list[Record] = []
        syn: list[Record] = []
        for rec in records + other:
            (real if origin_of(rec, ORIGIN_SYNTHETIC) == ORIGIN_REAL else syn).append(rec)
        res = mix_records(real, syn, ratio=self.ratio, rng=ctx.rng("mix"), stratify_by=self.stratify_by,
                          size=self.size)
        ctx.stats["mix"] = {**res.report, "other_read": len(other)}
        return Outcome(kept=res.selected, rejected=[(r, Verdict(False, NOT_SELECTED)) for r in res.unselected])


__all__ = ["Mix"]
