"""Small built-in steps for shaping records: ``select``, ``limit`` and ``join``."""

from __future__ import annotations

import json
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


@register
class Join(GlobalStep):
    """Gather the records that share a key (the answers of several models to one prompt, read
    with ``from: [answers_a, answers_b]``) into one record per key: the key columns, and a
    list of each member's ``collect`` columns with its model and id. Every member is a parent
    of the joined record (its lineage); a record without the key, or a group smaller than
    ``min_members``, is rejected with its reason."""

    type: ClassVar[str] = "join"
    description: ClassVar[str] = "One record per key: each member's columns (and model) gathered into a list."

    key: list[str] = Field(min_length=1)
    """The key columns (``key: [instruction]``). Not named ``on``: YAML reads a bare ``on`` as true."""
    collect: list[str] = Field(min_length=1)
    """The columns each member contributes (``collect: [response]``)."""
    into: str = "candidates"
    """The column that holds the list: ``[{response: ..., model: ..., id: ...}, ...]``, in input order."""
    min_members: int = Field(1, ge=1)
    """Groups with fewer members are rejected (``too_few_members``), e.g. 2 for preference pairs."""

    def input_columns(self) -> set[str]:
        return set(self.key) | set(self.collect)

    def output_columns(self) -> set[str]:
        return set(self.key) | {self.into}

    def removed_columns(self) -> set[str]:
        return {"*"}

    def process(self, records: list[Record], ctx: StepContext) -> Outcome:
        from tether.records import child

        out = Outcome()
        groups: dict[str, list[Record]] = {}
        for rec in records:
            key = [rec.get(k) for k in self.key]
            if any(v is None for v in key):
                out.rejected.append((rec, Verdict(False, "missing_join_key", None)))
                continue
            groups.setdefault(json.dumps(key, sort_keys=True, default=str), []).append(rec)
        for members in groups.values():
            if len(members) < self.min_members:
                out.rejected.extend((m, Verdict(False, "too_few_members", float(len(members)))) for m in members)
                continue
            first = members[0]
            gathered = [{**{c: m.get(c) for c in self.collect}, "model": (m.get(LINEAGE) or {}).get("model"),
                         "id": m[ID]} for m in members]
            data = {**{k: first.get(k) for k in self.key}, self.into: gathered}
            out.kept.append(child(members, data, step=self.instance_name, recipe="join"))
        ctx.stats["groups"] = len(out.kept)
        return out
